/*
 * sys/thread.h (host shadow): struct thread.  One per host-kernel thread;
 * curthread is the one bound to the calling OS thread (hk_thread_enter), or
 * the OS thread's kernel thread (td_proc = proc0's for syscall-less callers,
 * NULL for the devfs thread).
 */
#ifndef _HK_SYS_THREAD_H_
#define _HK_SYS_THREAD_H_
#include <sys/types.h>
#include <sys/globaldata.h>
struct proc;
struct lwp;
struct ucred;
struct thread {
	struct proc	*td_proc;
	struct lwp	*td_lwp;
	struct ucred	*td_ucred;
	struct globaldata *td_gd;
	int		td_flags;
	int		td_critcount;
	char		td_comm[16 + 1];
	void		*td_hk;		/* host kernel private */
};
#endif
