/* vm/vm_object.h (host shadow): types only. */
#include <vm/vm.h>
