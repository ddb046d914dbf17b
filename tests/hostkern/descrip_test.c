/*
 * descrip_test - descriptors and the devfs close path: D_TRACKCLOSE vs the
 * device's last close, dup and fork sharing one open file description,
 * a_fp per profile.  Measured with the semcount test KLD.
 */
#include "h_common.h"

#include <fcntl.h>

ATF_TC(devfs_spec_close__trackclose_once_per_description);
ATF_TC_HEAD(devfs_spec_close__trackclose_once_per_description, tc)
{
	atf_tc_set_md_var(tc, "descr", "vfs/devfs/devfs_vnops.c "
	    "devfs_spec_close + kern_descrip.c fdrop: with D_TRACKCLOSE "
	    "d_close runs once per open file description, on its last fdrop");
}
ATF_TC_BODY(devfs_spec_close__trackclose_once_per_description, tc)
{
	int a, b, d;

	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	hk_thread_enter(h_proc(0, 0));
	a = h_open("/dev/semcount_tc", O_RDWR);
	b = h_open("/dev/semcount_tc", O_RDWR);
	ATF_REQUIRE_EQ(hk_dup(a, &d), 0);
	ATF_REQUIRE_EQ(hk_close(a), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes_tc"), 0);
	ATF_REQUIRE_EQ(hk_close(d), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes_tc"), 1);
	ATF_REQUIRE_EQ(hk_close(b), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes_tc"), 2);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes_fp"), 2);
	h_shutdown_clean();
}

ATF_TC(devfs_spec_close__plain_last_close_only);
ATF_TC_HEAD(devfs_spec_close__plain_last_close_only, tc)
{
	atf_tc_set_md_var(tc, "descr", "vfs/devfs/devfs_vnops.c "
	    "devfs_spec_close: without D_TRACKCLOSE d_close runs only on the "
	    "device's last close (opencount == 1)");
}
ATF_TC_BODY(devfs_spec_close__plain_last_close_only, tc)
{
	int a, b;

	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	hk_thread_enter(h_proc(0, 0));
	a = h_open("/dev/semcount", O_RDWR);
	b = h_open("/dev/semcount", O_RDONLY);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.opens"), 2);
	ATF_REQUIRE_EQ(hk_close(a), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes"), 0);
	ATF_REQUIRE_EQ(hk_close(b), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes"), 1);
	h_shutdown_clean();
}

ATF_TC(fdcopy__child_close_not_last);
ATF_TC_HEAD(fdcopy__child_close_not_last, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_fork.c + kern_descrip.c "
	    "fdcopy: a forked child shares the open file; its close is not the "
	    "last one, the parent's is; at_fork ran once");
}
ATF_TC_BODY(fdcopy__child_close_not_last, tc)
{
	struct hk_proc *parent, *child;
	int fd;

	h_boot(HK_PROFILE_MODERN);
	parent = h_proc(0, 0);
	h_load("semcount");
	hk_thread_enter(parent);
	fd = h_open("/dev/semcount_tc", O_RDWR);
	ATF_REQUIRE_EQ(hk_fork(&child), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.forks"), 1);
	hk_thread_leave();
	hk_thread_enter(child);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes_tc"), 0);
	hk_thread_leave();
	hk_thread_enter(parent);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes_tc"), 1);
	h_shutdown_clean();
}

ATF_TC(close__bad_descriptor);
ATF_TC_HEAD(close__bad_descriptor, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_descrip.c kern_close, "
	    "kern_dup, sys_generic.c sys_ioctl: EBADF for a descriptor not "
	    "open; ENOENT for a missing node");
}
ATF_TC_BODY(close__bad_descriptor, tc)
{
	int fd, nfd;

	h_boot(HK_PROFILE_MODERN);
	hk_thread_enter(h_proc(0, 0));
	ATF_CHECK_EQ(hk_close(7), EBADF);
	ATF_CHECK_EQ(hk_dup(7, &nfd), EBADF);
	ATF_CHECK_EQ(hk_ioctl(7, SEMCOUNT_GETOPENS, NULL), EBADF);
	ATF_CHECK_EQ(hk_open("/dev/nosuchdev", O_RDWR, &fd), ENOENT);
	h_shutdown_clean();
}

static void
afp_case(enum hk_profile profile, int expect_fp)
{
	int fd;

	h_boot(profile);
	h_load("semcount");
	hk_thread_enter(h_proc(0, 0));
	fd = h_open("/dev/semcount_tc", O_RDWR);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.opens_fp"), expect_fp);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes_fp"), expect_fp);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes_nofp"), !expect_fp);
	h_shutdown_clean();
}

ATF_TC(dev_dopen__a_fp_modern);
ATF_TC_HEAD(dev_dopen__a_fp_modern, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_device.c dev_dopen/"
	    "dev_dclose: a_fp is the file in the modern and nocdevpriv "
	    "profiles");
}
ATF_TC_BODY(dev_dopen__a_fp_modern, tc)
{
	afp_case(HK_PROFILE_MODERN, 1);
}

ATF_TC(dev_dopen__a_fp_nocdevpriv);
ATF_TC_HEAD(dev_dopen__a_fp_nocdevpriv, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_device.c dev_dopen: a_fp "
	    "is the file in the nocdevpriv profile");
}
ATF_TC_BODY(dev_dopen__a_fp_nocdevpriv, tc)
{
	afp_case(HK_PROFILE_NOCDEVPRIV, 1);
}

ATF_TC(dev_dopen__no_a_fp_legacy);
ATF_TC_HEAD(dev_dopen__no_a_fp_legacy, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_device.c dev_dopen "
	    "(DragonFly 1.8): no fp in any dev args in the legacy profile");
}
ATF_TC_BODY(dev_dopen__no_a_fp_legacy, tc)
{
	afp_case(HK_PROFILE_LEGACY, 0);
}

ATF_TC(dev_dopen__no_a_fp_devfs24);
ATF_TC_HEAD(dev_dopen__no_a_fp_devfs24, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_device.c dev_dopen "
	    "(DragonFly 2.4-3.6): no a_fp in the devfs24 profile");
}
ATF_TC_BODY(dev_dopen__no_a_fp_devfs24, tc)
{
	afp_case(HK_PROFILE_DEVFS24, 0);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, devfs_spec_close__trackclose_once_per_description);
	ATF_TP_ADD_TC(tp, devfs_spec_close__plain_last_close_only);
	ATF_TP_ADD_TC(tp, fdcopy__child_close_not_last);
	ATF_TP_ADD_TC(tp, close__bad_descriptor);
	ATF_TP_ADD_TC(tp, dev_dopen__a_fp_modern);
	ATF_TP_ADD_TC(tp, dev_dopen__a_fp_nocdevpriv);
	ATF_TP_ADD_TC(tp, dev_dopen__no_a_fp_legacy);
	ATF_TP_ADD_TC(tp, dev_dopen__no_a_fp_devfs24);
	return (atf_no_error());
}
