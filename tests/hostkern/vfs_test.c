/*
 * vfs_test - kernel-context checks of kern_device.c and devfs: dev_ops
 * compile defaults, dev_ops_intercept/restore, the INVARIANTS panic on
 * destroying an intercepted cdev, the vnode lock devfs_spec_open takes
 * (nlookup + cache_vget), and 5.8.1's devfs_clone use-after-free.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/conf.h>
#include <sys/device.h>
#include <sys/devfs.h>
#include <sys/lock.h>
#include <sys/nlookup.h>
#include <sys/vnode.h>

#include "h_common.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

extern struct lock devfs_lock;		/* host kernel internals */
int hk_devfs_inflight(void);

static volatile int my_opens, my_closes;
static struct dev_ops *orig_ops;

static int
my_open(struct dev_open_args *ap)
{
	__atomic_fetch_add(&my_opens, 1, __ATOMIC_SEQ_CST);
	return (orig_ops->d_open(ap));
}

static int
my_close(struct dev_close_args *ap)
{
	__atomic_fetch_add(&my_closes, 1, __ATOMIC_SEQ_CST);
	return (orig_ops->d_close(ap));
}

static struct dev_ops iops = {
	{ "interposer", 0, 0 },
	.d_open = my_open,
	.d_close = my_close,
};

ATF_TC(dev_ops_intercept__copies_head_and_restores);
ATF_TC_HEAD(dev_ops_intercept__copies_head_and_restores, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_device.c dev_ops_intercept: "
	    "compiles iops, copies maj/data/flags from the original, swaps "
	    "si_ops, sets SI_INTERCEPTED; D_TRACKCLOSE set on iops afterwards "
	    "makes d_close per description; dev_ops_restore undoes it all");
}
ATF_TC_BODY(dev_ops_intercept__copies_head_and_restores, tc)
{
	cdev_t dev;
	int a, b;

	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	dev = devfs_find_device_by_name("semcount");
	ATF_REQUIRE(dev != NULL);
	orig_ops = dev_ops_intercept(dev, &iops);
	ATF_CHECK(dev->si_ops == &iops);
	ATF_CHECK(dev->si_flags & SI_INTERCEPTED);
	ATF_CHECK_EQ(iops.head.flags, orig_ops->head.flags);
	ATF_CHECK(iops.head.data == orig_ops->head.data);
	ATF_CHECK(iops.d_ioctl == orig_ops->d_ioctl ||
	    iops.d_ioctl != NULL);		/* compiled: never NULL */
	iops.head.flags |= D_TRACKCLOSE;
	hk_thread_enter(h_proc(0, 0));
	a = h_open("/dev/semcount", O_RDWR);
	b = h_open("/dev/semcount", O_RDWR);
	ATF_REQUIRE_EQ(hk_close(a), 0);
	ATF_CHECK_EQ(my_closes, 1);		/* per description now */
	ATF_REQUIRE_EQ(hk_close(b), 0);
	ATF_CHECK_EQ(my_opens, 2);
	ATF_CHECK_EQ(my_closes, 2);
	dev_ops_restore(dev, orig_ops);
	ATF_CHECK(dev->si_ops == orig_ops);
	ATF_CHECK((dev->si_flags & SI_INTERCEPTED) == 0);
	ATF_CHECK_EQ(iops.head.flags, 0);
	a = h_open("/dev/semcount", O_RDWR);
	ATF_REQUIRE_EQ(hk_close(a), 0);
	ATF_CHECK_EQ(my_opens, 2);
	h_shutdown_clean();
}

ATF_TC(devfs_release_ops__intercepted_destroy_panics);
ATF_TC_HEAD(devfs_release_ops__intercepted_destroy_panics, tc)
{
	atf_tc_set_md_var(tc, "descr", "vfs/devfs/devfs_core.c "
	    "devfs_release_ops: destroying a cdev whose si_ops is an interposer "
	    "devfs never referenced trips assertion found (INVARIANTS)");
}
ATF_TC_BODY(devfs_release_ops__intercepted_destroy_panics, tc)
{
	cdev_t dev;

	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	dev = devfs_find_device_by_name("semcount");
	ATF_REQUIRE(dev != NULL);
	orig_ops = dev_ops_intercept(dev, &iops);
	atf_tc_expect_signal(SIGABRT, "panic: assertion found failed");
	destroy_dev(dev);
	devfs_config();
}

static volatile int q_opens;

static int
q_open(struct dev_open_args *ap)
{
	__atomic_fetch_add(&q_opens, 1, __ATOMIC_SEQ_CST);
	return (EBUSY);
}

static struct dev_ops qops = {
	{ "quick", 0, 0 },
	.d_open = q_open,
	.d_close = my_close,
};

ATF_TC(devfs_spec_open__d_quick_skips_clone_drops_error);
ATF_TC_HEAD(devfs_spec_open__d_quick_skips_clone_drops_error, tc)
{
	atf_tc_set_md_var(tc, "descr", "devfs_vnops.c devfs_spec_open (5.8.1):"
	    " a D_QUICK device takes the quick path: no devfs_clone, and the "
	    "d_open error is dropped (the open succeeds); d_close on its last "
	    "close");
}
ATF_TC_BODY(devfs_spec_open__d_quick_skips_clone_drops_error, tc)
{
	cdev_t dev;
	int fd;

	ATF_REQUIRE_EQ(hk_setenv("semcount.clone", "1"), 0);
	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	dev = devfs_find_device_by_name("semclone");
	ATF_REQUIRE(dev != NULL);
	orig_ops = dev_ops_intercept(dev, &qops);
	qops.head.flags |= D_QUICK;
	hk_thread_enter(h_proc(0, 0));
	fd = h_open("/dev/semclone", O_RDWR);
	ATF_CHECK_EQ(q_opens, 1);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.clones"), 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ATF_CHECK_EQ(my_closes, 1);
	dev_ops_restore(dev, orig_ops);
	h_shutdown_clean();
}

static int
min_open(struct dev_open_args *ap)
{
	return (0);
}

static struct dev_ops min_ops = {
	{ "hkmin", 0, D_MPSAFE },
	.d_open = min_open,
};

ATF_TC(compile_dev_ops__defaults);
ATF_TC_HEAD(compile_dev_ops__defaults, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_device.c compile_dev_ops: "
	    "missing d_* get DragonFly's defaults (ENODEV for close/read/"
	    "write/ioctl, 0 for psize); make_dev nodes appear after devfs syncs");
}
ATF_TC_BODY(compile_dev_ops__defaults, tc)
{
	struct hk_proc *p;
	cdev_t dev;
	char buf[8];
	size_t done;
	int fd, v;

	h_boot(HK_PROFILE_MODERN);
	dev = make_dev(&min_ops, 0, 0, 0, 0600, "hkmin");
	ATF_CHECK(min_ops.d_read != NULL && min_ops.d_close != NULL);
	ATF_CHECK_EQ(dev_dpsize(dev), 0);
	hk_devfs_sync();
	ATF_CHECK(hk_devfs_exists("hkmin"));
	p = h_proc(0, 0);
	hk_thread_enter(p);
	hk_proc_map_user(p, buf, sizeof(buf), 1);
	hk_proc_map_user(p, &v, sizeof(v), 1);
	fd = h_open("/dev/hkmin", O_RDWR);
	ATF_CHECK_EQ(hk_read(fd, buf, sizeof(buf), &done), ENODEV);
	ATF_CHECK_EQ(hk_write(fd, buf, sizeof(buf), &done), ENODEV);
	ATF_CHECK_EQ(hk_ioctl(fd, SEMCOUNT_GETOPENS, &v), ENODEV);
	ATF_CHECK_EQ(hk_close(fd), ENODEV);	/* noclose */
	hk_thread_leave();
	destroy_dev(dev);
	devfs_config();
	ATF_CHECK(!hk_devfs_exists("hkmin"));
	h_shutdown_clean();
}

struct opener {
	struct hk_proc *p;
	const char *path;
	int error;
	int fd;
};

static void *
opener_main(void *arg)
{
	struct opener *o = arg;

	hk_thread_enter(o->p);
	o->error = hk_open(o->path, O_RDWR, &o->fd);
	if (o->error == 0)
		hk_close(o->fd);
	hk_thread_leave();
	return (NULL);
}

ATF_TC(devfs_spec_open__vnode_lock_excludes_clone);
ATF_TC_HEAD(devfs_spec_open__vnode_lock_excludes_clone, tc)
{
	atf_tc_set_md_var(tc, "descr", "devfs_vnops.c devfs_spec_open holds "
	    "the node's vnode lock into devfs_clone: a module holding it "
	    "exclusively (nlookup_init/nlookup/cache_vget LK_EXCLUSIVE) keeps "
	    "every opener out of the clone handler until vn_unlock");
}
ATF_TC_BODY(devfs_spec_open__vnode_lock_excludes_clone, tc)
{
	struct nlookupdata nd;
	struct vnode *vp;
	struct opener o;
	pthread_t t;

	ATF_REQUIRE_EQ(hk_setenv("semcount.clone", "1"), 0);
	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	ATF_REQUIRE_EQ(nlookup_init(&nd, "/dev/semclone", UIO_SYSSPACE,
	    NLC_FOLLOW), 0);
	ATF_REQUIRE_EQ(nlookup(&nd), 0);
	ATF_REQUIRE_EQ(cache_vget(&nd.nl_nch, nd.nl_cred, LK_EXCLUSIVE, &vp),
	    0);
	o.p = h_proc(0, 0);
	o.path = "/dev/semclone";
	o.error = -1;
	ATF_REQUIRE_EQ(pthread_create(&t, NULL, opener_main, &o), 0);
	usleep(100000);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.clones"), 0);
	vn_unlock(vp);
	ATF_REQUIRE_EQ(pthread_join(t, NULL), 0);
	ATF_CHECK_EQ(o.error, 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.clones"), 1);
	vrele(vp);
	nlookup_done(&nd);
	ATF_CHECK_EQ(nlookup_init(&nd, "/etc/passwd", UIO_SYSSPACE, 0), 0);
	ATF_CHECK_EQ(nlookup(&nd), ENOENT);
	nlookup_done(&nd);
	hk_devfs_sync();
	h_shutdown_clean();
}

static int
uaf_clone(struct dev_clone_args *ap)
{
	return (ENXIO);
}

static void *
del_main(void *arg)
{
	devfs_clone_handler_del("semcount");
	return (NULL);
}

static void *
sync_main(void *arg)
{
	devfs_config();
	return (NULL);
}

static void
wait_inflight(int n)
{
	int i;

	for (i = 0; i < 5000 && hk_devfs_inflight() < n; i++)
		usleep(1000);
	ATF_REQUIRE_MSG(hk_devfs_inflight() >= n, "devfs messages %d < %d",
	    hk_devfs_inflight(), n);
}

ATF_TC(devfs_clone__handler_del_in_flight_uses_freed_record);
ATF_TC_HEAD(devfs_clone__handler_del_in_flight_uses_freed_record, tc)
{
	atf_tc_set_md_var(tc, "descr", "5.8.1 kernel bug, modelled: "
	    "devfs_clone drops devfs_lock and runs devfs_config before it reads "
	    "the handler through the record devfs_clone_handler_del frees on "
	    "the devfs thread; an open in flight calls through freed memory");
}
ATF_TC_BODY(devfs_clone__handler_del_in_flight_uses_freed_record, tc)
{
	pthread_t ts, td, to;
	struct opener o;

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
	atf_tc_skip("under TSan the use after free shows as a data race "
	    "report, not a crash; the plain and ASan runs check it");
#endif
#endif
	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	devfs_clone_handler_add("semcount", uaf_clone);
	/* Keep the devfs thread from running messages. */
	lockmgr(&devfs_lock, LK_SHARED);
	pthread_create(&ts, NULL, sync_main, NULL);
	wait_inflight(1);
	pthread_create(&td, NULL, del_main, NULL);	/* queued: DEL */
	wait_inflight(2);
	o.p = h_proc(0, 0);
	o.path = "/dev/semcount";
	pthread_create(&to, NULL, opener_main, &o);	/* queues its SYNC */
	wait_inflight(3);
	atf_tc_expect_signal(-1, "use after free of the handler record");
	lockmgr(&devfs_lock, LK_RELEASE);
	pthread_join(to, NULL);
	pthread_join(td, NULL);
	pthread_join(ts, NULL);
	/* Not reached: the opener crashed (SIGSEGV, or ASan's SIGABRT). */
	atf_tc_fail("the opener survived the freed clone handler record");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, dev_ops_intercept__copies_head_and_restores);
	ATF_TP_ADD_TC(tp, devfs_release_ops__intercepted_destroy_panics);
	ATF_TP_ADD_TC(tp, compile_dev_ops__defaults);
	ATF_TP_ADD_TC(tp, devfs_spec_open__d_quick_skips_clone_drops_error);
	ATF_TP_ADD_TC(tp, devfs_spec_open__vnode_lock_excludes_clone);
	ATF_TP_ADD_TC(tp, devfs_clone__handler_del_in_flight_uses_freed_record);
	return (atf_no_error());
}
