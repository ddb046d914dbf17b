/*
 * clone_base.c - the driver instance the shim holds on the device itself
 * (autoclone and proc modes), so that every open that reaches the device
 * rather than a clone gets the driver's own EBUSY.
 *
 * Owns: the hold and its release, the owner file it is opened with
 * (shim->base_owner), the late hold when attach found the device open,
 * and proc mode's close of an instance a file opened before attach left.
 *
 * Locking: base_held is written with release stores and read with acquire
 * loads (clone_base_held); base_trying (a flag taken with cmpset) lets one
 * thread at a time try the late hold or close an unheld instance.  No lock
 * is held across the driver's d_open or d_close.
 *
 * Design: docs/design.md §4.
 */
#include <sys/param.h>
#include <sys/fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "clone/clone_shim_var.h"

/*
 * The instance on the device itself, which the shim holds in autoclone and
 * proc modes: every open that reaches the device itself (autoclone: devfs
 * did not clone; proc: a call that loaded the driver's ops before the
 * intercept) gets the driver's own EBUSY, and no file but the shim's has
 * an instance there.
 *
 * Its owner is a file of our own (shim->base_owner, never in any file
 * table), not a NULL fp: a driver that records the opening file and lets
 * only that file's close delete the instance (kqemu's si_drv2 rule) then
 * ignores the close of any other file on the device -- such as one that
 * 5.8.1's D_QUICK open path hands out although d_open said EBUSY.
 *
 * If the device is already open (a file opened before the shim attached),
 * the driver says EBUSY: that file keeps its instance, and the shim takes
 * the device's own instance at the first open after that file closed
 * (clone_try_hold_base).  Returns the driver's error.
 */
int
clone_hold_base(struct clone_shim *shim)
{
	struct dev_open_args oa;
	int error;

	bzero(&oa, sizeof(oa));
	oa.a_head.a_dev = shim->base;
	oa.a_oflags = FREAD | FWRITE;
	oa.a_devtype = S_IFCHR;
	oa.a_cred = curthread->td_ucred;
	oa.a_fp = shim->base_owner;
	error = shim->driver_ops->d_open(&oa);
	if (error == 0)
		__atomic_store_n(&shim->base_held, 1, __ATOMIC_RELEASE);
	return (error);
}

/*
 * Not held yet (a file opened before attach had the device): try again,
 * one thread at a time.  An EBUSY means that file is still open.
 */
void
clone_try_hold_base(struct clone_shim *shim)
{
	if (clone_base_held(shim) ||
	    !atomic_cmpset_int(&shim->base_trying, 0, 1))
		return;
	if (!clone_base_held(shim))
		(void)clone_hold_base(shim);
	atomic_store_rel_int(&shim->base_trying, 0);
}

/*
 * proc mode's last close while the shim does not hold the device's own
 * instance: it belongs to a file opened before attach, closed by now
 * (nobody has the device open).  Forwarded without an fp, so the driver
 * deletes it whoever opened it; serialised with clone_try_hold_base so
 * it never closes an instance the shim just took.
 */
void
clone_close_unheld_base(struct clone_shim *shim, int devtype)
{
	struct dev_close_args ca;

	if (clone_base_held(shim))
		return;
	while (!atomic_cmpset_int(&shim->base_trying, 0, 1))
		tsleep(&shim->base_trying, 0, "clnhold", 1);
	if (!clone_base_held(shim)) {
		bzero(&ca, sizeof(ca));
		ca.a_head.a_dev = shim->base;
		ca.a_fflag = FREAD | FWRITE;
		ca.a_devtype = devtype;
		shim->driver_ops->d_close(&ca);
	}
	atomic_store_rel_int(&shim->base_trying, 0);
}

/* Called by detach only, when no entry point can run any more. */
void
clone_rele_base(struct clone_shim *shim)
{
	struct dev_close_args ca;

	if (!clone_base_held(shim))
		return;
	bzero(&ca, sizeof(ca));
	ca.a_head.a_dev = shim->base;
	ca.a_fflag = FREAD | FWRITE;
	ca.a_devtype = S_IFCHR;
	ca.a_fp = shim->base_owner;
	shim->driver_ops->d_close(&ca);
	__atomic_store_n(&shim->base_held, 0, __ATOMIC_RELEASE);
}

/* The owner file of the instance the shim holds (clone_hold_base). */
int
clone_base_owner_new(struct clone_shim *shim)
{
	struct file *fp;

	fp = kmalloc(sizeof(*fp), M_CLONESHIM, M_WAITOK | M_NULLOK | M_ZERO);
	if (fp == NULL)
		return (ENOMEM);
	fp->f_flag = FREAD | FWRITE;
	fp->f_count = 1;		/* ours; never dropped */
	shim->base_owner = fp;
	return (0);
}

/*
 * At attach: hold the device's instance, or, when a file already has the
 * device open, let that file keep it (the instance is taken at an open
 * after that file closed) and say so.  0, or the error of the hold.
 */
int
clone_hold_base_at_attach(struct clone_shim *shim)
{
	int error = clone_hold_base(shim);

	if (error != EBUSY)
		return (error);
	kprintf("clone_shim: %s is open: that file keeps its instance, every "
	    "new open is cloned\n", shim->name);
	return (0);
}
