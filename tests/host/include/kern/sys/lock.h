/*
 * sys/lock.h (host shadow): lockmgr locks (kern/kern_lock.c semantics:
 * shared/exclusive, LK_NOWAIT -> EBUSY, LK_UPGRADE may drop the shared lock
 * before taking it exclusively, LK_CANRECURSE, owner checks).
 */
#ifndef _HK_SYS_LOCK_H_
#define _HK_SYS_LOCK_H_
#include <sys/types.h>
#include <pthread.h>
struct thread;
struct lock {
	pthread_mutex_t	hk_mtx;
	pthread_cond_t	hk_cv;
	int		lk_flags;
	int		lk_timo;
	const char	*lk_wmesg;
	int		hk_excl;	/* exclusive recursion count */
	int		hk_shared;	/* shared holders */
	void		*hk_owner;	/* struct globaldata * of the exclusive owner */
	int		hk_inited;
};
#define LK_TYPE_MASK	0x0000000f
#define LK_SHARED	0x00000001
#define LK_EXCLUSIVE	0x00000002
#define LK_UPGRADE	0x00000003
#define LK_EXCLUPGRADE	0x00000004
#define LK_DOWNGRADE	0x00000005
#define LK_RELEASE	0x00000006
#define LK_EXCLOTHER	0x00000008
#define LK_EXTFLG_MASK	0x070000F0
#define LK_NOWAIT	0x00000010
#define LK_SLEEPFAIL	0x00000020
#define LK_CANRECURSE	0x00000040
#define LK_NOCOLLSTATS	0x00000080
#define LK_TIMELOCK	0x02000000
#define LK_PCATCH	0x04000000
#define LK_FAILRECLAIM	0x00010000
#define LK_RETRY	0x00020000

#define LOCK_INITIALIZER(wmesg, timo, flags) \
	{ PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, (flags), (timo), (wmesg), 0, 0, 0, 1 }

void	lockinit(struct lock *, const char *wmesg, int timo, int flags);
void	lockuninit(struct lock *);
int	lockmgr(struct lock *, u_int flags);
int	lockstatus(struct lock *, struct thread *);
int	lockowned(struct lock *);
int	lockinuse(struct lock *);
#endif
