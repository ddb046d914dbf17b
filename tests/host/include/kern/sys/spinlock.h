/*
 * sys/spinlock.h (host shadow): struct spinlock.  On the host a spinlock is
 * a real lock (pthread rwlock, so TSan sees it) plus owner tracking for the
 * lock checker: recursion, unlock by a non-owner, destroy while held, and
 * sleeping or kmalloc(M_WAITOK) while any spinlock is held are violations.
 */
#ifndef _HK_SYS_SPINLOCK_H_
#define _HK_SYS_SPINLOCK_H_
#include <pthread.h>
struct spinlock {
	pthread_rwlock_t hk_rw;
	void		*hk_owner;	/* struct globaldata * of the exclusive holder */
	int		hk_shared;	/* shared holders */
	int		hk_recurse;	/* tolerated recursion (non-fatal mode) */
	const char	*hk_descr;
};
#define SPINLOCK_INITIALIZER(head, d)	\
	{ PTHREAD_RWLOCK_INITIALIZER, NULL, 0, 0, d }
#endif
