/*
 * clone_interposer.c - the interposer modes (fp, native, proc): dev_ops put
 * on the driver's own cdev with dev_ops_intercept(), as kern/tty_cons.c
 * does, that give every open a private clone cdev made with the driver's
 * own ops and route every later call of that open to it.
 *
 * Owns: the interposer's entry points -- one for every operation of
 * struct dev_ops, as kern/tty_cons.c forwards everything it does not
 * intercept -- and how each mode finds the record of a call: fp by the
 * struct file (the core's hash), native by the file's cdevpriv, proc by
 * the calling pid.  proc mode's last close and exit hook are in
 * clone_proc.c.
 *
 * Locking: every entry point runs inside clone_enter()/clone_leave(), from
 * its first statement to its last (but for the tail call of one that
 * finds no shim), and holds no lock across the driver's call, at most a
 * reference on its record (native mode's calls on a file of its own need
 * none: the file pins its record, the record the shim).
 *
 * Design: docs/design.md §4, §6.
 */
#include <sys/param.h>
#include <sys/fcntl.h>
#include <sys/file.h>

#include "clone/clone_shim_var.h"

static d_open_t		clone_interposer_open;
static d_close_t	clone_interposer_close;
static d_read_t		clone_interposer_read;
static d_write_t	clone_interposer_write;
static d_ioctl_t	clone_interposer_ioctl;
static d_read_t		clone_native_read;
static d_write_t	clone_native_write;
static d_ioctl_t	clone_native_ioctl;
static d_mmap_t		clone_interposer_mmap;
static d_mmap_single_t	clone_interposer_mmap_single;
static d_strategy_t	clone_interposer_strategy;
static d_dump_t		clone_interposer_dump;
static d_psize_t	clone_interposer_psize;
static d_kqfilter_t	clone_interposer_kqfilter;
static d_clone_t	clone_interposer_clone;
static d_revoke_t	clone_interposer_revoke;

/*
 * An interposer entry point that finds no shim for its cdev: a thread that
 * loaded si_ops before detach restored the driver's ops, and entered after
 * detach unpublished the shim.  Detach may already have summed the
 * counters, so nothing may be done after clone_leave() but leave the
 * module: this load of it may be unloaded, and the next one mapped at the
 * same addresses, while the thread is still here (docs/design.md §6).
 *
 * read, write and ioctl of a file (a_fp set: the read(2), write(2),
 * ioctl(2) and fcntl(2) paths, which hand ERESTART unchanged to
 * syscall2, which backs the thread up to the syscall instruction) answer
 * ERESTART: the system call runs again and loads si_ops afresh, the
 * driver's own by now.  Nothing of the call ran (no data moved, no
 * copyout: mapped_ioctl copies out only on success).
 *
 * open and close cannot be restarted (kern_open turns ERESTART into EINTR;
 * a close may be the last fdrop of an exiting process), and the device
 * operations are called by the kernel itself: those are passed to the ops
 * the cdev has now, as if the thread had loaded si_ops a moment later (a
 * close of a file opened before attach must still reach the driver, or
 * the driver keeps that file's instance).  The call is the entry point's
 * last act, "return (now->d_xxx(ap))" with nothing after it, which gcc
 * makes a tail jump, so the thread leaves the module's text before the
 * driver runs.
 *
 * NULL if the ops are still ours (cannot happen: the slot is cleared only
 * after the restore; the caller then answers ENXIO).
 */
static __inline struct dev_ops *
clone_interposer_current_ops(cdev_t dev, d_open_t *ours)
{
	struct dev_ops *ops = __atomic_load_n(&dev->si_ops, __ATOMIC_ACQUIRE);

	return (ops->d_open == ours ? NULL : ops);
}

/*
 * The record of the calling file and whether a reference was taken on it.
 * fp: none is needed -- the caller holds the file, and only that file's
 * last close unpublishes its record (fp mode has no reaper), so the record
 * stays for the call; and while a record lives, detach refuses, so the
 * shim stays too.  proc: a reaper may end it, so it is referenced.
 */
static struct clone_rec *
clone_interposer_rec(struct clone_shim *shim, struct file *fp, int *refd)
{
	*refd = 0;
	switch (shim->mode) {
	case CLONE_MODE_FP:
		return (fp != NULL ? clone_core_find(shim->core, fp) : NULL);
	case CLONE_MODE_PROC:
		*refd = 1;
		return (clone_core_lookup(shim->core,
		    (void *)(intptr_t)clone_curpid()));
	default:
		return (NULL);
	}
}

static void
clone_native_dtor(void *priv)
{
	struct clone_rec *rec = priv;
	int slot = clone_enter();
	struct clone_shim *shim = clone_shim_find(clone_rec_base(rec));

	if (shim != NULL)
		clone_core_rele(shim->core, rec);
	clone_leave(slot);
}

static int
clone_interposer_open(struct dev_open_args *ap)
{
	int slot = clone_enter();
	cdev_t dev = ap->a_head.a_dev;
	struct clone_shim *shim = clone_shim_find(dev);
	struct clone_rec *rec;
	struct file *fp = ap->a_fp;
	struct dev_ops *now;
	const void *key;
	cdev_t clone;
	int error, serial;

	if (shim == NULL) {
		now = clone_interposer_current_ops(dev, clone_interposer_open);
		clone_leave(slot);
		if (now == NULL)
			return (ENXIO);
		return (now->d_open(ap));	/* tail: nothing after it */
	}
	/*
	 * Between dev_ops_intercept() and our D_TRACKCLOSE, devfs would
	 * treat the close of a file opened before attach as "not the last"
	 * once a clone file shares the vnode, and the driver would never see
	 * it.  No clone is made until the flags are final (a few
	 * instructions after the intercept).
	 */
	while (atomic_load_acq_int(&shim->interposer_ready) == 0)
		tsleep(&shim->interposer_ready, 0, "clnrdy", 1);
	if (shim->mode == CLONE_MODE_PROC && !clone_base_held(shim))
		clone_try_hold_base(shim);
	if (fp == NULL && shim->mode != CLONE_MODE_PROC) {
		/* A kernel-internal open without a file: plain open of the
		 * device itself (nothing to key a clone on). */
		error = shim->driver_ops->d_open(ap);
		clone_leave(slot);
		return (error);
	}
	error = clone_core_reserve(shim->core, clone_curpid(),
	    clone_cred_uid(ap->a_cred), curthread, &rec);
	if (error) {
		clone_leave(slot);
		return (error);
	}
	/* A clone has no node; its number tells it apart in the listings
	 * (ours and the driver's own, which name the cdev). */
	serial = (int)(__atomic_fetch_add(&shim->next_serial, 1,
	    __ATOMIC_RELAXED) & 0x7fffffff);
	clone = make_only_dev(shim->driver_ops, dev->si_uminor, dev->si_uid,
	    dev->si_gid, dev->si_perms, "%s.clone.%d", shim->name, serial);
	clone_rec_set_dev(rec, clone, serial, dev);
	ap->a_head.a_dev = clone;
	error = shim->driver_ops->d_open(ap);
	ap->a_head.a_dev = dev;
	if (error)
		goto fail;
	clone_rec_mark_driver_opened(rec);
	clone_rec_count_open_call(rec);

	key = (shim->mode == CLONE_MODE_PROC) ?
	    (void *)(intptr_t)clone_curpid() : (void *)fp;
	if (shim->mode == CLONE_MODE_NATIVE) {
		/* The file's cdevpriv holds a reference, dropped by the
		 * destructor on the last fdrop, after our d_close. */
		clone_core_ref(rec);
		error = devfs_set_cdevpriv(fp, rec, clone_native_dtor);
		if (error) {
			clone_core_unref_unpublished(rec);
			goto fail_close;
		}
	}
	error = clone_core_publish(shim->core, rec, key);
	if (error) {
		/* The key is taken (cannot happen for a live fp or pid). */
		if (shim->mode == CLONE_MODE_NATIVE)
			devfs_clear_cdevpriv(fp);	/* its dtor unrefs */
		error = EBUSY;
		goto fail_close;
	}
	clone_leave(slot);
	return (0);

fail_close:
	{
		struct dev_close_args ca;

		bzero(&ca, sizeof(ca));
		ca.a_head.a_dev = clone;
		ca.a_fflag = ap->a_oflags;
		ca.a_devtype = ap->a_devtype;
		ca.a_fp = fp;
		shim->driver_ops->d_close(&ca);
	}
fail:
	destroy_only_dev(clone);
	clone_core_abort(shim->core, rec);
	clone_leave(slot);
	return (error);
}

static int
clone_interposer_close(struct dev_close_args *ap)
{
	int slot = clone_enter();
	struct clone_shim *shim = clone_shim_find(ap->a_head.a_dev);
	struct clone_rec *rec;
	struct dev_ops *now;
	int error = 0;

	if (shim == NULL) {
		now = clone_interposer_current_ops(ap->a_head.a_dev,
		    clone_interposer_open);
		clone_leave(slot);
		if (now == NULL)
			return (0);
		return (now->d_close(ap));	/* tail: nothing after it */
	}
	if (shim->mode == CLONE_MODE_PROC) {
		clone_proc_last_close(shim, ap->a_devtype);
	} else if (ap->a_fp != NULL &&
	    (rec = clone_core_unpublish(shim->core, ap->a_fp)) != NULL) {
		clone_rec_set_close_args(rec, ap->a_fflag, ap->a_devtype,
		    ap->a_fp);
		clone_core_rele(shim->core, rec);
	} else {
		/* A file opened before the shim attached, or without fp. */
		error = shim->driver_ops->d_close(ap);
	}
	clone_leave(slot);
	return (error);
}

/*
 * The forwarded operations: find the record, call the driver's own
 * function with a_dev = the clone, holding at most the record's reference
 * (see clone_interposer_rec).  A file the shim does not know: in fp/native
 * mode one opened before the shim attached (passed through to the device
 * itself); in proc mode another process's file (ENXIO: a forked child), or
 * -- while a file opened before attach still has the device's own
 * instance -- possibly that file (passed through: proc mode cannot tell).
 */
#define CLONE_FORWARD(fn, argtype)					\
static int								\
clone_interposer_##fn(struct argtype *ap)				\
{									\
	int slot = clone_enter();					\
	cdev_t dev = ap->a_head.a_dev;					\
	struct clone_shim *shim = clone_shim_find(dev);			\
	struct clone_rec *rec;						\
	struct dev_ops *now;						\
	int error, refd;						\
									\
	if (shim == NULL) {						\
		if (ap->a_fp != NULL) {					\
			clone_leave(slot);				\
			return (ERESTART);	/* the syscall again */	\
		}							\
		now = clone_interposer_current_ops(dev,			\
		    clone_interposer_open);				\
		clone_leave(slot);					\
		if (now == NULL)					\
			return (ENXIO);					\
		return (now->d_##fn(ap));	/* tail */		\
	}								\
	rec = clone_interposer_rec(shim, ap->a_fp, &refd);		\
	if (rec == NULL) {						\
		if (shim->mode == CLONE_MODE_PROC &&			\
		    clone_base_held(shim)) {				\
			clone_core_count_refusal(shim->core,		\
			    CLONE_REFUSED_FOREIGN);			\
			error = ENXIO;					\
		} else {						\
			error = shim->driver_ops->d_##fn(ap);		\
		}							\
		clone_leave(slot);					\
		return (error);						\
	}								\
	ap->a_head.a_dev = clone_rec_op_call(rec);			\
	error = shim->driver_ops->d_##fn(ap);				\
	ap->a_head.a_dev = dev;						\
	if (refd)							\
		clone_core_rele(shim->core, rec);			\
	clone_leave(slot);						\
	return (error);							\
}									\
									\
/*									\
 * native mode: the file's cdevpriv is its record, referenced by the	\
 * file until after its last close, so it lives through the call (and	\
 * while it lives, detach refuses).  The clone's ops are the driver's	\
 * own (make_only_dev with them).  A file without our cdevpriv (opened	\
 * before attach, or while the shim was not loaded) takes the path	\
 * above.  Counted from the first statement all the same: such a file	\
 * has no record holding the module, and a thread inside		\
 * devfs_get_cdevpriv uncounted would let detach drain, the module go	\
 * and another load of it map the same addresses; the thread would then	\
 * run the new load's code and leave its counter at -1 (every later	\
 * unload refused), or run code not yet relocated.  It stays counted	\
 * through the path above (the count never drops to zero between the	\
 * two), which with a_fp set never calls out when it finds no shim	\
 * (ERESTART).  A call without a file goes there as a tail call, so a	\
 * pass-through stays the thread's last act in the module.  (A driver	\
 * that sets cdevpriv itself cannot be wrapped in native mode:		\
 * docs/design.md §4.)							\
 */									\
static int								\
clone_native_##fn(struct argtype *ap)					\
{									\
	int slot = clone_enter();					\
	cdev_t dev = ap->a_head.a_dev, clone;				\
	void *priv;							\
	int error;							\
									\
	if (ap->a_fp == NULL) {						\
		clone_leave(slot);					\
		return (clone_interposer_##fn(ap));	/* tail */	\
	}								\
	if (devfs_get_cdevpriv(ap->a_fp, &priv) != 0) {			\
		error = clone_interposer_##fn(ap);			\
		clone_leave(slot);					\
		return (error);						\
	}								\
	clone = clone_rec_op_call(priv);				\
	ap->a_head.a_dev = clone;					\
	error = clone->si_ops->d_##fn(ap);				\
	ap->a_head.a_dev = dev;						\
	clone_leave(slot);						\
	return (error);							\
}

CLONE_FORWARD(read, dev_read_args)
CLONE_FORWARD(write, dev_write_args)
CLONE_FORWARD(ioctl, dev_ioctl_args)

/*
 * The operations that concern the device itself, and those a wrapped
 * driver only has as the kernel's defaults (attach refuses a driver with
 * its own d_mmap, d_mmap_single or d_kqfilter: clone_shim_driver_supported):
 * the driver's own function with a_dev unchanged, as the kernel would
 * call it without the shim.
 */
#define CLONE_FORWARD_DEVICE(fn, argtype)				\
static int								\
clone_interposer_##fn(struct argtype *ap)				\
{									\
	int slot = clone_enter();					\
	cdev_t dev = ap->a_head.a_dev;					\
	struct clone_shim *shim = clone_shim_find(dev);			\
	struct dev_ops *ops;						\
	int error;							\
									\
	if (shim == NULL) {						\
		ops = clone_interposer_current_ops(dev,			\
		    clone_interposer_open);				\
		clone_leave(slot);					\
		if (ops == NULL)					\
			return (ENXIO);					\
		return (ops->d_##fn(ap));	/* tail */		\
	}								\
	error = shim->driver_ops->d_##fn(ap);				\
	clone_leave(slot);						\
	return (error);							\
}

CLONE_FORWARD_DEVICE(mmap, dev_mmap_args)
CLONE_FORWARD_DEVICE(mmap_single, dev_mmap_single_args)
CLONE_FORWARD_DEVICE(strategy, dev_strategy_args)
CLONE_FORWARD_DEVICE(dump, dev_dump_args)
CLONE_FORWARD_DEVICE(psize, dev_psize_args)
CLONE_FORWARD_DEVICE(kqfilter, dev_kqfilter_args)
CLONE_FORWARD_DEVICE(clone, dev_clone_args)
CLONE_FORWARD_DEVICE(revoke, dev_revoke_args)

/*
 * Fill the interposer's ops (flags come from dev_ops_intercept()).  Every
 * operation is set, so compile_dev_ops() fills nothing from defaults and
 * no operation of the driver is lost.  Not through a d_default, as
 * tty_cons.c does: compile_dev_ops() would copy it into d_uksmap too,
 * which vm_mmap.c calls with another signature on any mmap of the device;
 * d_uksmap stays NULL (attach refuses a driver that has one).
 */
void
clone_interposer_init_ops(struct clone_shim *shim)
{
	struct dev_ops *ops = shim->interposer_ops;

	ops->head.name = shim->driver_ops->head.name;
	ops->d_open = clone_interposer_open;
	ops->d_close = clone_interposer_close;
	if (shim->mode == CLONE_MODE_NATIVE) {
		ops->d_read = clone_native_read;
		ops->d_write = clone_native_write;
		ops->d_ioctl = clone_native_ioctl;
	} else {
		ops->d_read = clone_interposer_read;
		ops->d_write = clone_interposer_write;
		ops->d_ioctl = clone_interposer_ioctl;
	}
	ops->d_mmap = clone_interposer_mmap;
	ops->d_mmap_single = clone_interposer_mmap_single;
	ops->d_strategy = clone_interposer_strategy;
	ops->d_dump = clone_interposer_dump;
	ops->d_psize = clone_interposer_psize;
	ops->d_kqfilter = clone_interposer_kqfilter;
	ops->d_clone = clone_interposer_clone;
	ops->d_revoke = clone_interposer_revoke;
}
