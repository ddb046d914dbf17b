/*
 * clone_autoclone.c - autoclone mode, the default: devfs's own cloning, as
 * net/tun/if_tun.c does it.  A clone handler registered under the node's
 * name makes a fresh node <name>N for every open of /dev/<name>; the node
 * carries autoclone_ops, a copy of the driver's ops whose d_open and d_close
 * are ours, so read, write, ioctl and mmap reach the driver with nothing
 * in between.  The clone goes from its own last close.
 *
 * Owns: the clone handler, autoclone's dev_ops (struct clone_autoclone_ops:
 * the clone nodes' and the unload's quiesce copy, in the kernel's devbuf,
 * never freed, retired at detach), the units (a devfs clone bitmap) and
 * the reaping of records whose node devfs never opened.  The unload
 * protocol is in clone_autoclone_unload.c.
 *
 * Locking: every entry point runs inside clone_enter()/clone_leave(); the
 * handler runs in the opener's context inside devfs_clone().  A clone's
 * d_open and d_close find its shim in the shim table by the cdev's ops
 * (clone_autoclone_shim), after clone_enter(), never from the ops' address
 * alone: a destroyed clone cdev outlives its shim while a vnode references
 * it, and an open of the node by name may reach d_open after the shim
 * detached (docs/design.md §7.3).
 *
 * Design: docs/design.md §4.
 */
#include <sys/param.h>
#include <sys/fcntl.h>
#include <sys/file.h>
#include <sys/namecache.h>
#include <sys/stat.h>
#include <sys/vnode.h>

#include "clone/clone_shim_var.h"

static d_open_t		clone_autoclone_open;
static d_close_t	clone_autoclone_close;

/*
 * A record the handler made whose clone devfs never opened (it could not
 * create the node and opened the base instead) has no file and so no close.
 * It goes once its process is gone: found here, at unload and when an open
 * is refused by a limit, rather than by an exit hook -- 5.8's exit_list
 * cannot be left by a module that unloads (clone_proc_may_unhook), and
 * autoclone is the default mode.  A record of a live process may be an
 * open in flight (between the handler and its d_open) and stays.  No walk
 * at all while every published record was opened (the usual case, even
 * for an open refused by a limit); else the walk holds the table lock one
 * chunk at a time and ends each orphan by identity, with its own
 * reference (clone_reap_rec).  Returns how many went.
 */
int
clone_autoclone_reap_orphans(struct clone_shim *shim)
{
	struct clone_core_walk w;
	struct clone_rec *recs[16];
	int i, n, reaped = 0;
	struct proc *p;

	if (clone_core_unopened(shim->core) == 0)
		return (0);
	clone_core_walk_begin(shim->core, &w);
	while (!w.done) {
		n = clone_core_walk_next(shim->core, &w, CLONE_WALK_UNOPENED, 0,
		    recs, 16);
		for (i = 0; i < n; i++) {
			/* zombies are not found */
			if ((p = pfind(clone_rec_pid(recs[i]))) != NULL) {
				PRELE(p);
				clone_core_rele(shim->core, recs[i]);
				continue;
			}
			clone_reap_rec(shim, recs[i], FREAD | FWRITE, S_IFCHR);
			reaped++;
		}
	}
	clone_core_walk_end(shim->core, &w);
	return (reaped);
}

/* Runs in the opener's context, inside devfs_clone(). */
int
clone_autoclone_handler(struct dev_clone_args *ap)
{
	int slot = clone_enter();
	struct clone_shim *shim = clone_shim_find(ap->a_head.a_dev);
	struct clone_rec *rec;
	cdev_t base, clone;
	int error, unit;

	if (shim == NULL) {
		clone_leave(slot);
		return (ENXIO);
	}
	base = shim->base;
	if (!clone_base_held(shim))	/* a file opened before attach */
		clone_try_hold_base(shim);
	error = clone_core_reserve(shim->core, clone_curpid(),
	    clone_cred_uid(ap->a_cred), curthread, &rec);
	if ((error == EMFILE || error == EAGAIN) &&
	    clone_autoclone_reap_orphans(shim) > 0)
		error = clone_core_reserve(shim->core, clone_curpid(),
		    clone_cred_uid(ap->a_cred), curthread, &rec);
	if (error) {
		/* devfs then opens the base node, whose instance the shim
		 * holds: the driver's own EBUSY answers. */
		clone_leave(slot);
		return (error);
	}
	unit = devfs_clone_bitmap_get(&shim->bitmap, 0);
	if (unit < 0) {
		clone_core_abort(shim->core, rec);
		clone_leave(slot);
		return (EAGAIN);
	}
	clone = make_only_dev(&shim->autoclone->clone, unit, base->si_uid,
	    base->si_gid, base->si_perms, "%s%d", shim->name, unit);
	clone_rec_set_dev(rec, clone, unit, base);
	error = clone_core_publish(shim->core, rec, clone);
	if (error) {
		destroy_only_dev(clone);
		devfs_clone_bitmap_put(&shim->bitmap, unit);
		clone_core_abort(shim->core, rec);
		clone_leave(slot);
		return (error);
	}
	ap->a_dev = clone;
	clone_leave(slot);
	return (0);
}

/*
 * The attached shim whose clones carry clone's ops, or NULL: the shim
 * detached (an open of a destroyed clone's node by name, which holds the
 * node's vnode and so the cdev, reached d_open after the unload's quiesce
 * wait).  Only after clone_enter(), so detach either waits for this
 * thread or this thread finds no shim (the protocol of clone_enter).  The
 * ops are never freed, so no later load's shim has the same ones.
 */
static struct clone_shim *
clone_autoclone_shim(cdev_t clone)
{
	struct dev_ops *ops = clone->si_ops;
	struct clone_shim *s;
	int i;

	for (i = 0; i < CLONE_MAX_SHIMS; i++) {
		s = clone_shim_slot(i);
		if (s != NULL && s->autoclone != NULL &&
		    &s->autoclone->clone == ops)
			return (s);
	}
	return (NULL);
}

/*
 * A clone node gets the owner, group and mode of the node it was cloned
 * from as devfs rules (or chmod, chown) left them, not its cdev's: devfs
 * gives a new node its cdev's attributes and then applies only the rules
 * that match the node's own name <name>N (devfs_core.c, devfs_rules.c).
 *
 * Called from the creator's first open, inside devfs_spec_open(), which
 * still holds the node it cloned from locked exclusively: that vnode is the
 * one the creator's file names (vn_open set f_nchandle before VOP_OPEN).
 * The name entry is not locked here -- its lock comes before the vnode
 * lock, which we hold, and a concurrent lookup of the same name holds it
 * while it waits for our vnode -- so its vnode is used only if this thread
 * holds that vnode's lock, which keeps it alive.  SI_OVERRIDE makes devfs
 * take the clone node's attributes from its cdev from now on, as
 * tty_pty.c does.
 */
static void
clone_autoclone_take_attr(struct clone_shim *shim, cdev_t clone,
    struct file *fp)
{
	struct namecache *ncp;
	struct vnode *vp;
	struct vattr va;

	if (fp == NULL || (ncp = fp->f_nchandle.ncp) == NULL)
		return;
	vp = __atomic_load_n(&ncp->nc_vp, __ATOMIC_ACQUIRE);
	if (vp == NULL || vn_islocked(vp) != LK_EXCLUSIVE ||
	    vp->v_rdev != shim->base || VOP_GETATTR(vp, &va) != 0)
		return;
	clone->si_uid = va.va_uid;
	clone->si_gid = va.va_gid;
	clone->si_perms = va.va_mode & 07777;
	atomic_set_int(&clone->si_flags, SI_OVERRIDE);
}

/*
 * An open of a clone cdev: the cloning open of its creator (the thread
 * the handler ran for), or a plain open of /dev/<name>N by its name, which
 * the driver answers itself (EBUSY while its instance lives).
 */
static int
clone_autoclone_open(struct dev_open_args *ap)
{
	int slot = clone_enter();
	cdev_t clone = ap->a_head.a_dev;
	struct clone_shim *shim = clone_autoclone_shim(clone);
	struct clone_rec *rec;
	int error;

	/* No shim, or no record: a node opened by name whose clone went
	 * (its last close came first), with or without its shim. */
	if (shim == NULL ||
	    (rec = clone_core_lookup(shim->core, clone)) == NULL) {
		clone_leave(slot);
		return (ENXIO);
	}
	if (!clone_rec_driver_opened(rec)) {
		if (clone_rec_creator(rec) != curthread ||
		    !clone_rec_claim_first_open(rec)) {
			/* Reserved for the open that created it. */
			clone_core_rele(shim->core, rec);
			clone_leave(slot);
			return (EBUSY);
		}
		clone_autoclone_take_attr(shim, clone, ap->a_fp);
		error = shim->driver_ops->d_open(ap);
		if (error) {
			/* No close will ever come: unwind now. */
			struct clone_rec *r2;

			r2 = clone_core_unpublish(shim->core, clone);
			clone_core_rele(shim->core, rec);
			if (r2 != NULL) {
				clone_rec_set_close_args(r2, 0, S_IFCHR, NULL);
				clone_core_rele(shim->core, r2);
			}
			clone_leave(slot);
			return (error);
		}
		clone_rec_mark_driver_opened(rec);
	} else {
		error = shim->driver_ops->d_open(ap);
	}
	if (error == 0)
		clone_rec_count_open_call(rec);
	clone_core_rele(shim->core, rec);
	clone_leave(slot);
	return (error);
}

/* The clone's last close (autoclone_ops has no D_TRACKCLOSE). */
static int
clone_autoclone_close(struct dev_close_args *ap)
{
	int slot = clone_enter();
	cdev_t clone = ap->a_head.a_dev;
	struct clone_shim *shim = clone_autoclone_shim(clone);

	/* An open file has a record, which keeps the shim attached: never
	 * NULL here, checked all the same. */
	if (shim != NULL)
		clone_unpublish_and_rele(shim, clone, ap->a_fflag,
		    ap->a_devtype, ap->a_fp);
	clone_leave(slot);
	return (0);
}

/* A copy of the driver's ops for a cdev of our own: not registered with
 * the kernel (no references, no id) until a cdev is made with it. */
static void
clone_autoclone_ops_copy(struct dev_ops *to, const struct dev_ops *from)
{
	*to = *from;
	to->head.refs = 0;
	to->head.id = 0;
}

/*
 * autoclone's dev_ops, made at attach: the clone nodes' (the driver's own
 * ops with our d_open/d_close, without D_TRACKCLOSE -- a clone has one
 * file -- or D_QUICK) and the unload's quiesce copy (filled by
 * clone_autoclone_unload).  In the kernel's devbuf type, not this
 * module's: they outlive the shim and the module (one pair per load).
 * ENOMEM, or 0.
 */
int
clone_autoclone_ops_new(struct clone_shim *shim)
{
	struct clone_autoclone_ops *ao;

	ao = kmalloc(sizeof(*ao), M_DEVBUF, M_WAITOK | M_NULLOK | M_ZERO);
	if (ao == NULL)
		return (ENOMEM);
	clone_autoclone_ops_copy(&ao->clone, shim->driver_ops);
	ao->clone.head.flags &= ~(D_TRACKCLOSE | D_QUICK);
	ao->clone.d_open = clone_autoclone_open;
	ao->clone.d_close = clone_autoclone_close;
	/* The driver's own ops, no shim code; dev_ops_intercept takes the
	 * driver's flags into it at each unload, the unload adds D_QUICK. */
	clone_autoclone_ops_copy(&ao->quiesce, shim->driver_ops);
	shim->autoclone = ao;
	return (0);
}

/* An attach that failed: no cdev was ever made with them. */
void
clone_autoclone_ops_free(struct clone_shim *shim)
{
	if (shim->autoclone != NULL)
		kfree(shim->autoclone, M_DEVBUF);
	shim->autoclone = NULL;
}

/*
 * Detach, once no entry point of the shim runs and every clone's
 * destroy_dev() has been processed: a destroyed clone cdev may still be
 * referenced (a vnode of an open of its node by name, which calls d_open
 * later; the cdev's last release hands its ops to devfs_release_ops), so
 * the clone ops stay, leading to the kernel's own defaults (d_open says
 * ENODEV, as for a device that is gone) instead of this module's code or
 * the driver's, which may unload next.  One pointer store per operation:
 * a reader sees each either old or new.  What no module closes: a thread
 * that loaded d_open before the store and calls it after the module is
 * gone (docs/design.md §6).  The pair is left to the kernel.
 */
void
clone_autoclone_ops_retire(struct clone_shim *shim)
{
	struct dev_ops dead;
	void **from, **to;
	size_t off;

	bzero(&dead, sizeof(dead));
	compile_dev_ops(&dead);		/* every d_* the kernel's default */
	for (off = __builtin_offsetof(struct dev_ops, dev_ops_first_field);
	    off <= __builtin_offsetof(struct dev_ops, dev_ops_last_field);
	    off += sizeof(void *)) {
		from = (void **)((char *)&dead + off);
		to = (void **)((char *)&shim->autoclone->clone + off);
		__atomic_store_n(to, *from, __ATOMIC_RELEASE);
	}
	shim->autoclone = NULL;
}
