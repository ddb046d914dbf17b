/*
 * sys/signal2.h (host shadow): CURSIG(lp) and CURSIG_NOBLOCK(lp): the
 * lowest-numbered pending, unblocked signal of the lwp's process, or 0
 * (kern/kern_sig.c __cursig without the trace and stop handling).
 */
#ifndef _HK_SYS_SIGNAL2_H_
#define _HK_SYS_SIGNAL2_H_
#include <sys/proc.h>
int hk_cursig(struct lwp *lp);
#define CURSIG(lp)		hk_cursig(lp)
#define CURSIG_NOBLOCK(lp)	hk_cursig(lp)
#define CURSIG_TRACE(lp)	hk_cursig(lp)
#endif
