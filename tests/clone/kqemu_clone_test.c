/*
 * kqemu_clone_test.c - kqemu_clone.ko on the host kernel with kqemu.ko
 * (conform engine): the QEMU 0.10 sequence (tests/kqemu/qemu_seq.c) from
 * 64 concurrent processes with isolated state, in every mode; the unload
 * order between kqemu_clone and kqemu; the sysctl listing.
 *
 * Cases are named <scenario>__<mode>; each boots a fresh host kernel and
 * ends with ct_shutdown_clean().
 * Locking: threads share only atomics.
 */
#include <atf-c.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "clone_util.h"
#include "qemu_seq.h"

static const struct ct_target *T = &ct_kqemu;

static enum hk_profile kprof = (enum hk_profile)-1;	/* -1: the mode's */

static void
kboot(const char *mode)
{
	ct_boot(T, mode, (int)kprof >= 0 ? kprof : ct_profile_for(mode));
	/* 64 VMs of 2 MiB lock 64 x 1024+ pages. */
	ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.max_locked_pages", "1000000"), 0);
	ct_set_limits(T, 0, 0, 0);
}

static int
k_ioctl(void *ctx, unsigned long cmd, void *arg)
{
	return (hk_ioctl(*(int *)ctx, cmd, arg));
}

struct vm_arg {
	struct ct_proc p;
	struct kqs_vm vm;
	struct kqs_result res;
	int id;
	int error;
	pthread_barrier_t *bar;
};

static void *
vm_thread(void *v)
{
	struct vm_arg *a = v;
	int fd = -1;

	a->error = hk_thread_enter(a->p.p);
	if (a->error)
		return (NULL);
	a->error = ct_open(T, &fd);
	pthread_barrier_wait(a->bar);	/* 64 opens held at once */
	if (a->error == 0)
		a->error = kqs_run(k_ioctl, &fd, &a->vm, 8, &a->res);
	if (a->error == 0 && a->res.phys_errors != 0)
		a->error = -1;
	pthread_barrier_wait(a->bar);	/* all ran while all were open */
	hk_thread_leave();
	return (NULL);
}

/* Lines of hw.kqemu.list whose cdev name (first word) another line has. */
static int
list_name_repeats(void)
{
	static char buf[65536];
	char *names[256], *line, *save = NULL;
	size_t len = sizeof(buf);
	int i, n = 0, repeats = 0;

	ATF_REQUIRE_EQ(hk_sysctl("hw.kqemu.list", buf, &len, NULL, 0), 0);
	buf[sizeof(buf) - 1] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL && n < 256;
	    line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, " ")] = '\0';
		for (i = 0; i < n; i++)
			if (strcmp(names[i], line) == 0)
				repeats++;
		names[n++] = line;
	}
	ATF_CHECK_MSG(n >= 64, "hw.kqemu.list has %d lines", n);
	return (repeats);
}

static void
run_64(const char *mode)
{
	enum { N = 64 };
	static struct vm_arg a[N];
	pthread_t th[N];
	pthread_barrier_t bar;
	long long inst;
	int i;

	kboot(mode);
	ATF_REQUIRE_EQ_MSG(ct_load(T), 0, "kldload kqemu_clone (%s)", mode);
	pthread_barrier_init(&bar, NULL, N);
	for (i = 0; i < N; i++) {
		ct_proc_new(&a[i].p, 1000 + i % 8);
		/* Each VM its own RAM size: an instance that saw another's
		 * INIT would refuse the RAM range of its own map. */
		ATF_REQUIRE_EQ(kqs_vm_alloc(&a[i].vm,
		    (size_t)(2048 + 4 * i) * 1024), 0);
		ATF_REQUIRE_EQ(hk_proc_map_user(a[i].p.p, a[i].vm.block,
		    a[i].vm.block_len, 1), 0);
		a[i].id = i;
		a[i].bar = &bar;
	}
	for (i = 0; i < N; i++)
		ATF_REQUIRE_EQ(pthread_create(&th[i], NULL, vm_thread, &a[i]), 0);
	for (i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < N; i++)
		ATF_CHECK_EQ_MSG(a[i].error, 0, "vm %d: %d at %s", i, a[i].error,
		    a[i].res.step ? a[i].res.step : "-");
	ATF_CHECK_EQ(ct_stat(T, "live"), N);
	/* Every VM ran: 64 INITs and 64 x 8 EXECs reached kqemu. */
	ATF_REQUIRE_EQ(hk_sysctl_int("hw.kqemu.inits", &inst), 0);
	ATF_CHECK_EQ(inst, N);
	ATF_REQUIRE_EQ(hk_sysctl_int("hw.kqemu.execs", &inst), 0);
	ATF_CHECK_EQ(inst, N * 8);
	for (i = 0; i < N; i++)
		ATF_CHECK_EQ(ct_listing_count_pid(T, a[i].p.pid), 1);
	/* Every instance's cdev has its own name (interposer clones too). */
	ATF_CHECK_EQ(list_name_repeats(), 0);
	for (i = 0; i < N; i++)
		ATF_REQUIRE_EQ(hk_proc_exit(a[i].p.p, 0), 0);
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	if (hk_sysctl_int("hw.kqemu.instances", &inst) == 0)
		ATF_CHECK_EQ(inst, strcmp(mode, "autoclone") == 0 ||
		    strcmp(mode, "proc") == 0 ? 1 : 0);
	ct_shutdown_clean();
	for (i = 0; i < N; i++)
		kqs_vm_free(&a[i].vm);
	pthread_barrier_destroy(&bar);
}

static void
unload_order(const char *mode)
{
	struct ct_proc a;
	long long holders = -1;
	int fd;

	kboot(mode);
	ATF_REQUIRE_EQ(ct_load(T), 0);
	ATF_REQUIRE_EQ(hk_sysctl_int("hw.kqemu.holders", &holders), 0);
	ATF_CHECK_EQ(holders, 1);
	/* kqemu under its wrapper: refused (kqemu_hold). */
	ATF_CHECK(hk_kldunload("kqemu") != 0 || hk_kld_isloaded("kqemu"));
	ATF_CHECK(hk_kld_isloaded("kqemu"));
	ct_proc_new(&a, 1000);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fd), 0);
	ct_leave();
	/* A vetoed kldunload of kqemu_clone drops its MODULE_DEPEND
	 * reference on kqemu (docs/design.md §10)... */
	ATF_CHECK_EQ(ct_unload_shim(T), EBUSY);
	/* ...so kldunload(kqemu) reaches kqemu's MOD_UNLOAD: refused. */
	hk_kldunload("kqemu");
	hk_kldunload("kqemu");
	ATF_CHECK(hk_kld_isloaded("kqemu"));
	ATF_CHECK(hk_kld_isloaded("kqemu_clone"));
	ct_enter(&a);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ct_leave();
	hk_devfs_sync();
	if (strcmp(mode, "proc") == 0) {
		/* A proc shim stays while the system runs (its exit hook),
		 * and kqemu with it. */
		ATF_CHECK_EQ(ct_unload_shim(T), EBUSY);
		ATF_CHECK(hk_kld_isloaded("kqemu"));
		ct_shutdown_clean();
		return;
	}
	/* kqemu lost its user reference to the kldunloads above, so it
	 * goes with kqemu_clone's dependency reference. */
	ATF_CHECK_EQ(ct_unload_shim(T), 0);
	ATF_CHECK(!hk_kld_isloaded("kqemu_clone"));
	ATF_CHECK(!hk_kld_isloaded("kqemu"));
	ct_shutdown_clean();
}

#define MODE_CASES(m)							\
ATF_TC(qemu__64_concurrent_isolated__##m);				\
ATF_TC_HEAD(qemu__64_concurrent_isolated__##m, tc)			\
{									\
	atf_tc_set_md_var(tc, "descr", "mode " #m ": 64 processes run "	\
	    "the QEMU 0.10 sequence (INIT with its own RAM size, PC map, "	\
	    "EXEC round trips) at once through kqemu_clone; each owns one "	\
	    "listing line and a cdev of its own name in hw.kqemu.list; "	\
	    "exit reclaims all");					\
}									\
ATF_TC_BODY(qemu__64_concurrent_isolated__##m, tc)			\
{									\
	run_64(#m);							\
}									\
ATF_TC(unload__kqemu_held_by_shim__##m);				\
ATF_TC_HEAD(unload__kqemu_held_by_shim__##m, tc)			\
{									\
	atf_tc_set_md_var(tc, "descr", "mode " #m ": kldunload kqemu "	\
	    "is refused while kqemu_clone is loaded, also after a vetoed "	\
	    "kldunload of kqemu_clone; both unload in order after");	\
}									\
ATF_TC_BODY(unload__kqemu_held_by_shim__##m, tc)			\
{									\
	unload_order(#m);						\
}

MODE_CASES(autoclone)
MODE_CASES(fp)
MODE_CASES(native)
MODE_CASES(proc)

ATF_TC(qemu__64_concurrent_isolated__autoclone_devfs24);
ATF_TC_HEAD(qemu__64_concurrent_isolated__autoclone_devfs24, tc)
{
	atf_tc_set_md_var(tc, "descr", "autoclone on a DragonFly 2.4-3.6 "
	    "kernel (DEVFS24 profile: clone handlers, no a_fp, no cdevpriv): "
	    "64 processes run the QEMU 0.10 sequence at once");
}
ATF_TC_BODY(qemu__64_concurrent_isolated__autoclone_devfs24, tc)
{
	kprof = HK_PROFILE_DEVFS24;
	run_64("autoclone");
}

ATF_TC(open__second_open_ebusy_without_shim);
ATF_TC_HEAD(open__second_open_ebusy_without_shim, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "kqemu alone: a second qemu-like open gets EBUSY");
}
ATF_TC_BODY(open__second_open_ebusy_without_shim, tc)
{
	struct ct_proc a, b;
	int fa, fb;

	kboot("");
	ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.engine", "conform"), 0);
	ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
	hk_devfs_sync();
	ct_proc_new(&a, 1000);
	ct_proc_new(&b, 1000);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fa), 0);
	ct_leave();
	ct_enter(&b);
	ATF_CHECK_EQ(ct_open(T, &fb), EBUSY);
	ct_leave();
	ct_enter(&a);
	ATF_REQUIRE_EQ(hk_close(fa), 0);
	ct_leave();
	ct_shutdown_clean();
}

ATF_TC(modes__default_and_forced);
ATF_TC_HEAD(modes__default_and_forced, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "Default mode per kernel profile (MODERN, NOCDEVPRIV, DEVFS24: "
	    "autoclone; LEGACY: proc); a forced mode the kernel cannot do "
	    "fails MOD_LOAD (EOPNOTSUPP, a bad name EINVAL) and attaches "
	    "nothing; as on 5.8.1 kldload still returns 0 and keeps the file, "
	    "whose reference keeps kqemu loaded until it is unloaded");
}
ATF_TC_BODY(modes__default_and_forced, tc)
{
	static const struct {
		enum hk_profile prof;
		const char *force;
		int error;
		const char *mode;
	} c[] = {
		{ HK_PROFILE_MODERN, "", 0, "autoclone" },
		{ HK_PROFILE_NOCDEVPRIV, "", 0, "autoclone" },
		{ HK_PROFILE_DEVFS24, "", 0, "autoclone" },
		{ HK_PROFILE_LEGACY, "", 0, "proc" },
		{ HK_PROFILE_MODERN, "native", 0, "native" },
		{ HK_PROFILE_NOCDEVPRIV, "fp", 0, "fp" },
		{ HK_PROFILE_NOCDEVPRIV, "native", EOPNOTSUPP, NULL },
		{ HK_PROFILE_DEVFS24, "fp", EOPNOTSUPP, NULL },
		{ HK_PROFILE_LEGACY, "autoclone", EOPNOTSUPP, NULL },
		{ HK_PROFILE_LEGACY, "bogus", EINVAL, NULL },
	};
	char buf[32];
	size_t len;
	unsigned i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		ct_boot(T, c[i].force, c[i].prof);
		/* 5.8.1 module_register_init swallows MOD_LOAD's error. */
		ATF_CHECK_EQ_MSG(ct_load(T), 0, "case %u", i);
		ATF_CHECK_EQ_MSG(ct_registered(T), c[i].error == 0,
		    "case %u (MOD_LOAD error %d expected)", i, c[i].error);
		if (c[i].mode != NULL) {
			len = sizeof(buf);
			ATF_REQUIRE_EQ(hk_sysctl("debug.kqemu_clone.mode", buf,
			    &len, NULL, 0), 0);
			ATF_CHECK_STREQ_MSG(buf, c[i].mode, "case %u", i);
		} else {
			long long holders = -1;

			/* Nothing attached: kqemu not held; the empty
			 * kqemu_clone file stays (5.8) and holds kqemu's
			 * file until it is unloaded itself. */
			ATF_CHECK(hk_kld_isloaded("kqemu_clone"));
			ATF_CHECK_EQ(hk_sysctl_int("hw.kqemu.holders",
			    &holders), 0);
			ATF_CHECK_EQ_MSG(holders, 0, "case %u", i);
			ATF_CHECK_EQ(hk_kldunload("kqemu"), 0);
			ATF_CHECK(hk_kld_isloaded("kqemu"));
			ATF_CHECK_EQ(ct_unload_shim(T), 0);
			ATF_CHECK(!hk_kld_isloaded("kqemu_clone"));
			ATF_CHECK(!hk_kld_isloaded("kqemu"));
		}
		ct_shutdown_clean();
	}
}

ATF_TC(unload__kqemu_refused_while_its_device_open);
ATF_TC_HEAD(unload__kqemu_refused_while_its_device_open, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "Found by make fuzz (then through proc mode, which now never "
	    "unloads).  A file of /dev/kqemu with no instance -- here a "
	    "stray of 5.8.1's D_QUICK open path, whose d_open EBUSY is "
	    "dropped -- outlives the instance's file.  kqemu's unload must be "
	    "refused while its device is open: unloading it would leave the "
	    "stray's close to call into unmapped code (on 5.8 destroy_dev "
	    "keeps si_ops)");
}
ATF_TC_BODY(unload__kqemu_refused_while_its_device_open, tc)
{
	struct ct_proc a, b;
	int fd, fs;

	kboot("");
	ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.engine", "conform"), 0);
	ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
	ct_proc_new(&a, 0);
	ct_proc_new(&b, 0);
	ct_enter(&a);
	ATF_REQUIRE_EQ(hk_open("/dev/kqemu", O_RDWR, &fd), 0);
	ct_leave();
	ct_enter(&b);
	ATF_REQUIRE_EQ(hk_open("/dev/kqemu", O_RDWR | HK_O_QUICK, &fs), 0);
	ct_leave();
	ATF_REQUIRE_EQ(hk_proc_exit(a.p, 0), 0);	/* the instance goes */
	ATF_CHECK_EQ(hk_kldunload("kqemu"), EBUSY);
	ATF_CHECK(hk_kld_isloaded("kqemu"));
	ATF_REQUIRE_EQ(hk_proc_exit(b.p, 0), 0);
	ATF_CHECK_EQ(hk_kldunload("kqemu"), 0);
	ct_shutdown_clean();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, open__second_open_ebusy_without_shim);
	ATF_TP_ADD_TC(tp, modes__default_and_forced);
	ATF_TP_ADD_TC(tp, unload__kqemu_refused_while_its_device_open);
	ATF_TP_ADD_TC(tp, qemu__64_concurrent_isolated__autoclone);
	ATF_TP_ADD_TC(tp, qemu__64_concurrent_isolated__fp);
	ATF_TP_ADD_TC(tp, qemu__64_concurrent_isolated__native);
	ATF_TP_ADD_TC(tp, qemu__64_concurrent_isolated__proc);
	ATF_TP_ADD_TC(tp, qemu__64_concurrent_isolated__autoclone_devfs24);
	ATF_TP_ADD_TC(tp, unload__kqemu_held_by_shim__autoclone);
	ATF_TP_ADD_TC(tp, unload__kqemu_held_by_shim__fp);
	ATF_TP_ADD_TC(tp, unload__kqemu_held_by_shim__native);
	ATF_TP_ADD_TC(tp, unload__kqemu_held_by_shim__proc);
	return (atf_no_error());
}
