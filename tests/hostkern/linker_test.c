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

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, sys_kldload__errors);
	ATF_TP_ADD_TC(tp, linker_file_unload__veto_keeps_file);
	ATF_TP_ADD_TC(tp, linker_file_sysinit__tunables_and_sysctls);
	return (atf_no_error());
}
