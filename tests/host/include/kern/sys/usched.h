/*
 * sys/usched.h (host shadow): the user scheduler's designation calls
 * (DragonFly sys/sys/usched.h; kern/usched_dfly.c acquire_curproc and
 * release_curproc).  Modelled in tests/host/kern/vm_model.c: every process
 * uses hk_usched.
 */
#ifndef _HK_SYS_USCHED_H_
#define _HK_SYS_USCHED_H_
struct lwp;
struct usched {
	const char	*name;
	void		(*acquire_curproc)(struct lwp *);
	void		(*release_curproc)(struct lwp *);
};
extern struct usched hk_usched;
#endif
