/* vm/pmap.h (host shadow): types only. */
#include <vm/vm.h>
