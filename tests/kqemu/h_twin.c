/*
 * h_twin.c - test-only kernel module (host kernel only, never shipped).
 *
 * Owns: a second cdev, "kqemu_twin", made with kqemu's own dev_ops -- what
 * kqemu_clone's clones are -- so kqemu_test can check that two cdevs get
 * two isolated instances, and kqemu's MOD_UNLOAD vetoes: while this module
 * holds kqemu (kqemu_hold, loader tunable h_twin.hold, default 1), while
 * it intercepts kqemu's cdev (h_twin.intercept, default 0: a forwarding
 * interposer installed with dev_ops_intercept), and while an instance
 * lives on the twin.
 *
 * Its own MOD_UNLOAD refuses (EBUSY) while the twin is open, then restores
 * kqemu's ops, destroys the twin, waits for devfs, and drops its hold.
 *
 * Locking: module events are serialized by the linker; the interposer
 * only forwards and keeps no state.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/conf.h>
#include <sys/device.h>
#include <sys/devfs.h>
#include <sys/errno.h>
#include <sys/module.h>

#include "kqemu/kqemu_export.h"

static cdev_t		twin_base;	/* /dev/kqemu */
static cdev_t		twin_dev;	/* /dev/kqemu_twin */
static struct dev_ops	*twin_orig;	/* kqemu's ops while intercepted */
static int		twin_held;

static int
twin_iopen(struct dev_open_args *ap)
{
	return (twin_orig->d_open(ap));
}

static int
twin_iclose(struct dev_close_args *ap)
{
	return (twin_orig->d_close(ap));
}

static int
twin_iioctl(struct dev_ioctl_args *ap)
{
	return (twin_orig->d_ioctl(ap));
}

static struct dev_ops twin_iops = {
	{ "kqemu_twin_intercept", 0, 0 },
	.d_open =	twin_iopen,
	.d_close =	twin_iclose,
	.d_ioctl =	twin_iioctl,
};

static int
twin_load(void)
{
	int hold = 1, intercept = 0, quick = 0, error;

	TUNABLE_INT_FETCH("h_twin.hold", &hold);
	TUNABLE_INT_FETCH("h_twin.intercept", &intercept);
	TUNABLE_INT_FETCH("h_twin.quick", &quick);
	twin_base = devfs_find_device_by_name("kqemu");
	if (twin_base == NULL)
		return (ENXIO);
	if (hold) {
		if ((error = kqemu_hold()) != 0)
			return (error);
		twin_held = 1;
	}
	twin_dev = make_dev(twin_base->si_ops, 1, UID_ROOT, GID_WHEEL, 0600,
	    "kqemu_twin");
	if (intercept) {
		twin_orig = dev_ops_intercept(twin_base, &twin_iops);
		/* h_twin.quick: the interposer is D_QUICK (set after the
		 * intercept, which copies kqemu's flags), as an autoclone
		 * unload's quiesce copy is: 5.8.1's quick open path hands out
		 * a file even when d_open says EBUSY. */
		if (quick)
			twin_iops.head.flags |= D_QUICK;
	}
	return (0);
}

static int
twin_unload(void)
{
	if (twin_dev->si_drv1 != NULL)
		return (EBUSY);
	if (twin_orig != NULL) {
		dev_ops_restore(twin_base, twin_orig);
		twin_orig = NULL;
	}
	destroy_dev(twin_dev);
	twin_dev = NULL;
	devfs_config();
	if (twin_held) {
		twin_held = 0;
		kqemu_rele();
	}
	return (0);
}

static int
twin_modevent(module_t mod, int type, void *data)
{
	switch (type) {
	case MOD_LOAD:
		return (twin_load());
	case MOD_UNLOAD:
		return (twin_unload());
	default:
		return (EOPNOTSUPP);
	}
}

static moduledata_t twin_mod = { "h_twin", twin_modevent, NULL };
DECLARE_MODULE(h_twin, twin_mod, SI_SUB_DRIVERS, SI_ORDER_ANY);
MODULE_VERSION(h_twin, 1);
MODULE_DEPEND(h_twin, kqemu, 1, 1, 1);
