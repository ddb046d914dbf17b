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
	/* userenter() sets lwkt_passive_release: a block releases the
	 * usched designation (kern/lwkt_thread.c). */
	void		(*td_release)(struct thread *);
	int		td_pri;		/* TDPRI_* */
};
#define TDPRI_USER_NORM		6
#define TDPRI_KERN_USER		10
void	lwkt_user_yield(void);
void	lwkt_passive_release(struct thread *);
void	lwkt_setpri_self(int pri);

/*
 * LWKT tokens (kern/lwkt_token.c): a thread may hold a token recursively
 * and across a sleep -- DragonFly releases every token a thread holds when
 * it blocks and takes them back before it runs again; the host does the
 * same in tsleep/ssleep/lksleep and blocking lockmgr.  Shared requests are
 * modelled as exclusive (stricter).  Taking a token with a spinlock held is
 * a lock violation; releasing one not held too.
 */
struct lwkt_tokref;
struct lwkt_token {
	long		t_count;	/* host: recursion count of the holder */
	struct lwkt_tokref *t_ref;	/* host: holder's identity */
	long		t_collisions;
	const char	*t_desc;
};
typedef struct lwkt_token *lwkt_token_t;
#define LWKT_TOKEN_INITIALIZER(name)	\
{					\
	.t_count = 0,			\
	.t_ref = NULL,			\
	.t_collisions = 0,		\
	.t_desc = #name			\
}
void	lwkt_gettoken(lwkt_token_t);
void	lwkt_gettoken_shared(lwkt_token_t);
int	lwkt_trytoken(lwkt_token_t);
void	lwkt_reltoken(lwkt_token_t);
int	lwkt_cnttoken(lwkt_token_t, struct thread *);
void	lwkt_token_init(lwkt_token_t, const char *);
void	lwkt_token_uninit(lwkt_token_t);
#endif
