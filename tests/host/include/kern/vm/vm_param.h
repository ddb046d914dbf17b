/* vm/vm_param.h (host shadow): types only. */
#include <vm/vm.h>
