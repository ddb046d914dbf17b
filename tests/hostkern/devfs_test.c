/*
 * devfs_test - devfs per-file data (cdevpriv) with DragonFly's errors and
 * destructor timing, per profile; ioctl argument copying and a_fflag.
 */
#include "h_common.h"

#include <fcntl.h>

static void
boot_priv(enum hk_profile profile, int fail_open)
{
	ATF_REQUIRE_EQ(hk_setenv("semcount.cdevpriv", "1"), 0);
	if (fail_open)
		ATF_REQUIRE_EQ(hk_setenv("semcount.fail_open", "1"), 0);
	h_boot(profile);
	h_load("semcount");
	hk_thread_enter(h_proc(0, 0));
}

ATF_TC(cdevpriv__dtor_after_close_on_last_fdrop);
ATF_TC_HEAD(cdevpriv__dtor_after_close_on_last_fdrop, tc)
{
	atf_tc_set_md_var(tc, "descr", "vfs/devfs/devfs_core.c "
	    "devfs_set_cdevpriv + devfs_vnops.c devfs_fo_close: the destructor "
	    "runs once, after d_close, on the last fdrop (not on a dup's close)");
}
ATF_TC_BODY(cdevpriv__dtor_after_close_on_last_fdrop, tc)
{
	int fd, d;

	boot_priv(HK_PROFILE_MODERN, 0);
	fd = h_open("/dev/semcount_tc", O_RDWR);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.privs"), 1);
	ATF_REQUIRE_EQ(hk_dup(fd, &d), 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.dtors"), 0);
	ATF_REQUIRE_EQ(hk_close(d), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.dtors"), 1);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.dtor_after_close"), 1);
	h_shutdown_clean();
}

ATF_TC(cdevpriv__enoent_without_capability);
ATF_TC_HEAD(cdevpriv__enoent_without_capability, tc)
{
	atf_tc_set_md_var(tc, "descr", "devfs_set_cdevpriv (absent before "
	    "3.8): in the nocdevpriv, devfs24 and legacy profiles it returns "
	    "ENOENT and no destructor ever runs");
}
ATF_TC_BODY(cdevpriv__enoent_without_capability, tc)
{
	int fd;

	boot_priv(HK_PROFILE_NOCDEVPRIV, 0);
	fd = h_open("/dev/semcount_tc", O_RDWR);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.privs"), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.priv_errors"), 1);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.dtors"), 0);
	h_shutdown_clean();
}

ATF_TC(cdevpriv__dtor_not_run_on_failed_open);
ATF_TC_HEAD(cdevpriv__dtor_not_run_on_failed_open, tc)
{
	atf_tc_set_md_var(tc, "descr", "devfs_spec_open: when d_open fails "
	    "after devfs_set_cdevpriv the destructor never runs (5.8 leaks the "
	    "record; the host reports it as a module bug)");
}
ATF_TC_BODY(cdevpriv__dtor_not_run_on_failed_open, tc)
{
	struct hk_leaks lk;
	int fd;

	boot_priv(HK_PROFILE_MODERN, 1);
	ATF_CHECK_EQ(hk_open("/dev/semcount_tc", O_RDWR, &fd), EIO);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.privs"), 1);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.dtors"), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes_tc"), 0);
	hk_thread_leave();
	ATF_REQUIRE_EQ(hk_shutdown(&lk), 0);
	/* Two reports: the cdevpriv left on the failed open, and semcount's
	 * record (its destructor never ran) still allocated at unload. */
	ATF_CHECK_EQ(lk.cdevs, 2);
	ATF_CHECK_EQ(lk.kmalloc_count, 1);
}

ATF_TC(sys_ioctl__copy_in_out_and_fflag);
ATF_TC_HEAD(sys_ioctl__copy_in_out_and_fflag, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/sys_generic.c mapped_ioctl: "
	    "IOC_IN copied in, IOC_OUT copied out after success, the file's "
	    "open mode as a_fflag, ENOTTY from the device, EFAULT on a bad "
	    "user pointer");
}
ATF_TC_BODY(sys_ioctl__copy_in_out_and_fflag, tc)
{
	struct hk_proc *p;
	int fd, v[4] = { 1, 2, 3, 4 }, out = 0;

	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	p = h_proc(0, 0);
	hk_thread_enter(p);
	hk_proc_map_user(p, v, sizeof(v), 1);
	hk_proc_map_user(p, &out, sizeof(out), 1);
	fd = h_open("/dev/semcount", O_RDONLY);
	ATF_REQUIRE_EQ(hk_ioctl(fd, SEMCOUNT_ADD, v), 0);
	ATF_CHECK(v[0] == 2 && v[3] == 5);
	ATF_REQUIRE_EQ(hk_ioctl(fd, SEMCOUNT_FFLAG, &out), 0);
	ATF_CHECK_EQ(out, 0x0001);	/* FREAD */
	ATF_CHECK_EQ(hk_ioctl(fd, 0x20007363UL /* _IO('s', 99) */, NULL),
	    ENOTTY);
	ATF_CHECK_EQ(hk_ioctl(fd, SEMCOUNT_ADD, (char *)v + 8), EFAULT);
	ATF_CHECK_EQ(hk_ioctl(fd, SEMCOUNT_GETOPENS, (void *)8), EFAULT);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_shutdown_clean();
}

ATF_TC(uiomove__read_write_efault);
ATF_TC_HEAD(uiomove__read_write_efault, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_subr.c uiomove + "
	    "copyout/copyin: reads land in user memory, a buffer outside the "
	    "process's user ranges gets EFAULT, never a crash");
}
ATF_TC_BODY(uiomove__read_write_efault, tc)
{
	struct hk_proc *p;
	char buf[32] = { 0 };
	size_t done = 0;
	int fd;

	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	p = h_proc(0, 0);
	hk_thread_enter(p);
	fd = h_open("/dev/semcount", O_RDWR);
	ATF_CHECK_EQ(hk_read(fd, buf, sizeof(buf), &done), EFAULT);
	hk_proc_map_user(p, buf, sizeof(buf), 1);
	ATF_REQUIRE_EQ(hk_read(fd, buf, sizeof(buf), &done), 0);
	ATF_CHECK_EQ(done, 9);
	ATF_CHECK_STREQ(buf, "semcount\n");
	ATF_REQUIRE_EQ(hk_write(fd, buf, 9, &done), 0);
	ATF_CHECK_EQ(done, 9);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_REQUIRE_EQ(hk_proc_unmap_user(p, buf), 0);
	hk_proc_map_user(p, buf, sizeof(buf), 0);
	fd = h_open("/dev/semcount", O_RDWR);
	ATF_CHECK_EQ(hk_read(fd, buf, 4, &done), EFAULT);	/* read-only */
	ATF_REQUIRE_EQ(hk_write(fd, buf, 4, &done), 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_shutdown_clean();
}

ATF_TC(vn_open__permissions);
ATF_TC_HEAD(vn_open__permissions, tc)
{
	atf_tc_set_md_var(tc, "descr", "vn_open/VOP_ACCESS on a devfs node: "
	    "mode bits against the opener's uid/gid; root passes");
}
ATF_TC_BODY(vn_open__permissions, tc)
{
	int fd;

	h_boot(HK_PROFILE_MODERN);
	ATF_REQUIRE_EQ(hk_setenv("semcount.clone", "1"), 0);
	h_load("semcount");
	hk_thread_enter(h_proc(1000, 1000));
	/* semcount is 0666; clones of semclone are 0600 root but the base
	 * node is 0666 and the open proceeds on the clone. */
	fd = h_open("/dev/semcount", O_RDWR);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	hk_devfs_sync();
	h_shutdown_clean();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, cdevpriv__dtor_after_close_on_last_fdrop);
	ATF_TP_ADD_TC(tp, cdevpriv__enoent_without_capability);
	ATF_TP_ADD_TC(tp, cdevpriv__dtor_not_run_on_failed_open);
	ATF_TP_ADD_TC(tp, sys_ioctl__copy_in_out_and_fflag);
	ATF_TP_ADD_TC(tp, uiomove__read_write_efault);
	ATF_TP_ADD_TC(tp, vn_open__permissions);
	return (atf_no_error());
}
