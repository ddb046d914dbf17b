/*
 * linker_test - kldload/kldunload rules (kern/kern_linker.c sys_kldload,
 * sys_kldunload, linker_file_unload) and sysctl registration with the
 * module's lifetime (kern/kern_sysctl.c).
 */
#include "h_common.h"

#include <fcntl.h>
#include <string.h>

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
	ATF_TP_ADD_TC(tp, sysctl_proc__growing_output_and_dynamic_oids);
	return (atf_no_error());
}
