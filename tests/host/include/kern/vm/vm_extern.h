/* vm/vm_extern.h (host shadow): types only. */
#include <vm/vm.h>
