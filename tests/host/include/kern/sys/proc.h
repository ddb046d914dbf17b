/*
 * sys/proc.h (host shadow): struct proc and struct lwp with the DragonFly
 * fields kernel modules read.  The host kernel keeps its own bookkeeping
 * behind p_hk (tests/host/kern).
 */
#ifndef _HK_SYS_PROC_H_
#define _HK_SYS_PROC_H_
#include <sys/param.h>
#include <sys/ucred.h>
#include <sys/thread.h>
#include <sys/globaldata.h>
#include <bits/types/sigset_t.h>

struct proc;
struct lwp {
	struct proc	*lwp_proc;
	struct thread	*lwp_thread;
	lwpid_t		lwp_tid;
	sigset_t	lwp_sigmask;
	struct vmspace	*lwp_vmspace;	/* its process's (vm/vm_map.h) */
	int		lwp_mpflags;	/* LWP_MP_* (atomic) */
};
#define LWP_MP_WEXIT	0x0000002	/* the lwp is being asked to exit */
struct proc {
	pid_t		p_pid;
	struct ucred	*p_ucred;
	struct proc	*p_pptr;
	char		p_comm[MAXCOMLEN + 1];
	int		p_flags;
	void		*p_hk;		/* host kernel private */
	struct vmspace	*p_vmspace;	/* vm/vm_map.h */
	struct usched	*p_usched;	/* sys/usched.h */
};
#define P_POSTEXIT	0x00040	/* exit1: from just before the at_exit walk */
#define P_WEXIT		0x02000

/* kern_proc.c: callback(p, data) for every process not yet a zombie, with p
 * held; a negative return stops the scan. */
void allproc_scan(int (*callback)(struct proc *, void *), void *data,
    int segmented);

struct proc *pfind(pid_t pid);		/* held: PRELE when done */
void PHOLD(struct proc *p);
void PRELE(struct proc *p);

/* at_fork flags as kern_fork.c passes them */
#ifndef RFPROC
#define RFFDG		(1<<2)
#define RFPROC		(1<<4)
#endif
#endif
