/*
 * strict_test - where the host kernel is exactly as strict as 5.8.1 and
 * no more lenient: exit1's unlocked walk of exit_list (kern_exit.c), a
 * user copy under a spinlock (a fault there panics 5.8), and syscall2's
 * INVARIANTS checks on the way back to user mode (trap.c: critical section
 * count, tokens; a spinlock is a critical section).  Runs kernel calls
 * directly, in kernel context: the test is its own small driver, "strict".
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/conf.h>
#include <sys/device.h>
#include <sys/spinlock2.h>
#include <sys/thread.h>
#include <sys/thread2.h>
#include <sys/uio.h>
#include <sys/sysctl.h>

#include "h_common.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

/* --- a tiny misbehaving driver ----------------------------------------- */

#define STRICT_SPIN_RETURN	0x20007301UL	/* _IO('s', 1) */
#define STRICT_TOKEN_RETURN	0x20007302UL
#define STRICT_CRIT_RETURN	0x20007303UL
#define STRICT_COPYOUT_SPIN	0x80087304UL	/* _IOW('s', 4, void *) */
#define STRICT_COPYIN_SPIN	0x80087305UL
#define STRICT_CLEAN		0x20007306UL

static struct spinlock strict_spin;
static struct lwkt_token strict_tok = LWKT_TOKEN_INITIALIZER(strict_tok);
static cdev_t strict_dev;

static int
strict_ioctl(struct dev_ioctl_args *ap)
{
	void *uaddr = *(void **)ap->a_data;
	char buf[8] = "strict";

	switch (ap->a_cmd) {
	case STRICT_SPIN_RETURN:
		spin_lock(&strict_spin);		/* never released */
		return (0);
	case STRICT_TOKEN_RETURN:
		lwkt_gettoken(&strict_tok);		/* never released */
		return (0);
	case STRICT_CRIT_RETURN:
		crit_enter();				/* never left */
		return (0);
	case STRICT_COPYOUT_SPIN:
		spin_lock(&strict_spin);
		(void)copyout(buf, uaddr, sizeof(buf));
		spin_unlock(&strict_spin);
		return (0);
	case STRICT_COPYIN_SPIN:
		spin_lock(&strict_spin);
		(void)copyin(uaddr, buf, sizeof(buf));
		spin_unlock(&strict_spin);
		return (0);
	case STRICT_CLEAN:
		spin_lock(&strict_spin);
		spin_unlock(&strict_spin);
		crit_enter();
		crit_exit();
		lwkt_gettoken(&strict_tok);
		lwkt_reltoken(&strict_tok);
		return (0);
	}
	return (ENOTTY);
}

static int
strict_read(struct dev_read_args *ap)
{
	char buf[4] = "abc";
	int error;

	spin_lock(&strict_spin);
	error = uiomove(buf, sizeof(buf), ap->a_uio);
	spin_unlock(&strict_spin);
	return (error);
}

static struct dev_ops strict_ops = {
	{ "strict", 0, 0 },
	.d_open =	nullopen,
	.d_close =	nullclose,
	.d_ioctl =	strict_ioctl,
	.d_read =	strict_read,
};

/* Boot, make /dev/strict, a root process bound to this thread with a user
 * buffer; violations counted, not fatal (the checker's own tests). */
static struct hk_proc *
strict_boot(char *ubuf, size_t len, int *fdp)
{
	struct hk_proc *p;

	h_boot(HK_PROFILE_MODERN);
	hk_set_lock_violation_fatal(0);
	spin_init(&strict_spin, "strict_spin");
	strict_dev = make_dev(&strict_ops, 0, 0, 0, 0666, "strict");
	hk_devfs_sync();
	p = h_proc(0, 0);
	ATF_REQUIRE_EQ(hk_thread_enter(p), 0);
	ATF_REQUIRE_EQ(hk_proc_map_user(p, ubuf, len, 1), 0);
	*fdp = h_open("/dev/strict", O_RDWR);
	return (p);
}

static void
strict_end(int fd)
{
	ATF_CHECK_EQ(hk_close(fd), 0);
	hk_thread_leave();
	destroy_dev(strict_dev);
	spin_uninit(&strict_spin);
	h_shutdown_clean();
}

/* ioctl with the user pointer `u` as its argument (IOC_IN copies it). */
static int
strict_cmd(int fd, unsigned long cmd, char *ubuf)
{
	void **arg = (void **)ubuf;

	*arg = ubuf + 16;
	return (hk_ioctl(fd, cmd, ubuf));
}

ATF_TC(syscall2__clean_return_not_reported);
ATF_TC_HEAD(syscall2__clean_return_not_reported, tc)
{
	atf_tc_set_md_var(tc, "descr", "platform/pc64/x86_64/trap.c "
	    "syscall2 (INVARIANTS): a driver that takes and releases a "
	    "spinlock, a critical section and a token returns cleanly: no "
	    "violation (the checks below are not noise)");
}
ATF_TC_BODY(syscall2__clean_return_not_reported, tc)
{
	char ubuf[64];
	int fd;

	(void)strict_boot(ubuf, sizeof(ubuf), &fd);
	ATF_CHECK_EQ(strict_cmd(fd, STRICT_CLEAN, ubuf), 0);
	ATF_CHECK_EQ(hk_lock_violations(), 0);
	strict_end(fd);
}

ATF_TC(syscall2__spinlock_held_on_return);
ATF_TC_HEAD(syscall2__spinlock_held_on_return, tc)
{
	atf_tc_set_md_var(tc, "descr", "platform/pc64/x86_64/trap.c "
	    "syscall2 (INVARIANTS): an ioctl returning to user mode with a "
	    "spinlock held is a critical section count mismatch (5.8 "
	    "panics): one violation");
}
ATF_TC_BODY(syscall2__spinlock_held_on_return, tc)
{
	char ubuf[64];
	int fd;

	(void)strict_boot(ubuf, sizeof(ubuf), &fd);
	ATF_CHECK_EQ(strict_cmd(fd, STRICT_SPIN_RETURN, ubuf), 0);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	spin_unlock(&strict_spin);
	strict_end(fd);
}

ATF_TC(syscall2__token_held_on_return);
ATF_TC_HEAD(syscall2__token_held_on_return, tc)
{
	atf_tc_set_md_var(tc, "descr", "platform/pc64/x86_64/trap.c "
	    "syscall2 (INVARIANTS): an ioctl returning with a token held "
	    "(\"extra tokens held after trap\"): one violation");
}
ATF_TC_BODY(syscall2__token_held_on_return, tc)
{
	char ubuf[64];
	int fd;

	(void)strict_boot(ubuf, sizeof(ubuf), &fd);
	ATF_CHECK_EQ(strict_cmd(fd, STRICT_TOKEN_RETURN, ubuf), 0);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	lwkt_reltoken(&strict_tok);
	strict_end(fd);
}

ATF_TC(syscall2__critical_section_held_on_return);
ATF_TC_HEAD(syscall2__critical_section_held_on_return, tc)
{
	atf_tc_set_md_var(tc, "descr", "platform/pc64/x86_64/trap.c "
	    "syscall2 (INVARIANTS): an ioctl returning inside a critical "
	    "section (\"critical section count mismatch\"): one violation");
}
ATF_TC_BODY(syscall2__critical_section_held_on_return, tc)
{
	char ubuf[64];
	int fd;

	(void)strict_boot(ubuf, sizeof(ubuf), &fd);
	ATF_CHECK_EQ(strict_cmd(fd, STRICT_CRIT_RETURN, ubuf), 0);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	crit_exit();
	strict_end(fd);
}

ATF_TC(copyout__spinlock_held);
ATF_TC_HEAD(copyout__spinlock_held, tc)
{
	atf_tc_set_md_var(tc, "descr", "copyout (platform/pc64 "
	    "support.s + trap_pfault): a user copy under a spinlock may fault, "
	    "and a fault with a spinlock held panics 5.8: a violation even "
	    "when the page is there");
}
ATF_TC_BODY(copyout__spinlock_held, tc)
{
	char ubuf[64];
	int fd;

	(void)strict_boot(ubuf, sizeof(ubuf), &fd);
	ATF_CHECK_EQ(strict_cmd(fd, STRICT_COPYOUT_SPIN, ubuf), 0);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	strict_end(fd);
}

ATF_TC(copyin__spinlock_held);
ATF_TC_HEAD(copyin__spinlock_held, tc)
{
	atf_tc_set_md_var(tc, "descr", "copyin under a spinlock: a "
	    "violation (a fault there panics 5.8)");
}
ATF_TC_BODY(copyin__spinlock_held, tc)
{
	char ubuf[64];
	int fd;

	(void)strict_boot(ubuf, sizeof(ubuf), &fd);
	ATF_CHECK_EQ(strict_cmd(fd, STRICT_COPYIN_SPIN, ubuf), 0);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	strict_end(fd);
}

ATF_TC(uiomove__spinlock_held);
ATF_TC_HEAD(uiomove__spinlock_held, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_subr.c uiomove of a "
	    "user-space uio under a spinlock (read(2) into user memory): a "
	    "violation");
}
ATF_TC_BODY(uiomove__spinlock_held, tc)
{
	char ubuf[64];
	size_t done = 0;
	int fd;

	(void)strict_boot(ubuf, sizeof(ubuf), &fd);
	ATF_CHECK_EQ(hk_read(fd, ubuf, 4, &done), 0);
	ATF_CHECK_EQ(done, 4);
	ATF_CHECK(hk_lock_violations() >= 1);
	strict_end(fd);
}

static int strict_oid_val = 7;

static int
strict_sysctl_spin(SYSCTL_HANDLER_ARGS)
{
	int error;

	spin_lock(&strict_spin);
	error = SYSCTL_OUT(req, &strict_oid_val, sizeof(strict_oid_val));
	spin_unlock(&strict_spin);
	return (error);
}

ATF_TC(sysctl_old_user__spinlock_held);
ATF_TC_HEAD(sysctl_old_user__spinlock_held, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_sysctl.c sysctl_old_user: "
	    "sysctl(2)'s old buffer is reached with copyout, so a handler "
	    "calling SYSCTL_OUT under a spinlock is a violation; "
	    "kernel_sysctl's buffers are kernel memory and are not");
}
ATF_TC_BODY(sysctl_old_user__spinlock_held, tc)
{
	struct sysctl_ctx_list ctx;
	char ubuf[64];
	int fd, v = 0;
	size_t len = sizeof(v);

	(void)strict_boot(ubuf, sizeof(ubuf), &fd);
	sysctl_ctx_init(&ctx);
	ATF_REQUIRE(SYSCTL_ADD_PROC(&ctx, SYSCTL_STATIC_CHILDREN(_debug),
	    OID_AUTO, "strict_spin", CTLTYPE_INT | CTLFLAG_RD, NULL, 0,
	    strict_sysctl_spin, "I", "SYSCTL_OUT under a spinlock") != NULL);
	ATF_CHECK_EQ(kernel_sysctlbyname(__DECONST(char *,
	    "debug.strict_spin"), &v, &len, NULL, 0, NULL), 0);
	ATF_CHECK_EQ(hk_lock_violations(), 0);
	ATF_CHECK_EQ(hk_sysctl("debug.strict_spin", &v, &len, NULL, 0), 0);
	ATF_CHECK_EQ(v, 7);
	ATF_CHECK_EQ(hk_lock_violations(), 1);
	sysctl_ctx_free(&ctx);
	strict_end(fd);
}

/* --- exit1's unlocked walk of exit_list ------------------------------- */

static atomic_int hook_calls, hook_inside, hook_go;
static int hook_order[4], hook_norder;

static void
hook_a(struct thread *td)
{
	hook_order[hook_norder++] = 'a';
	atomic_fetch_add(&hook_calls, 1);
}

static void
hook_b(struct thread *td)
{
	hook_order[hook_norder++] = 'b';
	atomic_fetch_add(&hook_calls, 1);
}

/* Parks the exiting process inside the walk until hook_go. */
static void
hook_park(struct thread *td)
{
	atomic_store(&hook_inside, 1);
	while (!atomic_load(&hook_go))
		usleep(100);
}

ATF_TC(at_exit__tail_order_rm_first_match);
ATF_TC_HEAD(at_exit__tail_order_rm_first_match, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_exit.c at_exit appends "
	    "(TAILQ_INSERT_TAIL: hooks run in registration order) and, as the "
	    "INVARIANTS kernel does, first removes a duplicate; rm_at_exit "
	    "removes one entry and returns 1, then 0");
}
ATF_TC_BODY(at_exit__tail_order_rm_first_match, tc)
{
	struct hk_proc *p;

	h_boot(HK_PROFILE_MODERN);
	ATF_REQUIRE_EQ(at_exit(hook_a), 0);
	ATF_REQUIRE_EQ(at_exit(hook_b), 0);
	ATF_REQUIRE_EQ(at_exit(hook_a), 0);	/* moved to the tail */
	p = h_proc(0, 0);
	ATF_REQUIRE_EQ(hk_proc_exit(p, 0), 0);
	ATF_REQUIRE_EQ(hook_norder, 2);
	ATF_CHECK_EQ(hook_order[0], 'b');
	ATF_CHECK_EQ(hook_order[1], 'a');
	ATF_CHECK_EQ(rm_at_exit(hook_a), 1);
	ATF_CHECK_EQ(rm_at_exit(hook_a), 0);
	ATF_CHECK_EQ(rm_at_exit(hook_b), 1);
	h_shutdown_clean();
}

static void *
exiter_main(void *arg)
{
	(void)hk_proc_exit(arg, 0);
	return (NULL);
}

ATF_TC(exit1__rm_at_exit_frees_entry_under_walker);
ATF_TC_HEAD(exit1__rm_at_exit_frees_entry_under_walker, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_exit.c exit1 walks "
	    "exit_list with TAILQ_FOREACH and no lock while rm_at_exit "
	    "kfree()s entries: a hook removed while an exiting process is "
	    "inside it leaves exit1 loading the next link from freed memory "
	    "(the GPF the real-kernel tier found); the host faults too");
}
ATF_TC_BODY(exit1__rm_at_exit_frees_entry_under_walker, tc)
{
	struct hk_proc *p;
	pthread_t t;

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
	atf_tc_skip("under TSan the use after free shows as a race report, "
	    "not a crash; the plain and ASan runs check it");
#endif
#endif
	h_boot(HK_PROFILE_MODERN);
	ATF_REQUIRE_EQ(at_exit(hook_park), 0);
	ATF_REQUIRE_EQ(at_exit(hook_a), 0);
	p = h_proc(0, 0);
	ATF_REQUIRE_EQ(pthread_create(&t, NULL, exiter_main, p), 0);
	while (!atomic_load(&hook_inside))
		usleep(100);
	/* The walker is inside hook_park's entry: free it under it. */
	ATF_REQUIRE_EQ(rm_at_exit(hook_park), 1);
	atf_tc_expect_signal(-1, "exit1 reads the freed entry's next link");
	atomic_store(&hook_go, 1);
	pthread_join(t, NULL);
	/* Not reached: plain follows the 0xdeadc0de poison, ASan aborts. */
	atf_tc_fail("exit1 survived a freed exit_list entry (hooks after it "
	    "ran %d times)", atomic_load(&hook_calls));
}

ATF_TC(exit1__rm_at_exit_of_other_entry_safe);
ATF_TC_HEAD(exit1__rm_at_exit_of_other_entry_safe, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_exit.c exit1: removing an "
	    "entry the walker is not on (one it already passed) is safe; "
	    "the walk goes on to the entries after its own");
}
ATF_TC_BODY(exit1__rm_at_exit_of_other_entry_safe, tc)
{
	struct hk_proc *p;
	pthread_t t;

	h_boot(HK_PROFILE_MODERN);
	ATF_REQUIRE_EQ(at_exit(hook_b), 0);
	ATF_REQUIRE_EQ(at_exit(hook_park), 0);
	ATF_REQUIRE_EQ(at_exit(hook_a), 0);
	p = h_proc(0, 0);
	ATF_REQUIRE_EQ(pthread_create(&t, NULL, exiter_main, p), 0);
	while (!atomic_load(&hook_inside))
		usleep(100);
	ATF_REQUIRE_EQ(rm_at_exit(hook_b), 1);	/* already walked past */
	atomic_store(&hook_go, 1);
	pthread_join(t, NULL);
	ATF_CHECK_EQ(atomic_load(&hook_calls), 2);	/* b, then a */
	ATF_CHECK_EQ(rm_at_exit(hook_park), 1);
	ATF_CHECK_EQ(rm_at_exit(hook_a), 1);
	h_shutdown_clean();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, syscall2__clean_return_not_reported);
	ATF_TP_ADD_TC(tp, syscall2__spinlock_held_on_return);
	ATF_TP_ADD_TC(tp, syscall2__token_held_on_return);
	ATF_TP_ADD_TC(tp, syscall2__critical_section_held_on_return);
	ATF_TP_ADD_TC(tp, copyout__spinlock_held);
	ATF_TP_ADD_TC(tp, copyin__spinlock_held);
	ATF_TP_ADD_TC(tp, uiomove__spinlock_held);
	ATF_TP_ADD_TC(tp, sysctl_old_user__spinlock_held);
	ATF_TP_ADD_TC(tp, at_exit__tail_order_rm_first_match);
	ATF_TP_ADD_TC(tp, exit1__rm_at_exit_frees_entry_under_walker);
	ATF_TP_ADD_TC(tp, exit1__rm_at_exit_of_other_entry_safe);
	return (atf_no_error());
}
