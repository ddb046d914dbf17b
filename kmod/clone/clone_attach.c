/*
 * clone_attach.c - attach a shim to a driver's cdev and detach it.
 *
 * Owns: the table of attached shims and the in-flight counters (the
 * protocol is described in clone_shim_var.h), struct clone_shim's life,
 * the close path every mode ends in (clone_unpublish_and_rele ->
 * clone_finalize: forward the driver's d_close, destroy the clone), and
 * what a caller's limit means (0: its default, below 0:
 * none; clone_shim_set_limit changes one later, under the core's table
 * lock).
 *
 * What outlives a detach, on purpose: one allocation in the kernel's
 * devbuf type (the interposer; or autoclone's clone and quiesce ops,
 * struct clone_autoclone_ops), because a thread that loaded si_ops before
 * the restore may still read it, and a destroyed clone cdev a vnode still
 * references keeps its ops (clone_autoclone_ops_retire).
 *
 * Locking: attach and detach run from module events, which the kernel
 * linker serialises; they are the only writers of clone_shims[].
 *
 * Design: docs/design.md §6, §7.1, §7.2.
 */
#include <sys/param.h>
#include <sys/fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "clone/clone_shim_var.h"

struct clone_shim *clone_shims[CLONE_MAX_SHIMS];
struct clone_inflight clone_inflight[CLONE_INFLIGHT_SLOTS];

/* The core indexes its limits as clone_shim.h numbers them. */
_Static_assert((int)CLONE_SHIM_MAX_PER_PROC == (int)CLONE_LIMIT_PER_PROC,
    "limit");
_Static_assert((int)CLONE_SHIM_MAX_PER_UID == (int)CLONE_LIMIT_PER_UID,
    "limit");
_Static_assert((int)CLONE_SHIM_MAX_TOTAL == (int)CLONE_LIMIT_TOTAL,
    "limit");

/*
 * A limit as a caller gives it (the params, clone_shim_set_limit) to the
 * value the core applies: 0 is the limit's default, below 0 no limit (-1).
 */
static int
clone_limit_value(enum clone_shim_limit which, int v)
{
	static const int defaults[] = {
		[CLONE_SHIM_MAX_PER_PROC] = CLONE_DEFAULT_MAX_PER_PROC,
		[CLONE_SHIM_MAX_PER_UID] = CLONE_DEFAULT_MAX_PER_UID,
		[CLONE_SHIM_MAX_TOTAL] = CLONE_DEFAULT_MAX_TOTAL,
	};

	if (v == 0)
		return (defaults[which]);
	return (v < 0 ? -1 : v);
}

int
clone_shim_limit(struct clone_shim *shim, enum clone_shim_limit which)
{
	int v;

	if ((unsigned)which > CLONE_SHIM_MAX_TOTAL)
		return (-1);
	v = clone_core_limit(shim->core, which);
	return (v > 0 ? v : -1);
}

int
clone_shim_set_limit(struct clone_shim *shim, enum clone_shim_limit which,
    int value)
{
	if ((unsigned)which > CLONE_SHIM_MAX_TOTAL)
		return (EINVAL);
	clone_core_set_limit(shim->core, which, clone_limit_value(which, value));
	return (0);
}

/*
 * After the shim's slot was cleared: wait until no thread that may have
 * found it is still inside an entry point.  Runs under the kernel
 * linker's lock, so it is bounded and interruptible: a driver call that
 * blocks (an ioctl of a file opened before attach, forwarded through the
 * interposer) must not stall every kld command.  EBUSY when it does not
 * drain within CLONE_QUIET_SECONDS, EINTR/ERESTART when the unloading
 * process gets a signal; the caller then puts everything back.
 */
#define CLONE_QUIET_SECONDS	2

static int
clone_wait_quiet(void)
{
	u_int busy;
	int i, error, waited = 0;

	for (;;) {
		busy = 0;
		for (i = 0; i < CLONE_INFLIGHT_SLOTS; i++)
			busy += __atomic_load_n(&clone_inflight[i].n,
			    __ATOMIC_SEQ_CST);
		if (busy == 0)
			return (0);
		if (waited++ >= CLONE_QUIET_SECONDS * hz)
			return (EBUSY);
		error = tsleep(&clone_inflight, PCATCH, "clnqt", 1);
		if (error != 0 && error != EWOULDBLOCK)
			return (error);
	}
}

/*
 * Finalize: the last reference of a closing record.  Forward the close
 * (if the clone was ever opened), destroy the clone, free the record.
 */
static void
clone_finalize(void *ctx, struct clone_rec *rec)
{
	struct clone_shim *shim = ctx;
	struct dev_close_args ca;
	cdev_t clone = clone_rec_dev(rec);
	void *fp;
	int unit = clone_rec_unit(rec);

	bzero(&ca, sizeof(ca));
	clone_rec_close_args(rec, &ca.a_fflag, &ca.a_devtype, &fp);
	ca.a_fp = fp;
	ca.a_head.a_dev = clone;
	if (clone_rec_driver_opened(rec))
		shim->driver_ops->d_close(&ca);
	if (shim->mode == CLONE_MODE_AUTOCLONE) {
		/* Its node goes on the devfs thread; detach's devfs_config()
		 * waits for that before it retires the clone ops. */
		destroy_dev(clone);
		devfs_clone_bitmap_put(&shim->bitmap, unit);
	} else {
		destroy_only_dev(clone);
	}
	clone_core_free(shim->core, rec);
}

/*
 * Every way a clone ends comes here: its file's close (autoclone, fp,
 * native), proc mode's exit hook and last close, autoclone's reap of
 * never-opened records.  The record stops being findable at once; the
 * clone goes with the last reference (clone_finalize).
 */
void
clone_unpublish_and_rele(struct clone_shim *shim, const void *key,
    int fflag, int devtype, struct file *fp)
{
	struct clone_rec *rec = clone_core_unpublish(shim->core, key);

	if (rec != NULL) {
		clone_rec_set_close_args(rec, fflag, devtype, fp);
		clone_core_rele(shim->core, rec);
	}
}

static void
clone_shim_free(struct clone_shim *shim)
{
	if (shim->sysctl_on)
		sysctl_ctx_free(&shim->sysctl_ctx);
	if (shim->core != NULL)
		clone_core_destroy(shim->core);
	if (shim->interposer_ops != NULL)		/* never installed */
		kfree(shim->interposer_ops, M_DEVBUF);
	clone_autoclone_ops_free(shim);		/* not retired: never used */
	if (shim->base_owner != NULL)
		kfree(shim->base_owner, M_CLONESHIM);
	kfree(shim, M_CLONESHIM);
}

int
clone_shim_attach(struct cdev *dev, const struct clone_shim_params *params,
    struct clone_shim **shimp)
{
	struct clone_core_params cp;
	struct clone_shim *shim;
	enum clone_shim_mode mode = params->mode;
	const char *why;
	int error, i, slot = -1;

	if (dev == NULL || (unsigned)mode > CLONE_MODE_PROC)
		return (EINVAL);
	if ((error = clone_shim_driver_supported(dev, &why)) != 0) {
		kprintf("clone_shim: %s: cannot wrap this driver: %s\n",
		    dev->si_name, why);
		return (error);
	}
	if (mode == CLONE_MODE_DEFAULT)
		mode = clone_shim_default_mode();
	error = clone_shim_mode_supported(mode);
	if (error) {
		kprintf("clone_shim: %s: mode %s needs a newer kernel "
		    "(__DragonFly_version %d)\n", dev->si_name,
		    clone_shim_mode_name(mode), (int)__DragonFly_version);
		return (error);
	}
	if (clone_shim_find(dev) != NULL)
		return (EBUSY);
	for (i = 0; i < CLONE_MAX_SHIMS; i++)
		if (clone_shim_slot(i) == NULL) {
			slot = i;
			break;
		}
	if (slot < 0)
		return (ENOSPC);

	shim = kmalloc(sizeof(*shim), M_CLONESHIM, M_WAITOK | M_NULLOK | M_ZERO);
	if (shim == NULL)
		return (ENOMEM);
	shim->base = dev;
	shim->mode = mode;
	shim->driver_ops = dev->si_ops;
	strlcpy(shim->name, dev->si_name, sizeof(shim->name));

	bzero(&cp, sizeof(cp));
	cp.max_per_proc = clone_limit_value(CLONE_SHIM_MAX_PER_PROC,
	    params->max_per_proc);
	cp.max_per_uid = clone_limit_value(CLONE_SHIM_MAX_PER_UID,
	    params->max_per_uid);
	cp.max_total = clone_limit_value(CLONE_SHIM_MAX_TOTAL,
	    params->max_total);
	cp.hash_size_hint = cp.max_total > 0 ? cp.max_total : 65536;
	cp.hash_buckets = params->hash_buckets;
	cp.one_per_proc = (mode == CLONE_MODE_PROC);
	cp.finalize = clone_finalize;
	cp.ctx = shim;
	error = clone_core_create(&cp, &shim->core);
	if (error == 0 && params->sysctl_name != NULL)
		error = clone_sysctl_attach(shim, params->sysctl_name);
	if (error) {
		clone_shim_free(shim);
		return (error);
	}

	if (mode == CLONE_MODE_AUTOCLONE || mode == CLONE_MODE_PROC) {
		error = clone_base_owner_new(shim);
		if (error) {
			clone_shim_free(shim);
			return (error);
		}
	}
	if (mode == CLONE_MODE_AUTOCLONE) {
		if ((error = clone_autoclone_ops_new(shim)) != 0) {
			clone_shim_free(shim);
			return (error);
		}
		/* Hold the base instance: an open devfs does not clone (limit
		 * refused, no fp) then gets the driver's own EBUSY.  If a file
		 * has the device open, it keeps it; the handler takes the
		 * instance at an open after that file closed. */
		if ((error = clone_hold_base_at_attach(shim)) != 0) {
			clone_shim_free(shim);
			return (error);
		}
		devfs_clone_bitmap_init(&shim->bitmap);
		clone_shim_set_slot(slot, shim);
		devfs_clone_handler_add(shim->name, clone_autoclone_handler);
		*shimp = shim;
		return (0);
	}

	shim->interposer_ops = kmalloc(sizeof(*shim->interposer_ops), M_DEVBUF,
	    M_WAITOK | M_NULLOK | M_ZERO);
	if (shim->interposer_ops == NULL) {
		clone_shim_free(shim);
		return (ENOMEM);
	}
	clone_interposer_init_ops(shim);
	if (mode == CLONE_MODE_PROC) {
		/* No fp: a file on the device itself cannot be told from a
		 * clone's.  One opened before attach keeps the device's
		 * instance until the device's last close; until then a
		 * process without a clone reaches that instance, as it would
		 * without the shim (clone_proc.c). */
		if ((error = clone_hold_base_at_attach(shim)) != 0) {
			clone_shim_free(shim);
			return (error);
		}
		if ((error = clone_hook_exit()) != 0) {
			clone_rele_base(shim);
			clone_shim_free(shim);
			return (error);
		}
	}
	clone_shim_set_slot(slot, shim);
	dev_ops_intercept(dev, shim->interposer_ops);
	/* dev_ops_intercept copied the driver's flags: add ours after it. */
	if (mode != CLONE_MODE_PROC)
		atomic_set_int(&shim->interposer_ops->head.flags, D_TRACKCLOSE);
	else	/* proc mode's d_close is the device's last close */
		atomic_clear_int(&shim->interposer_ops->head.flags, D_TRACKCLOSE);
	atomic_set_int(&shim->interposer_ready, 1);
	*shimp = shim;
	return (0);
}

/*
 * Put back what detach took away once the quiesce wait refused: the
 * routing (autoclone's handler, the interposer), the published slot, the
 * core's open door.  No entry point ran in between without finding the
 * driver's ops, so nothing of the shim's changed meanwhile.
 */
static void
clone_detach_undo(struct clone_shim *shim, int slot, struct dev_ops *iops)
{
	clone_shim_set_slot(slot, shim);
	if (shim->mode == CLONE_MODE_AUTOCLONE) {
		clone_autoclone_unload_undo(shim);
	} else {
		shim->interposer_ops = iops;
		atomic_store_rel_int(&shim->interposer_ready, 0);
		dev_ops_intercept(shim->base, iops);
		if (shim->mode != CLONE_MODE_PROC)
			atomic_set_int(&iops->head.flags, D_TRACKCLOSE);
		else
			atomic_clear_int(&iops->head.flags, D_TRACKCLOSE);
		atomic_store_rel_int(&shim->interposer_ready, 1);
	}
	clone_core_cancel_detach(shim->core);
}

int
clone_shim_detach(struct clone_shim *shim)
{
	struct dev_ops *iops = shim->interposer_ops;
	int error, i, slot = -1;

	if (shim->mode == CLONE_MODE_PROC &&
	    (error = clone_proc_may_unhook()) != 0) {
		kprintf("clone_shim: %s: a proc mode shim stays until the "
		    "system goes down (its exit hook cannot be removed "
		    "safely)\n", shim->name);
		return (error);
	}
	if (shim->mode == CLONE_MODE_AUTOCLONE)
		clone_autoclone_reap_orphans(shim);
	error = clone_core_begin_detach(shim->core);
	if (error)
		return (error);
	if (shim->mode == CLONE_MODE_AUTOCLONE) {
		error = clone_autoclone_unload(shim);
		if (error) {
			clone_core_cancel_detach(shim->core);
			return (error);
		}
	} else {
		/* Restore first: nothing may destroy an intercepted cdev. */
		dev_ops_restore(shim->base, shim->driver_ops);
		/* A thread that loaded si_ops before the restore may still
		 * read the interposer's flags (devfs_spec_open tests D_QUICK
		 * through it, then calls dev_dopen, which reloads si_ops):
		 * the interposer stays, in the kernel's devbuf, one struct
		 * dev_ops per unload, like autoclone's quiesce copy. */
		shim->interposer_ops = NULL;
	}
	/*
	 * Unpublish the shim, then wait for the threads that may have found
	 * it: in this order (see clone_enter).  An entry point that comes
	 * later -- a thread that read si_ops before the restore, an exit hook
	 * still running, the handler of an opener devfs let through before
	 * the handler went -- finds no shim and touches nothing of it.  (The
	 * window left is every interposer's, kern/tty_cons.c's too: a thread
	 * that read si_ops before the restore and enters only after this
	 * module's text is gone.)  A wait that does not drain puts it all
	 * back and refuses the unload.
	 */
	for (i = 0; i < CLONE_MAX_SHIMS; i++)
		if (clone_shim_slot(i) == shim) {
			slot = i;
			clone_shim_set_slot(i, NULL);
		}
	error = clone_wait_quiet();
	if (error) {
		kprintf("clone_shim: %s: unload refused: a call into the "
		    "driver did not return within %d s (error %d)\n",
		    shim->name, CLONE_QUIET_SECONDS, error);
		clone_detach_undo(shim, slot, iops);
		return (EBUSY);
	}
	if (shim->mode == CLONE_MODE_AUTOCLONE)
		clone_autoclone_unload_finish(shim);
	if (shim->mode == CLONE_MODE_PROC) {
		clone_unhook_exit();
		clone_rele_base(shim);
	}
	clone_shim_free(shim);
	return (0);
}
