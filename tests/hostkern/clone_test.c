/*
 * clone_test - devfs cloning (devfs_core.c devfs_clone, devfs_vnops.c
 * devfs_spec_open): clone per open, node lifetime, bitmap reuse, profiles.
 */
#include "h_common.h"

#include <fcntl.h>

static void
boot_clone(enum hk_profile profile)
{
	ATF_REQUIRE_EQ(hk_setenv("semcount.clone", "1"), 0);
	h_boot(profile);
	h_load("semcount");
	hk_thread_enter(h_proc(0, 0));
}

ATF_TC(devfs_clone__node_per_open_destroyed_on_close);
ATF_TC_HEAD(devfs_clone__node_per_open_destroyed_on_close, tc)
{
	atf_tc_set_md_var(tc, "descr", "devfs_spec_open/devfs_clone: each "
	    "open with an fp of a node with a clone handler opens a fresh clone "
	    "whose node exists while open; destroy_dev from its d_close removes "
	    "it (on the devfs thread) and the bitmap unit is reused");
}
ATF_TC_BODY(devfs_clone__node_per_open_destroyed_on_close, tc)
{
	int a, b, c;

	boot_clone(HK_PROFILE_MODERN);
	a = h_open("/dev/semclone", O_RDWR);
	b = h_open("/dev/semclone", O_RDWR);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.clones"), 2);
	ATF_CHECK(hk_devfs_exists("semclone0"));
	ATF_CHECK(hk_devfs_exists("semclone1"));
	ATF_REQUIRE_EQ(hk_close(a), 0);
	hk_devfs_sync();
	ATF_CHECK(!hk_devfs_exists("semclone0"));
	ATF_CHECK(hk_devfs_exists("semclone1"));
	c = h_open("/dev/semclone", O_RDWR);
	ATF_CHECK(hk_devfs_exists("semclone0"));
	ATF_REQUIRE_EQ(hk_close(b), 0);
	ATF_REQUIRE_EQ(hk_close(c), 0);
	hk_devfs_sync();
	ATF_CHECK_EQ(h_sysctl("debug.semcount.clones_live"), 0);
	ATF_CHECK(!hk_devfs_exists("semclone0"));
	ATF_CHECK(hk_devfs_exists("semclone"));
	h_shutdown_clean();
}

ATF_TC(devfs_clone__dup_fork_share_one_clone);
ATF_TC_HEAD(devfs_clone__dup_fork_share_one_clone, tc)
{
	atf_tc_set_md_var(tc, "descr", "devfs_spec_open: the file's vnode is "
	    "the clone, so dup and fork share it and its d_close comes once, "
	    "on the last fdrop");
}
ATF_TC_BODY(devfs_clone__dup_fork_share_one_clone, tc)
{
	struct hk_proc *c;
	int fd, d;

	boot_clone(HK_PROFILE_MODERN);
	fd = h_open("/dev/semclone", O_RDWR);
	ATF_REQUIRE_EQ(hk_dup(fd, &d), 0);
	ATF_REQUIRE_EQ(hk_fork(&c), 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_REQUIRE_EQ(hk_close(d), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.clone_closes"), 0);
	ATF_REQUIRE_EQ(hk_proc_exit(c, 0), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.clone_closes"), 1);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.clones"), 1);
	h_shutdown_clean();
}

ATF_TC(devfs_clone__by_name_is_plain_open);
ATF_TC_HEAD(devfs_clone__by_name_is_plain_open, tc)
{
	atf_tc_set_md_var(tc, "descr", "devfs_clone matches the node's exact "
	    "name: opening a clone node by its own name (semclone0) is a plain "
	    "open of that cdev (the driver's own EBUSY), no new clone");
}
ATF_TC_BODY(devfs_clone__by_name_is_plain_open, tc)
{
	int a, b;

	boot_clone(HK_PROFILE_MODERN);
	a = h_open("/dev/semclone", O_RDWR);
	ATF_CHECK_EQ(hk_open("/dev/semclone0", O_RDWR, &b), EBUSY);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.clones"), 1);
	ATF_REQUIRE_EQ(hk_close(a), 0);
	hk_devfs_sync();
	h_shutdown_clean();
}

ATF_TC(devfs_clone__not_in_legacy);
ATF_TC_HEAD(devfs_clone__not_in_legacy, tc)
{
	atf_tc_set_md_var(tc, "descr", "legacy profile (no devfs clone "
	    "handlers, DragonFly < 2.4): devfs_clone_handler_add succeeds but "
	    "never fires; the open reaches the base cdev");
}
ATF_TC_BODY(devfs_clone__not_in_legacy, tc)
{
	int fd;

	boot_clone(HK_PROFILE_LEGACY);
	fd = h_open("/dev/semclone", O_RDWR);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.clones"), 0);
	ATF_CHECK(!hk_devfs_exists("semclone0"));
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_shutdown_clean();
}

ATF_TC(devfs_clone__devfs24_without_a_fp);
ATF_TC_HEAD(devfs_clone__devfs24_without_a_fp, tc)
{
	atf_tc_set_md_var(tc, "descr", "devfs24 profile (2.4-3.6): the open "
	    "clones (the VOP carries the fp) but dev args have no a_fp");
}
ATF_TC_BODY(devfs_clone__devfs24_without_a_fp, tc)
{
	int fd;

	boot_clone(HK_PROFILE_DEVFS24);
	fd = h_open("/dev/semclone", O_RDWR);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.clones"), 1);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.opens_fp"), 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	hk_devfs_sync();
	ATF_CHECK(!hk_devfs_exists("semclone0"));
	h_shutdown_clean();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, devfs_clone__node_per_open_destroyed_on_close);
	ATF_TP_ADD_TC(tp, devfs_clone__dup_fork_share_one_clone);
	ATF_TP_ADD_TC(tp, devfs_clone__by_name_is_plain_open);
	ATF_TP_ADD_TC(tp, devfs_clone__not_in_legacy);
	ATF_TP_ADD_TC(tp, devfs_clone__devfs24_without_a_fp);
	return (atf_no_error());
}
