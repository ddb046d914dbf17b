/*
 * linker_test - kldload/kldunload rules (kern/kern_linker.c sys_kldload,
 * sys_kldunload, linker_file_unload), sysctl registration with the
 * module's lifetime (kern/kern_sysctl.c), and the unload's wait for
 * threads dev_d* sent into the module's code.
 */
#include "h_common.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

ATF_TC(sys_kldload__errors);
ATF_TC_HEAD(sys_kldload__errors, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern_linker.c linker_load_module: "
	    "ENOENT for an unknown file, EEXIST when already loaded; "
	    "sys_kldunload: ENOENT when not loaded");
}
ATF_TC_BODY(sys_kldload__errors, tc)
{
	h_boot(HK_PROFILE_MODERN);
	ATF_CHECK_EQ(hk_kldload("nosuchmodule", NULL), ENOENT);
	ATF_CHECK_EQ(hk_kldunload("semcount"), ENOENT);
	h_load("semcount");
	ATF_CHECK_EQ(hk_kldload("semcount", NULL), EEXIST);
	ATF_CHECK(hk_kld_isloaded("semcount"));
	ATF_CHECK_EQ(hk_kldunload("semcount"), 0);
	ATF_CHECK(!hk_kld_isloaded("semcount"));
	h_shutdown_clean();
}

ATF_TC(linker_file_unload__veto_keeps_file);
ATF_TC_HEAD(linker_file_unload__veto_keeps_file, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern_linker.c linker_file_unload: a "
	    "MOD_UNLOAD veto (EBUSY while a device is open) keeps the file, "
	    "sys_kldunload restores the user reference so a later unload works");
}
ATF_TC_BODY(linker_file_unload__veto_keeps_file, tc)
{
	int fd;

	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	hk_thread_enter(h_proc(0, 0));
	fd = h_open("/dev/semcount", O_RDWR);
	ATF_CHECK_EQ(hk_kldunload("semcount"), EBUSY);
	ATF_CHECK(hk_kld_isloaded("semcount"));
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_CHECK_EQ(hk_kldunload("semcount"), 0);
	ATF_CHECK(!hk_kld_isloaded("semcount"));
	ATF_CHECK(!hk_devfs_exists("semcount"));
	h_shutdown_clean();
}

ATF_TC(linker_file_sysinit__tunables_and_sysctls);
ATF_TC_HEAD(linker_file_sysinit__tunables_and_sysctls, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern_linker.c linker_load_file: "
	    "TUNABLE_INT from kenv before MOD_LOAD, static SYSCTLs registered "
	    "at load and gone at unload; kern_sysctl.c size query and ENOMEM "
	    "on a short buffer with the full length");
}
ATF_TC_BODY(linker_file_sysinit__tunables_and_sysctls, tc)
{
	char buf[4];
	size_t len;
	int v;

	h_boot(HK_PROFILE_DEVFS24);
	ATF_CHECK_EQ(h_sysctl("kern.osreldate"), 200400);
	ATF_REQUIRE_EQ(hk_setenv("semcount.clone", "1"), 0);
	h_load("semcount");
	ATF_CHECK_EQ(h_sysctl("debug.semcount.version"), 200400);
	ATF_CHECK(hk_devfs_exists("semclone"));
	len = 0;
	ATF_REQUIRE_EQ(hk_sysctl("debug.semcount.opens", NULL, &len, NULL, 0),
	    0);
	ATF_CHECK_EQ(len, sizeof(int));
	len = sizeof(v);
	v = 7;
	ATF_CHECK_EQ(hk_sysctl("debug.semcount.opens", NULL, NULL, &v,
	    sizeof(v)), EPERM);
	len = sizeof(buf);
	ATF_CHECK_EQ(hk_sysctl("kern.osrelease", buf, &len, NULL, 0), ENOMEM);
	ATF_CHECK(len > sizeof(buf));
	ATF_CHECK_EQ(hk_kldunload("semcount"), 0);
	len = sizeof(v);
	ATF_CHECK_EQ(hk_sysctl("debug.semcount.opens", &v, &len, NULL, 0),
	    ENOENT);
	h_shutdown_clean();
}


ATF_TC(linker_load_dependencies__holds_reference);
ATF_TC_HEAD(linker_load_dependencies__holds_reference, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern_linker.c linker_load_dependencies"
	    " + linker_file_unload: MODULE_DEPEND holds a reference on the "
	    "dependency's file; kldunload of a file with 2 references drops one "
	    "and returns 0 with the file loaded; without a user reference EBUSY");
}
ATF_TC_BODY(linker_load_dependencies__holds_reference, tc)
{
	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	h_load("hkdep");
	ATF_CHECK_EQ(hk_kldunload("semcount"), 0);
	ATF_CHECK(hk_kld_isloaded("semcount"));
	ATF_CHECK_EQ(hk_kldunload("semcount"), EBUSY);
	ATF_CHECK_EQ(hk_kldunload("hkdep"), 0);
	ATF_CHECK(!hk_kld_isloaded("hkdep"));
	ATF_CHECK(!hk_kld_isloaded("semcount"));
	h_shutdown_clean();
}

ATF_TC(linker_load_dependencies__loads_dependency_first);
ATF_TC_HEAD(linker_load_dependencies__loads_dependency_first, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern_linker.c linker_load_dependencies:"
	    " loading hkdep loads semcount first (no user reference on it, so "
	    "kldunload semcount is EBUSY); unloading hkdep unloads it");
}
ATF_TC_BODY(linker_load_dependencies__loads_dependency_first, tc)
{
	h_boot(HK_PROFILE_MODERN);
	h_load("hkdep");
	ATF_CHECK(hk_kld_isloaded("semcount"));
	ATF_CHECK(hk_devfs_exists("semcount"));
	ATF_CHECK_EQ(hk_kldunload("semcount"), EBUSY);
	ATF_CHECK_EQ(hk_kldunload("hkdep"), 0);
	ATF_CHECK(!hk_kld_isloaded("semcount"));
	h_shutdown_clean();
}

ATF_TC(linker_file_unload__veto_drops_reference);
ATF_TC_HEAD(linker_file_unload__veto_drops_reference, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern_linker.c linker_file_unload: a "
	    "module whose MOD_UNLOAD vetoes still loses a file reference (the "
	    "next kldunload reaches MOD_UNLOAD again); the user reference is "
	    "restored by sys_kldunload");
}
ATF_TC_BODY(linker_file_unload__veto_drops_reference, tc)
{
	int zero = 0;

	ATF_REQUIRE_EQ(hk_setenv("hkdep.veto", "1"), 0);
	h_boot(HK_PROFILE_MODERN);
	h_load("hkdep");
	ATF_CHECK_EQ(hk_kldunload("hkdep"), EBUSY);
	ATF_CHECK_EQ(hk_kldunload("hkdep"), EBUSY);
	ATF_CHECK_EQ(h_sysctl("debug.hkdep.unload_calls"), 2);
	ATF_CHECK(hk_kld_isloaded("hkdep"));
	ATF_REQUIRE_EQ(hk_sysctl("debug.hkdep.veto", NULL, NULL, &zero,
	    sizeof(zero)), 0);
	ATF_CHECK_EQ(hk_kldunload("hkdep"), 0);
	ATF_CHECK(!hk_kld_isloaded("hkdep"));
	ATF_CHECK(!hk_kld_isloaded("semcount"));
	h_shutdown_clean();
}

ATF_TC(module_register_init__mod_load_failure);
ATF_TC_HEAD(module_register_init__mod_load_failure, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern_module.c module_register_init "
	    "(a void SYSINIT): a MOD_LOAD error gets MOD_UNLOAD and the module "
	    "is released; kern_linker.c linker_load_file still links the file "
	    "and kldload returns 0 (5.8.1): the file and its dependency stay "
	    "loaded, its sysctls stay, modfind fails, and the empty file "
	    "unloads (with its dependency)");
}
ATF_TC_BODY(module_register_init__mod_load_failure, tc)
{
	ATF_REQUIRE_EQ(hk_setenv("hkdep.fail_load", "5"), 0);
	h_boot(HK_PROFILE_MODERN);
	ATF_CHECK_EQ(hk_kldload("hkdep", NULL), 0);
	ATF_CHECK(hk_kld_isloaded("hkdep"));
	ATF_CHECK_EQ(hk_modfind("hkdep"), ENOENT);
	ATF_CHECK(hk_kld_isloaded("semcount"));
	ATF_CHECK_EQ(hk_modfind("semcount"), 0);
	ATF_CHECK_EQ(h_sysctl("debug.hkdep.unload_calls"), 1);
	ATF_CHECK_EQ(hk_kldload("hkdep", NULL), EEXIST);
	ATF_CHECK_EQ(hk_kldunload("hkdep"), 0);
	ATF_CHECK(!hk_kld_isloaded("hkdep"));
	ATF_CHECK(!hk_kld_isloaded("semcount"));
	ATF_CHECK(!hk_devfs_exists("semcount"));
	h_shutdown_clean();
}

ATF_TC(linker_file_unload__dangling_cdev_reported);
ATF_TC_HEAD(linker_file_unload__dangling_cdev_reported, tc)
{
	atf_tc_set_md_var(tc, "descr", "a module unloaded while a live cdev "
	    "still uses its dev_ops (a panic waiting to happen on DragonFly) is "
	    "reported at kldunload and by hk_shutdown");
}
ATF_TC_BODY(linker_file_unload__dangling_cdev_reported, tc)
{
	struct hk_leaks lk;

	ATF_REQUIRE_EQ(hk_setenv("hkdep.leak_dev", "1"), 0);
	h_boot(HK_PROFILE_MODERN);
	h_load("hkdep");
	ATF_CHECK(hk_devfs_exists("hkdep"));
	ATF_CHECK_EQ(hk_kldunload("hkdep"), 0);
	ATF_REQUIRE_EQ(hk_shutdown(&lk), 0);
	ATF_CHECK(lk.cdevs >= 2);	/* the report and the cdev itself */
}

/*
 * An opener held where dev_dopen has loaded hkdep's interposer from
 * semcount's si_ops but not yet called it: where only an interrupt stops a
 * DragonFly kernel thread.
 */
static atomic_int hold_armed, hold_in;
static int hold_ms;

static void
hold_in_hkdep(const void *fn)
{
	const char *m = hk_addr_module_name(fn);

	if (m == NULL || strcmp(m, "hkdep") != 0 ||
	    !atomic_exchange(&hold_armed, 0))
		return;
	atomic_store(&hold_in, 1);
	usleep(hold_ms * 1000);
}

struct opener {
	struct hk_proc *p;
	int error;
};

static void *
opener_run(void *v)
{
	struct opener *o = v;
	int fd = -1;

	if (hk_thread_enter(o->p) != 0)
		return (NULL);
	o->error = hk_open("/dev/semcount", O_RDWR, &fd);
	if (o->error == 0)
		(void)hk_close(fd);
	hk_thread_leave();
	return (NULL);
}

static long
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1000L + ts.tv_nsec / 1000000);
}

/* Start an opener, held in dev_dopen with hkdep's d_open loaded. */
static void
start_held_opener(pthread_t *th, struct opener *o, int ms)
{
	ATF_REQUIRE_EQ(hk_setenv("hkdep.intercept", "1"), 0);
	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	h_load("hkdep");
	hold_ms = ms;
	atomic_store(&hold_in, 0);
	atomic_store(&hold_armed, 1);
	hk_set_dispatch_pause(hold_in_hkdep);
	o->p = h_proc(0, 0);
	o->error = -1;
	ATF_REQUIRE_EQ(pthread_create(th, NULL, opener_run, o), 0);
	while (!atomic_load(&hold_in))
		usleep(1000);
}

ATF_TC(linker_file_unload__waits_for_dispatched_thread);
ATF_TC_HEAD(linker_file_unload__waits_for_dispatched_thread, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern_device.c dev_dopen: a thread "
	    "that loaded a module's d_open from si_ops runs into it before the "
	    "module's unload (restore, drain) can finish on DragonFly (LWKT: "
	    "no preemption but by interrupts); the host linker waits for such "
	    "a thread before it unmaps the file, so an opener held there "
	    "across kldunload runs the old code and reaches semcount (without "
	    "the wait it jumps into unmapped text)");
}
ATF_TC_BODY(linker_file_unload__waits_for_dispatched_thread, tc)
{
	struct opener o;
	pthread_t th;
	long t0;

	start_held_opener(&th, &o, 300);
	t0 = ms_now();
	ATF_CHECK_EQ(hk_kldunload("hkdep"), 0);
	ATF_CHECK_MSG(ms_now() - t0 >= 200, "unload took %ld ms: it did not "
	    "wait for the held opener", ms_now() - t0);
	ATF_CHECK(!hk_kld_isloaded("hkdep"));
	ATF_REQUIRE_EQ(pthread_join(th, NULL), 0);
	ATF_CHECK_EQ(o.error, 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.opens"), 1);
	hk_set_dispatch_pause(NULL);
	/* The unload with no thread inside does not wait. */
	h_load("hkdep");
	t0 = ms_now();
	ATF_CHECK_EQ(hk_kldunload("hkdep"), 0);
	ATF_CHECK(ms_now() - t0 < 200);
	h_shutdown_clean();
}

ATF_TC(linker_file_unload__thread_left_in_module_reported);
ATF_TC_HEAD(linker_file_unload__thread_left_in_module_reported, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern_linker.c linker_file_unload: "
	    "a thread still in a device call into the file when the wait "
	    "(hk_set_unload_drain_ms) ends would run freed code on DragonFly: "
	    "reported, and the file left mapped so the thread survives");
}
ATF_TC_BODY(linker_file_unload__thread_left_in_module_reported, tc)
{
	struct hk_leaks lk;
	struct opener o;
	pthread_t th;

	start_held_opener(&th, &o, 600);
	hk_set_unload_drain_ms(50);
	ATF_CHECK_EQ(hk_kldunload("hkdep"), 0);
	ATF_CHECK(!hk_kld_isloaded("hkdep"));
	ATF_REQUIRE_EQ(pthread_join(th, NULL), 0);
	ATF_CHECK_EQ(o.error, 0);
	hk_set_dispatch_pause(NULL);
	ATF_REQUIRE_EQ(hk_shutdown(&lk), 0);
	ATF_CHECK(lk.cdevs >= 1);	/* the report */
}

ATF_TC(sysctl_proc__growing_output_and_dynamic_oids);
ATF_TC_HEAD(sysctl_proc__growing_output_and_dynamic_oids, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern_sysctl.c: a SYSCTL_PROC handler "
	    "calling SYSCTL_OUT repeatedly (size query, full read, ENOMEM on a "
	    "short buffer), a loader tunable, writes to RW "
	    "oids, and sysctl_ctx oids removed with the module");
}
ATF_TC_BODY(sysctl_proc__growing_output_and_dynamic_oids, tc)
{
	char buf[64], small[8];
	size_t len;
	int five = 5;

	ATF_REQUIRE_EQ(hk_setenv("hkdep.value", "42"), 0);
	h_boot(HK_PROFILE_MODERN);
	h_load("hkdep");
	ATF_CHECK_EQ(h_sysctl("debug.hkdep.value"), 42);
	ATF_CHECK_EQ(h_sysctl("debug.hkdyn.x"), 7);
	len = 0;
	ATF_REQUIRE_EQ(hk_sysctl("debug.hkdep.list", NULL, &len, NULL, 0), 0);
	ATF_CHECK_EQ(len, 3 * 7 + 1);
	len = sizeof(buf);
	ATF_REQUIRE_EQ(hk_sysctl("debug.hkdep.list", buf, &len, NULL, 0), 0);
	ATF_CHECK_STREQ(buf, "line 0\nline 1\nline 2\n");
	len = sizeof(small);
	ATF_CHECK_EQ(hk_sysctl("debug.hkdep.list", small, &len, NULL, 0),
	    ENOMEM);
	/* The handler stops at its first failing SYSCTL_OUT. */
	ATF_CHECK(len > sizeof(small));
	ATF_REQUIRE_EQ(hk_sysctl("debug.hkdep.lines", NULL, NULL, &five,
	    sizeof(five)), 0);
	len = 0;
	ATF_REQUIRE_EQ(hk_sysctl("debug.hkdep.list", NULL, &len, NULL, 0), 0);
	ATF_CHECK_EQ(len, 5 * 7 + 1);
	ATF_CHECK_EQ(hk_kldunload("hkdep"), 0);
	len = sizeof(buf);
	ATF_CHECK_EQ(hk_sysctl("debug.hkdyn.x", buf, &len, NULL, 0), ENOENT);
	ATF_CHECK_EQ(hk_sysctl("debug.hkdep.list", buf, &len, NULL, 0),
	    ENOENT);
	h_shutdown_clean();
}

ATF_TC(hk_boot__reboot_in_one_process);
ATF_TC_HEAD(hk_boot__reboot_in_one_process, tc)
{
	atf_tc_set_md_var(tc, "descr", "hk_shutdown unloads (dlcloses) every "
	    "module, so a second hk_boot in the same process starts from a "
	    "fresh kernel: the module's static counters start at zero again");
}
ATF_TC_BODY(hk_boot__reboot_in_one_process, tc)
{
	int fd;

	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	hk_thread_enter(h_proc(0, 0));
	fd = h_open("/dev/semcount", O_RDWR);
	(void)fd;
	ATF_CHECK_EQ(h_sysctl("debug.semcount.opens"), 1);
	h_shutdown_clean();
	h_boot(HK_PROFILE_LEGACY);
	ATF_CHECK_EQ(h_sysctl("kern.osreldate"), 100800);
	h_load("semcount");
	ATF_CHECK_EQ(h_sysctl("debug.semcount.opens"), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.version"), 100800);
	h_shutdown_clean();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, sys_kldload__errors);
	ATF_TP_ADD_TC(tp, hk_boot__reboot_in_one_process);
	ATF_TP_ADD_TC(tp, linker_file_unload__veto_keeps_file);
	ATF_TP_ADD_TC(tp, linker_file_sysinit__tunables_and_sysctls);
	ATF_TP_ADD_TC(tp, linker_load_dependencies__holds_reference);
	ATF_TP_ADD_TC(tp, linker_load_dependencies__loads_dependency_first);
	ATF_TP_ADD_TC(tp, linker_file_unload__veto_drops_reference);
	ATF_TP_ADD_TC(tp, module_register_init__mod_load_failure);
	ATF_TP_ADD_TC(tp, linker_file_unload__dangling_cdev_reported);
	ATF_TP_ADD_TC(tp, linker_file_unload__waits_for_dispatched_thread);
	ATF_TP_ADD_TC(tp, linker_file_unload__thread_left_in_module_reported);
	ATF_TP_ADD_TC(tp, sysctl_proc__growing_output_and_dynamic_oids);
	return (atf_no_error());
}
