/*
 * kqemu_dev.c - kqemu.ko's device: the dev_ops table, the entry points of
 * /dev/kqemu (and of any cdev made with these ops), and the holder count
 * of kqemu_export.h.
 *
 * Owns: kqemu_ops, kqemu_lk, kqemu_holds, kqemu_unloading and kqemu_dev
 * (the /dev/kqemu cdev, made and destroyed by kqemu_module.c); per cdev,
 * si_drv1 (its VM instance) and si_drv2 (the file whose open made it: the
 * only one whose close deletes it and whose requests reach it; NULL when
 * the kernel passes no fp).
 *
 * Single-instance semantics, on purpose: a cdev's VM instance lives in its
 * si_drv1.  The first open (which must allow writing: else EPERM) creates
 * it, a second open of the same cdev gets EBUSY, the device's last close
 * deletes it.  The driver knows nothing of clones: a cdev someone else made
 * with kqemu's dev_ops (kqemu_clone's private clones) simply gets its own
 * instance, found through the cdev the call names (ap->a_head.a_dev).
 *
 * Locking: kqemu_lk (lockmgr, sleepable) serializes the si_drv1 check and
 * set in d_open against d_open and d_close of any cdev, guards
 * kqemu_holds and kqemu_unloading, and is held while MOD_UNLOAD decides.
 * The core is entered under it only to create an instance or count the
 * live ones (order: kqemu_lk, then the core's driver lock).  d_ioctl takes
 * no glue lock: the cdev's instance cannot be deleted while an ioctl runs
 * on it, because only the file whose open created it reaches it (the
 * owner check in kqemu_ioctl), d_close deletes it only on that file's
 * last close, and an ioctl holds a reference on that file.
 * The device is D_MPSAFE and D_TRACKCLOSE: d_close comes once per open
 * file description (its last fdrop) rather than when devfs's open count
 * says the device's last close -- a count a close racing a close-then-
 * reopen can get wrong, leaking the instance (docs/design.md §8).
 * Only the open that created the instance succeeds, so exactly one close
 * deletes it.
 *
 * Design: docs/design.md §8.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/conf.h>
#include <sys/device.h>
#include <sys/errno.h>
#include <sys/fcntl.h>
#include <sys/lock.h>

#include "kqemu_core.h"
#include "kqemu_export.h"
#include "kqemu_var.h"

static d_open_t		kqemu_open;
static d_close_t	kqemu_close;
static d_ioctl_t	kqemu_ioctl;

struct dev_ops kqemu_ops = {
	{ "kqemu", 0, D_MPSAFE | D_TRACKCLOSE },
	.d_open =	kqemu_open,
	.d_close =	kqemu_close,
	.d_ioctl =	kqemu_ioctl,
};

cdev_t		kqemu_dev;
struct lock	kqemu_lk;
int		kqemu_holds;		/* kqemu_lk */
int		kqemu_unloading;	/* kqemu_lk */

/* --- the device ---------------------------------------------------------- */

static int
kqemu_open(struct dev_open_args *ap)
{
	cdev_t dev = ap->a_head.a_dev;
	struct kqemu_instance *inst;
	int error;

	/* QEMU opens O_RDWR; the monitor writes guest memory. */
	if ((ap->a_oflags & FWRITE) == 0)
		return (EPERM);
	lockmgr(&kqemu_lk, LK_EXCLUSIVE);
	if (kqemu_unloading)
		error = ENXIO;
	else if (dev->si_drv1 != NULL)
		error = EBUSY;		/* one instance per cdev */
	else if ((error = kqemu_core_create(dev->si_name, &inst)) == 0) {
		dev->si_drv1 = inst;
		dev->si_drv2 = ap->a_fp;	/* its file; NULL before 3.8 */
	}
	lockmgr(&kqemu_lk, LK_RELEASE);
	return (error);
}

static int
kqemu_close(struct dev_close_args *ap)
{
	cdev_t dev = ap->a_head.a_dev;
	struct kqemu_instance *inst;

	lockmgr(&kqemu_lk, LK_EXCLUSIVE);
	/*
	 * Only the file whose open created the instance deletes it.  Another
	 * file can reach here on the same cdev: one a wrapper opened through
	 * its interposer and that closes after the wrapper restored our ops,
	 * or one that 5.8.1's D_QUICK open path handed out although d_open
	 * said EBUSY.  Deleting on its close would free the instance under
	 * the file that owns it.  Without an fp (before 3.8, or an in-kernel
	 * open) there is nothing to tell them apart: the close deletes.
	 */
	if (dev->si_drv2 != NULL && ap->a_fp != NULL &&
	    ap->a_fp != dev->si_drv2) {
		lockmgr(&kqemu_lk, LK_RELEASE);
		return (0);
	}
	inst = dev->si_drv1;
	dev->si_drv1 = NULL;
	dev->si_drv2 = NULL;
	lockmgr(&kqemu_lk, LK_RELEASE);
	/* Still counted by the core until destroyed: unload stays refused. */
	if (inst != NULL)
		kqemu_core_destroy(inst);
	return (0);
}

static int
kqemu_ioctl(struct dev_ioctl_args *ap)
{
	cdev_t dev = ap->a_head.a_dev;
	struct kqemu_instance *inst;

	/*
	 * The owner rule, for requests: only the file whose open created the
	 * instance reaches it.  Another file on the cdev (a stray of 5.8.1's
	 * D_QUICK open path, one a wrapper opened and that outlived it, or
	 * any file on a device whose instance was opened in the kernel
	 * without one) has no instance: ENXIO.  The owner's own reference
	 * keeps si_drv2 and si_drv1 stable while it asks (kqemu_close runs
	 * only on its last close); no lock.  No fp (before 3.8, or the
	 * kernel's own VOP_IOCTL): nothing to tell files apart, no check.
	 */
	if (ap->a_fp != NULL &&
	    __atomic_load_n(&dev->si_drv2, __ATOMIC_ACQUIRE) != ap->a_fp)
		return (ENXIO);
	inst = dev->si_drv1;
	if (inst == NULL)
		return (ENXIO);
	return (kqemu_core_ioctl(inst, ap->a_cmd, ap->a_data));
}

/* --- holders (kqemu_export.h) ------------------------------------------- */

int
kqemu_hold(void)
{
	int error = 0;

	lockmgr(&kqemu_lk, LK_EXCLUSIVE);
	if (kqemu_unloading)
		error = ENXIO;
	else
		__atomic_store_n(&kqemu_holds, kqemu_holds + 1, __ATOMIC_RELAXED);
	lockmgr(&kqemu_lk, LK_RELEASE);
	return (error);
}

void
kqemu_rele(void)
{
	lockmgr(&kqemu_lk, LK_EXCLUSIVE);
	if (kqemu_holds <= 0)
		panic("kqemu_rele: no hold");
	__atomic_store_n(&kqemu_holds, kqemu_holds - 1, __ATOMIC_RELAXED);
	lockmgr(&kqemu_lk, LK_RELEASE);
}
