/*
 * kern_lock.c - spinlocks (sys/spinlock2.h), lockmgr locks
 * (kern/kern_lock.c) and tsleep/wakeup (kern/kern_synch.c), each on a real
 * pthread primitive so TSan sees the ordering, plus owner tracking that
 * makes misuse a lock violation (hk_violation):
 *   spinlocks: recursion, unlock by a non-owner, spin_uninit while held,
 *              sleeping (tsleep, blocking lockmgr, kmalloc M_WAITOK)
 *              while any spinlock is held;
 *   lockmgr:   exclusive recursion without LK_CANRECURSE, release by a
 *              thread that does not hold it, lockuninit while held;
 *   tokens:    (kern/lwkt_token.c) recursive per thread, released while
 *              their holder blocks and retaken after; release by a
 *              non-holder is a violation.
 * The "owner" is the OS thread's globaldata (a host "cpu").
 *
 * Locking: each lock's own state is guarded by its pthread primitive
 * (lockmgr: hk_mtx); sleep_mtx guards the sleep queue; tok_mtx every
 * token's holder and count (tokens are never taken with hk_mtx held).
 */
#include "hk_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* Spinlocks                                                                */

static void
spin_push(struct spinlock *spin, const char *ident)
{
	struct hk_tls *t = hk_tls();

	if (t->nspin == HK_MAXSPIN)
		HK_ABORT("more than %d spinlocks held at once", HK_MAXSPIN);
	t->spin[t->nspin].spin = spin;
	t->spin[t->nspin].ident = ident;
	t->nspin++;
	t->gd.gd_spinlocks = t->nspin;
}

static int
spin_pop(struct spinlock *spin)
{
	struct hk_tls *t = hk_tls();
	int i;

	for (i = t->nspin - 1; i >= 0; i--) {
		if (t->spin[i].spin == spin) {
			memmove(&t->spin[i], &t->spin[i + 1],
			    (t->nspin - i - 1) * sizeof(t->spin[0]));
			t->nspin--;
			t->gd.gd_spinlocks = t->nspin;
			return (1);
		}
	}
	return (0);
}

static int
spin_held_by_me(struct spinlock *spin)
{
	struct hk_tls *t = hk_tls();
	int i;

	for (i = 0; i < t->nspin; i++)
		if (t->spin[i].spin == spin)
			return (1);
	return (0);
}

void
spin_init(struct spinlock *spin, const char *descr)
{
	memset(spin, 0, sizeof(*spin));
	pthread_rwlock_init(&spin->hk_rw, NULL);
	spin->hk_descr = descr;
}

void
spin_uninit(struct spinlock *spin)
{
	if (__atomic_load_n(&spin->hk_owner, __ATOMIC_SEQ_CST) != NULL ||
	    __atomic_load_n(&spin->hk_shared, __ATOMIC_SEQ_CST) != 0) {
		hk_violation("spin_uninit of spinlock \"%s\" while it is held",
		    spin->hk_descr ? spin->hk_descr : "?");
		return;
	}
	pthread_rwlock_destroy(&spin->hk_rw);
}

void
_hk_spin_lock(struct spinlock *spin, const char *ident)
{
	void *gd = HK_ME();

	if (__atomic_load_n(&spin->hk_owner, __ATOMIC_SEQ_CST) == gd ||
	    spin_held_by_me(spin)) {
		hk_violation("spin_lock recursion on spinlock \"%s\" in %s",
		    spin->hk_descr ? spin->hk_descr : "?", ident);
		spin->hk_recurse++;
		return;
	}
	pthread_rwlock_wrlock(&spin->hk_rw);
	__atomic_store_n(&spin->hk_owner, gd, __ATOMIC_SEQ_CST);
	spin_push(spin, ident);
}

boolean_t
spin_trylock(struct spinlock *spin)
{
	void *gd = HK_ME();

	if (__atomic_load_n(&spin->hk_owner, __ATOMIC_SEQ_CST) == gd ||
	    spin_held_by_me(spin)) {
		hk_violation("spin_trylock recursion on spinlock \"%s\"",
		    spin->hk_descr ? spin->hk_descr : "?");
		return (0);
	}
	if (pthread_rwlock_trywrlock(&spin->hk_rw) != 0)
		return (0);
	__atomic_store_n(&spin->hk_owner, gd, __ATOMIC_SEQ_CST);
	spin_push(spin, "spin_trylock");
	return (1);
}

void
spin_unlock(struct spinlock *spin)
{
	void *gd = HK_ME();

	if (__atomic_load_n(&spin->hk_owner, __ATOMIC_SEQ_CST) != gd) {
		hk_violation("spin_unlock of spinlock \"%s\" not held by this "
		    "thread", spin->hk_descr ? spin->hk_descr : "?");
		return;
	}
	if (spin->hk_recurse > 0) {
		spin->hk_recurse--;
		return;
	}
	spin_pop(spin);
	__atomic_store_n(&spin->hk_owner, NULL, __ATOMIC_SEQ_CST);
	pthread_rwlock_unlock(&spin->hk_rw);
}

void
_hk_spin_lock_shared(struct spinlock *spin, const char *ident)
{
	void *gd = HK_ME();

	if (__atomic_load_n(&spin->hk_owner, __ATOMIC_SEQ_CST) == gd ||
	    spin_held_by_me(spin)) {
		hk_violation("spin_lock_shared recursion on spinlock \"%s\" "
		    "in %s", spin->hk_descr ? spin->hk_descr : "?", ident);
		spin->hk_recurse++;
		return;
	}
	pthread_rwlock_rdlock(&spin->hk_rw);
	__atomic_fetch_add(&spin->hk_shared, 1, __ATOMIC_SEQ_CST);
	spin_push(spin, ident);
}

void
spin_unlock_shared(struct spinlock *spin)
{
	if (!spin_held_by_me(spin) ||
	    __atomic_load_n(&spin->hk_owner, __ATOMIC_SEQ_CST) != NULL) {
		if (spin->hk_recurse > 0 && spin_held_by_me(spin)) {
			spin->hk_recurse--;
			return;
		}
		hk_violation("spin_unlock_shared of spinlock \"%s\" not held "
		    "shared by this thread",
		    spin->hk_descr ? spin->hk_descr : "?");
		return;
	}
	spin_pop(spin);
	__atomic_fetch_sub(&spin->hk_shared, 1, __ATOMIC_SEQ_CST);
	pthread_rwlock_unlock(&spin->hk_rw);
}

int
spin_held(struct spinlock *spin)
{
	return (spin_held_by_me(spin));
}

/* ------------------------------------------------------------------------ */
/* lockmgr                                                                  */

void
lockinit(struct lock *lkp, const char *wmesg, int timo, int flags)
{
	memset(lkp, 0, sizeof(*lkp));
	pthread_mutex_init(&lkp->hk_mtx, NULL);
	pthread_cond_init(&lkp->hk_cv, NULL);
	lkp->lk_wmesg = wmesg;
	lkp->lk_timo = timo;
	lkp->lk_flags = flags & LK_EXTFLG_MASK;
	lkp->hk_inited = 1;
}

void
lockuninit(struct lock *lkp)
{
	pthread_mutex_lock(&lkp->hk_mtx);
	if (lkp->hk_excl != 0 || lkp->hk_shared != 0) {
		pthread_mutex_unlock(&lkp->hk_mtx);
		hk_violation("lockuninit of lock \"%s\" while it is held",
		    lkp->lk_wmesg ? lkp->lk_wmesg : "?");
		return;
	}
	lkp->hk_inited = 0;
	pthread_mutex_unlock(&lkp->hk_mtx);
	pthread_cond_destroy(&lkp->hk_cv);
	pthread_mutex_destroy(&lkp->hk_mtx);
}

/*
 * Wait on the lock's condvar; caller holds hk_mtx.  A thread that blocks
 * gives up its tokens meanwhile (taken back without hk_mtx held).
 */
static void
lk_wait(struct lock *lkp)
{
	if (hk_tls()->ntok == 0) {
		pthread_cond_wait(&lkp->hk_cv, &lkp->hk_mtx);
		return;
	}
	pthread_mutex_unlock(&lkp->hk_mtx);
	hk_tokens_release_all();
	pthread_mutex_lock(&lkp->hk_mtx);
	pthread_cond_wait(&lkp->hk_cv, &lkp->hk_mtx);
	pthread_mutex_unlock(&lkp->hk_mtx);
	hk_tokens_reacquire_all();
	pthread_mutex_lock(&lkp->hk_mtx);
}

int
lockmgr(struct lock *lkp, u_int flags)
{
	void *gd = HK_ME();
	int error = 0;
	int op = flags & LK_TYPE_MASK;
	int nowait = (flags & LK_NOWAIT) != 0;

	if (!lkp->hk_inited)
		panic("lockmgr: lock %p used before lockinit", lkp);
	/* A request that may sleep, with a spinlock held, is a violation
	 * whether or not it would block this time. */
	if (!nowait && op != LK_RELEASE && op != LK_DOWNGRADE)
		hk_assert_sleepable("lockmgr (may sleep)");
	pthread_mutex_lock(&lkp->hk_mtx);
	switch (op) {
	case LK_SHARED:
		if (lkp->hk_owner == gd) {
			/* Shared request by the exclusive holder: kern_lock.c
			 * grants it as a recursive exclusive hold. */
			lkp->hk_excl++;
			break;
		}
		while (lkp->hk_excl != 0) {
			if (nowait) {
				error = EBUSY;
				goto out;
			}
			lk_wait(lkp);
		}
		lkp->hk_shared++;
		break;
	case LK_EXCLUSIVE:
		if (lkp->hk_owner == gd) {
			if ((flags | lkp->lk_flags) & LK_CANRECURSE) {
				lkp->hk_excl++;
				break;
			}
			pthread_mutex_unlock(&lkp->hk_mtx);
			hk_violation("lockmgr: locking against myself: lock "
			    "\"%s\" taken exclusively twice without "
			    "LK_CANRECURSE", lkp->lk_wmesg ? lkp->lk_wmesg : "?");
			return (EDEADLK);
		}
		while (lkp->hk_excl != 0 || lkp->hk_shared != 0) {
			if (nowait) {
				error = EBUSY;
				goto out;
			}
			lk_wait(lkp);
		}
		lkp->hk_excl = 1;
		lkp->hk_owner = gd;
		break;
	case LK_UPGRADE:
	case LK_EXCLUPGRADE:
		if (lkp->hk_owner == gd)
			break;		/* already exclusive */
		if (lkp->hk_shared == 0) {
			pthread_mutex_unlock(&lkp->hk_mtx);
			hk_violation("lockmgr: LK_UPGRADE of lock \"%s\" not "
			    "held shared", lkp->lk_wmesg ? lkp->lk_wmesg : "?");
			return (EINVAL);
		}
		/*
		 * kern_lock.c may have to drop the shared lock to upgrade
		 * (another upgrader or exclusive waiter): model the drop
		 * always -- release, then acquire exclusively -- so callers
		 * must not assume the state they saw under the shared lock.
		 */
		lkp->hk_shared--;
		pthread_cond_broadcast(&lkp->hk_cv);
		while (lkp->hk_excl != 0 || lkp->hk_shared != 0) {
			if (nowait) {
				error = EBUSY;
				goto out;
			}
			lk_wait(lkp);
		}
		lkp->hk_excl = 1;
		lkp->hk_owner = gd;
		break;
	case LK_DOWNGRADE:
		if (lkp->hk_owner != gd) {
			pthread_mutex_unlock(&lkp->hk_mtx);
			hk_violation("lockmgr: LK_DOWNGRADE of lock \"%s\" not "
			    "held exclusively by this thread",
			    lkp->lk_wmesg ? lkp->lk_wmesg : "?");
			return (EINVAL);
		}
		lkp->hk_shared += lkp->hk_excl;
		lkp->hk_excl = 0;
		lkp->hk_owner = NULL;
		pthread_cond_broadcast(&lkp->hk_cv);
		break;
	case LK_RELEASE:
		if (lkp->hk_excl != 0) {
			if (lkp->hk_owner != gd) {
				pthread_mutex_unlock(&lkp->hk_mtx);
				hk_violation("lockmgr: release of lock \"%s\" "
				    "held exclusively by another thread",
				    lkp->lk_wmesg ? lkp->lk_wmesg : "?");
				return (EPERM);
			}
			if (--lkp->hk_excl == 0)
				lkp->hk_owner = NULL;
		} else if (lkp->hk_shared != 0) {
			lkp->hk_shared--;
		} else {
			pthread_mutex_unlock(&lkp->hk_mtx);
			hk_violation("lockmgr: release of unlocked lock \"%s\"",
			    lkp->lk_wmesg ? lkp->lk_wmesg : "?");
			return (EPERM);
		}
		pthread_cond_broadcast(&lkp->hk_cv);
		break;
	default:
		pthread_mutex_unlock(&lkp->hk_mtx);
		panic("lockmgr: unknown locktype request %d", op);
	}
out:
	pthread_mutex_unlock(&lkp->hk_mtx);
	return (error);
}

int
lockstatus(struct lock *lkp, struct thread *td)
{
	int st = 0;
	void *gd = HK_ME();

	pthread_mutex_lock(&lkp->hk_mtx);
	if (lkp->hk_excl != 0)
		st = ((td == curthread && lkp->hk_owner == gd) || td == NULL) ?
		    LK_EXCLUSIVE : LK_EXCLOTHER;
	else if (lkp->hk_shared != 0)
		st = LK_SHARED;
	pthread_mutex_unlock(&lkp->hk_mtx);
	return (st);
}

int
lockowned(struct lock *lkp)
{
	int owned;

	pthread_mutex_lock(&lkp->hk_mtx);
	owned = (lkp->hk_excl != 0 && lkp->hk_owner == HK_ME()) ||
	    lkp->hk_shared != 0;
	pthread_mutex_unlock(&lkp->hk_mtx);
	return (owned);
}

int
lockinuse(struct lock *lkp)
{
	int inuse;

	pthread_mutex_lock(&lkp->hk_mtx);
	inuse = lkp->hk_excl != 0 || lkp->hk_shared != 0;
	pthread_mutex_unlock(&lkp->hk_mtx);
	return (inuse);
}

/* ------------------------------------------------------------------------ */
/* LWKT tokens                                                              */

static pthread_mutex_t tok_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tok_cv = PTHREAD_COND_INITIALIZER;

void
lwkt_token_init(lwkt_token_t tok, const char *desc)
{
	pthread_mutex_lock(&tok_mtx);
	tok->t_count = 0;
	tok->t_ref = NULL;
	tok->t_collisions = 0;
	tok->t_desc = desc;
	pthread_mutex_unlock(&tok_mtx);
}

void
lwkt_token_uninit(lwkt_token_t tok)
{
	pthread_mutex_lock(&tok_mtx);
	if (tok->t_ref != NULL) {
		pthread_mutex_unlock(&tok_mtx);
		hk_violation("lwkt_token_uninit of token \"%s\" while held",
		    tok->t_desc ? tok->t_desc : "?");
		return;
	}
	pthread_mutex_unlock(&tok_mtx);
}

static int
tok_index(struct hk_tls *t, lwkt_token_t tok)
{
	int i;

	for (i = 0; i < t->ntok; i++)
		if (t->tok[i] == tok)
			return (i);
	return (-1);
}

/* Take tok `count` times (count > 0); tok_mtx held. */
static int
tok_take_locked(lwkt_token_t tok, long count, int wait)
{
	void *me = HK_ME();

	if (tok->t_ref == (struct lwkt_tokref *)me) {
		tok->t_count += count;
		return (1);
	}
	while (tok->t_ref != NULL) {
		if (!wait)
			return (0);
		tok->t_collisions++;
		pthread_cond_wait(&tok_cv, &tok_mtx);
	}
	tok->t_ref = (struct lwkt_tokref *)me;
	tok->t_count = count;
	return (1);
}

static int
gettoken(lwkt_token_t tok, int wait)
{
	struct hk_tls *t = hk_tls();
	int got;

	if (wait)
		hk_assert_sleepable("lwkt_gettoken");
	pthread_mutex_lock(&tok_mtx);
	got = tok_take_locked(tok, 1, wait);
	pthread_mutex_unlock(&tok_mtx);
	if (got && tok_index(t, tok) < 0) {
		if (t->ntok == HK_MAXTOK)
			HK_ABORT("more than %d tokens held at once", HK_MAXTOK);
		t->tok[t->ntok++] = tok;
	}
	return (got);
}

void
lwkt_gettoken(lwkt_token_t tok)
{
	gettoken(tok, 1);
}

void
lwkt_gettoken_shared(lwkt_token_t tok)
{
	gettoken(tok, 1);
}

int
lwkt_trytoken(lwkt_token_t tok)
{
	return (gettoken(tok, 0));
}

void
lwkt_reltoken(lwkt_token_t tok)
{
	struct hk_tls *t = hk_tls();
	int i, released;

	pthread_mutex_lock(&tok_mtx);
	if (tok->t_ref != (struct lwkt_tokref *)HK_ME()) {
		pthread_mutex_unlock(&tok_mtx);
		hk_violation("lwkt_reltoken of token \"%s\" not held by this "
		    "thread", tok->t_desc ? tok->t_desc : "?");
		return;
	}
	released = --tok->t_count == 0;
	if (released) {
		tok->t_ref = NULL;
		pthread_cond_broadcast(&tok_cv);
	}
	pthread_mutex_unlock(&tok_mtx);
	if (released && (i = tok_index(t, tok)) >= 0)
		t->tok[i] = t->tok[--t->ntok];
}

int
lwkt_cnttoken(lwkt_token_t tok, struct thread *td)
{
	long n;

	pthread_mutex_lock(&tok_mtx);
	n = tok->t_ref == (struct lwkt_tokref *)HK_ME() ? tok->t_count : 0;
	pthread_mutex_unlock(&tok_mtx);
	return ((int)n);
}

void
hk_tokens_release_all(void)
{
	struct hk_tls *t = hk_tls();
	int i;

	if (t->ntok == 0)
		return;
	pthread_mutex_lock(&tok_mtx);
	for (i = 0; i < t->ntok; i++) {
		t->tokcount[i] = t->tok[i]->t_count;
		t->tok[i]->t_count = 0;
		t->tok[i]->t_ref = NULL;
	}
	pthread_cond_broadcast(&tok_cv);
	pthread_mutex_unlock(&tok_mtx);
}

void
hk_tokens_reacquire_all(void)
{
	struct hk_tls *t = hk_tls();
	int i;

	if (t->ntok == 0)
		return;
	pthread_mutex_lock(&tok_mtx);
	for (i = 0; i < t->ntok; i++)
		tok_take_locked(t->tok[i], t->tokcount[i], 1);
	pthread_mutex_unlock(&tok_mtx);
}

/* ------------------------------------------------------------------------ */
/* tsleep / wakeup                                                          */

struct sleeper {
	const volatile void *ident;
	int		woken;
	struct sleeper	*next;
};
static pthread_mutex_t sleep_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cv = PTHREAD_COND_INITIALIZER;
static struct sleeper *sleepers;

/* Signals and exits: every sleeper re-checks its condition. */
void
hk_sleep_wakeall(void)
{
	pthread_mutex_lock(&sleep_mtx);
	pthread_cond_broadcast(&sleep_cv);
	pthread_mutex_unlock(&sleep_mtx);
}

static int
sleep_interrupted(void)
{
	struct thread *td = curthread;
	struct hk_proc *p;

	if (td->td_lwp == NULL || td->td_proc == NULL)
		return (0);
	p = hk_proc_of(td->td_proc);
	return (__atomic_load_n(&p->sigpending, __ATOMIC_SEQ_CST) != 0 ||
	    __atomic_load_n(&p->state, __ATOMIC_SEQ_CST) != HK_PS_ALIVE);
}

/*
 * The common sleep: caller holds sleep_mtx with s queued; the interlock
 * (if any) has been released.  Returns 0, EWOULDBLOCK or EINTR.
 */
static int
sleep_wait_locked(struct sleeper *s, int flags, int timo)
{
	struct timespec ts;
	struct sleeper **pp;
	int error = 0;

	if (timo > 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += timo / hz;
		ts.tv_nsec += (long)(timo % hz) * (1000000000L / hz);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
	}
	while (!s->woken) {
		if ((flags & PCATCH) && sleep_interrupted()) {
			error = EINTR;
			break;
		}
		if (timo > 0) {
			if (pthread_cond_timedwait(&sleep_cv, &sleep_mtx,
			    &ts) != 0 && !s->woken) {
				error = EWOULDBLOCK;
				break;
			}
		} else {
			pthread_cond_wait(&sleep_cv, &sleep_mtx);
		}
	}
	for (pp = &sleepers; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	return (error);
}

int
tsleep(const volatile void *ident, int flags, const char *wmesg, int timo)
{
	struct sleeper s = { ident, 0, NULL };
	int error;

	hk_assert_sleepable("tsleep");
	if ((flags & PCATCH) && sleep_interrupted())
		return (EINTR);
	pthread_mutex_lock(&sleep_mtx);
	s.next = sleepers;
	sleepers = &s;
	pthread_mutex_unlock(&sleep_mtx);
	hk_tokens_release_all();
	pthread_mutex_lock(&sleep_mtx);
	error = sleep_wait_locked(&s, flags, timo);
	pthread_mutex_unlock(&sleep_mtx);
	hk_tokens_reacquire_all();
	return (error);
}

int
ssleep(const volatile void *ident, struct spinlock *spin, int flags,
    const char *wmesg, int timo)
{
	struct sleeper s = { ident, 0, NULL };
	int error;

	/* The interlock itself may be held; any other spinlock may not. */
	pthread_mutex_lock(&sleep_mtx);
	s.next = sleepers;
	sleepers = &s;
	spin_unlock(spin);
	pthread_mutex_unlock(&sleep_mtx);
	hk_assert_sleepable("ssleep");
	hk_tokens_release_all();
	pthread_mutex_lock(&sleep_mtx);
	error = sleep_wait_locked(&s, flags, timo);
	pthread_mutex_unlock(&sleep_mtx);
	hk_tokens_reacquire_all();
	spin_lock(spin);
	return (error);
}

int
lksleep(const volatile void *ident, struct lock *lock, int flags,
    const char *wmesg, int timo)
{
	struct sleeper s = { ident, 0, NULL };
	int error, excl;

	hk_assert_sleepable("lksleep");
	excl = lockstatus(lock, curthread) == LK_EXCLUSIVE;
	pthread_mutex_lock(&sleep_mtx);
	s.next = sleepers;
	sleepers = &s;
	pthread_mutex_unlock(&sleep_mtx);
	lockmgr(lock, LK_RELEASE);
	hk_tokens_release_all();
	pthread_mutex_lock(&sleep_mtx);
	error = sleep_wait_locked(&s, flags, timo);
	pthread_mutex_unlock(&sleep_mtx);
	hk_tokens_reacquire_all();
	lockmgr(lock, excl ? LK_EXCLUSIVE : LK_SHARED);
	return (error);
}

static void
do_wakeup(const volatile void *ident, int one)
{
	struct sleeper *s;

	pthread_mutex_lock(&sleep_mtx);
	for (s = sleepers; s != NULL; s = s->next) {
		if (s->ident == ident && !s->woken) {
			s->woken = 1;
			if (one)
				break;
		}
	}
	pthread_cond_broadcast(&sleep_cv);
	pthread_mutex_unlock(&sleep_mtx);
}

void
wakeup(const volatile void *ident)
{
	do_wakeup(ident, 0);
}

void
wakeup_one(const volatile void *ident)
{
	do_wakeup(ident, 1);
}
