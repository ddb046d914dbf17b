/*
 * lock_test - the lock checker: spinlock (sys/spinlock2.h) and lockmgr
 * (kern/kern_lock.c) misuse is caught; sleeping or kmalloc(M_WAITOK) under
 * a spinlock is caught.  Runs kernel calls directly, in kernel context.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/malloc.h>
#include <sys/lock.h>
#include <sys/spinlock2.h>
#include <sys/thread.h>

#include "h_common.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

MALLOC_DEFINE(M_LOCKTEST, "locktest", "lock_test allocations");

static struct spinlock spin;
static struct lock lk;

static void *
t_spin_lock(void *arg)
{
	spin_lock(&spin);
	return (NULL);
}

static void *
t_spin_unlock(void *arg)
{
	spin_unlock(&spin);
	return (NULL);
}

static void *
t_lk_excl(void *arg)
{
	lockmgr(&lk, LK_EXCLUSIVE);
	return (NULL);
}

static void *
t_lk_release(void *arg)
{
	lockmgr(&lk, LK_RELEASE);
	return (NULL);
}

static void
run(void *(*fn)(void *))
{
	pthread_t t;

	ATF_REQUIRE_EQ(pthread_create(&t, NULL, fn, NULL), 0);
	ATF_REQUIRE_EQ(pthread_join(t, NULL), 0);
}

ATF_TC(spin_lock__recursion);
ATF_TC_HEAD(spin_lock__recursion, tc)
{
	atf_tc_set_md_var(tc, "descr", "sys/spinlock2.h spin_lock: taking a "
	    "spinlock the thread already holds is a violation");
}
ATF_TC_BODY(spin_lock__recursion, tc)
{
	h_boot(HK_PROFILE_MODERN);
	hk_set_lock_violation_fatal(0);
	spin_init(&spin, "t");
	spin_lock(&spin);
	spin_lock(&spin);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	spin_unlock(&spin);
	spin_unlock(&spin);
	spin_uninit(&spin);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	h_shutdown_clean();
}

ATF_TC(spin_unlock__not_owner);
ATF_TC_HEAD(spin_unlock__not_owner, tc)
{
	atf_tc_set_md_var(tc, "descr", "sys/spinlock2.h spin_unlock: "
	    "releasing a spinlock held by another thread is a violation");
}
ATF_TC_BODY(spin_unlock__not_owner, tc)
{
	h_boot(HK_PROFILE_MODERN);
	hk_set_lock_violation_fatal(0);
	spin_init(&spin, "t");
	spin_lock(&spin);
	run(t_spin_unlock);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	spin_unlock(&spin);
	spin_uninit(&spin);
	h_shutdown_clean();
}

ATF_TC(spin_uninit__held);
ATF_TC_HEAD(spin_uninit__held, tc)
{
	atf_tc_set_md_var(tc, "descr", "sys/spinlock2.h spin_uninit of a "
	    "held spinlock is a violation");
}
ATF_TC_BODY(spin_uninit__held, tc)
{
	h_boot(HK_PROFILE_MODERN);
	hk_set_lock_violation_fatal(0);
	spin_init(&spin, "t");
	run(t_spin_lock);
	spin_uninit(&spin);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	h_shutdown_clean();
}

ATF_TC(tsleep__under_spinlock);
ATF_TC_HEAD(tsleep__under_spinlock, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_synch.c tsleep with a "
	    "spinlock held is a violation");
}
ATF_TC_BODY(tsleep__under_spinlock, tc)
{
	int chan;

	h_boot(HK_PROFILE_MODERN);
	hk_set_lock_violation_fatal(0);
	spin_init(&spin, "t");
	spin_lock(&spin);
	ATF_CHECK_EQ(tsleep(&chan, 0, "t", 1), EWOULDBLOCK);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	spin_unlock(&spin);
	ATF_CHECK_EQ(tsleep(&chan, 0, "t", 1), EWOULDBLOCK);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	spin_uninit(&spin);
	h_shutdown_clean();
}

ATF_TC(lockmgr__under_spinlock);
ATF_TC_HEAD(lockmgr__under_spinlock, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_lock.c lockmgr without "
	    "LK_NOWAIT (it may sleep) with a spinlock held is a violation, even "
	    "when the lock is free; LK_NOWAIT and LK_RELEASE are not");
}
ATF_TC_BODY(lockmgr__under_spinlock, tc)
{
	h_boot(HK_PROFILE_MODERN);
	hk_set_lock_violation_fatal(0);
	spin_init(&spin, "t");
	lockinit(&lk, "t", 0, 0);
	spin_lock(&spin);
	ATF_CHECK_EQ(lockmgr(&lk, LK_EXCLUSIVE | LK_NOWAIT), 0);
	ATF_CHECK_EQ(lockmgr(&lk, LK_RELEASE), 0);
	ATF_CHECK_EQ(hk_lock_violations(), 0);
	ATF_CHECK_EQ(lockmgr(&lk, LK_SHARED), 0);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	ATF_CHECK_EQ(lockmgr(&lk, LK_RELEASE), 0);
	spin_unlock(&spin);
	spin_uninit(&spin);
	lockuninit(&lk);
	h_shutdown_clean();
}

ATF_TC(kmalloc__waitok_under_spinlock);
ATF_TC_HEAD(kmalloc__waitok_under_spinlock, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_slaballoc.c kmalloc: "
	    "M_WAITOK with a spinlock held is a violation; M_NOWAIT is not");
}
ATF_TC_BODY(kmalloc__waitok_under_spinlock, tc)
{
	void *a, *b;

	h_boot(HK_PROFILE_MODERN);
	hk_set_lock_violation_fatal(0);
	spin_init(&spin, "t");
	spin_lock(&spin);
	a = kmalloc(16, M_LOCKTEST, M_NOWAIT);
	ATF_CHECK_EQ(hk_lock_violations(), 0);
	b = kmalloc(16, M_LOCKTEST, M_WAITOK);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	spin_unlock(&spin);
	spin_uninit(&spin);
	kfree(a, M_LOCKTEST);
	kfree(b, M_LOCKTEST);
	h_shutdown_clean();
}

ATF_TC(lockmgr__recursion);
ATF_TC_HEAD(lockmgr__recursion, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_lock.c lockmgr: an "
	    "exclusive lock taken twice without LK_CANRECURSE is a violation; "
	    "with it, it nests");
}
ATF_TC_BODY(lockmgr__recursion, tc)
{
	h_boot(HK_PROFILE_MODERN);
	hk_set_lock_violation_fatal(0);
	lockinit(&lk, "t", 0, 0);
	ATF_REQUIRE_EQ(lockmgr(&lk, LK_EXCLUSIVE), 0);
	ATF_CHECK(lockmgr(&lk, LK_EXCLUSIVE) != 0);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	ATF_CHECK_EQ(lockmgr(&lk, LK_EXCLUSIVE | LK_CANRECURSE), 0);
	lockmgr(&lk, LK_RELEASE);
	lockmgr(&lk, LK_RELEASE);
	ATF_CHECK_EQ(lockinuse(&lk), 0);
	lockuninit(&lk);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	h_shutdown_clean();
}

ATF_TC(lockmgr__release_not_owner);
ATF_TC_HEAD(lockmgr__release_not_owner, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_lock.c lockmgr(LK_RELEASE) "
	    "of an exclusive lock held by another thread is a violation; "
	    "lockuninit of a held lock too");
}
ATF_TC_BODY(lockmgr__release_not_owner, tc)
{
	h_boot(HK_PROFILE_MODERN);
	hk_set_lock_violation_fatal(0);
	lockinit(&lk, "t", 0, 0);
	ATF_REQUIRE_EQ(lockmgr(&lk, LK_EXCLUSIVE), 0);
	run(t_lk_release);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	lockuninit(&lk);
	ATF_CHECK_EQ(hk_lock_violations(), 2);
	lockmgr(&lk, LK_RELEASE);
	lockuninit(&lk);
	h_shutdown_clean();
}

ATF_TC(lockmgr__nowait_and_shared);
ATF_TC_HEAD(lockmgr__nowait_and_shared, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_lock.c lockmgr: LK_NOWAIT "
	    "returns EBUSY instead of sleeping; shared holders coexist and "
	    "exclude an exclusive one");
}
ATF_TC_BODY(lockmgr__nowait_and_shared, tc)
{
	h_boot(HK_PROFILE_MODERN);
	lockinit(&lk, "t", 0, 0);
	run(t_lk_excl);
	ATF_CHECK_EQ(lockstatus(&lk, NULL), LK_EXCLUSIVE);
	ATF_CHECK_EQ(lockmgr(&lk, LK_SHARED | LK_NOWAIT), EBUSY);
	ATF_CHECK_EQ(lockmgr(&lk, LK_EXCLUSIVE | LK_NOWAIT), EBUSY);
	hk_set_lock_violation_fatal(0);
	run(t_lk_release);	/* another thread: violation, lock stays */
	hk_set_lock_violation_fatal(1);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	h_shutdown_clean();
}

static struct lwkt_token tok = LWKT_TOKEN_INITIALIZER(test_token);
static volatile int tok_taken;

static void *
t_tok_take(void *arg)
{
	lwkt_gettoken(&tok);
	__atomic_store_n(&tok_taken, 1, __ATOMIC_SEQ_CST);
	lwkt_reltoken(&tok);
	return (NULL);
}

ATF_TC(lwkt_token__recursive_and_released_while_asleep);
ATF_TC_HEAD(lwkt_token__recursive_and_released_while_asleep, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/lwkt_token.c: a token nests in "
	    "its holder, excludes other threads, is given up while its holder "
	    "sleeps (tsleep) and held again after; release by a non-holder is "
	    "a violation");
}
ATF_TC_BODY(lwkt_token__recursive_and_released_while_asleep, tc)
{
	pthread_t t;
	int chan, i;

	h_boot(HK_PROFILE_MODERN);
	lwkt_gettoken(&tok);
	lwkt_gettoken(&tok);
	ATF_CHECK_EQ(lwkt_cnttoken(&tok, NULL), 2);
	ATF_REQUIRE_EQ(pthread_create(&t, NULL, t_tok_take, NULL), 0);
	usleep(50000);
	ATF_CHECK_EQ(tok_taken, 0);		/* excluded while we hold it */
	for (i = 0; i < 100 && !__atomic_load_n(&tok_taken, __ATOMIC_SEQ_CST);
	    i++)
		tsleep(&chan, 0, "toktest", 1);	/* released while asleep */
	ATF_CHECK_EQ(tok_taken, 1);
	ATF_REQUIRE_EQ(pthread_join(t, NULL), 0);
	ATF_CHECK_EQ(lwkt_cnttoken(&tok, NULL), 2);	/* held again */
	lwkt_reltoken(&tok);
	lwkt_reltoken(&tok);
	ATF_CHECK_EQ(lwkt_cnttoken(&tok, NULL), 0);
	hk_set_lock_violation_fatal(0);
	lwkt_reltoken(&tok);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	h_shutdown_clean();
}

ATF_TC(lock_violation__fatal_by_default);
ATF_TC_HEAD(lock_violation__fatal_by_default, tc)
{
	atf_tc_set_md_var(tc, "descr", "a lock violation aborts the test "
	    "(as an INVARIANTS kernel panics) unless made non-fatal");
}
ATF_TC_BODY(lock_violation__fatal_by_default, tc)
{
	h_boot(HK_PROFILE_MODERN);
	spin_init(&spin, "t");
	spin_lock(&spin);
	atf_tc_expect_signal(SIGABRT, "spin_lock recursion aborts");
	spin_lock(&spin);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, spin_lock__recursion);
	ATF_TP_ADD_TC(tp, spin_unlock__not_owner);
	ATF_TP_ADD_TC(tp, spin_uninit__held);
	ATF_TP_ADD_TC(tp, tsleep__under_spinlock);
	ATF_TP_ADD_TC(tp, kmalloc__waitok_under_spinlock);
	ATF_TP_ADD_TC(tp, lockmgr__under_spinlock);
	ATF_TP_ADD_TC(tp, lockmgr__recursion);
	ATF_TP_ADD_TC(tp, lockmgr__release_not_owner);
	ATF_TP_ADD_TC(tp, lockmgr__nowait_and_shared);
	ATF_TP_ADD_TC(tp, lwkt_token__recursive_and_released_while_asleep);
	ATF_TP_ADD_TC(tp, lock_violation__fatal_by_default);
	return (atf_no_error());
}
