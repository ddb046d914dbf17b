/* machine/cpufunc.h (host shadow): cpu_mfence and friends, which the host
 * defines with the atomics (machine/atomic.h). */
#ifndef _HK_MACHINE_CPUFUNC_H_
#define _HK_MACHINE_CPUFUNC_H_
#include <machine/atomic.h>
#endif
