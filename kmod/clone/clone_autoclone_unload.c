/*
 * clone_autoclone_unload.c - autoclone's unload protocol: remove the clone
 * handler while no opener can be between devfs's D_QUICK test and the end
 * of devfs_clone() (docs/devfs-clone-bug.md has the proof).
 *
 * Owns: the locking of the node <name>'s vnode in every devfs mount, however
 * many (one mount on the host kernel, CLONE_HOST_BUILD), the use of the
 * quiesce copy of the driver's ops (made at attach with the clone ops,
 * clone_autoclone.c), and the order of the steps.
 *
 * Locking: runs from detach (module event, serialised by the kernel
 * linker) with the core marked detaching and no record live.  The vnode
 * locks are taken exclusively, in mount-list order, and all released
 * before it returns.
 *
 * Design: docs/design.md §7.3.
 */
#include <sys/param.h>
#include <sys/mount.h>
#include <sys/nlookup.h>
#include <sys/vnode.h>

#include "clone/clone_shim_var.h"

/*
 * Lock the vnode of the node <name> in every devfs mount, exclusively
 * (the autoclone unload, docs/devfs-clone-bug.md).  May be called again:
 * mounts already scanned are skipped (a second pass catches a devfs
 * mounted meanwhile).  Any number of mounts (one devfs per jail is
 * ordinary): one small record per scanned mount, kmalloc'd as the scan
 * finds it.  Returns EBUSY if a node cannot be locked, ENOMEM if a record
 * cannot be had; the caller unlocks what was locked either way.
 */
struct clone_vmount {
	void			*mp;	/* a scanned devfs mount */
	struct vnode		*vp;	/* its <name> node, locked; or NULL */
	struct clone_vmount	*next;
};

struct clone_vlock {
	const char		*name;
	cdev_t			base;
	struct clone_vmount	*mounts;	/* newest first */
	int			error;
};

static int
clone_lock_one(struct clone_vlock *vl, struct nlookupdata *nd, void *mp)
{
	struct clone_vmount *vm;
	struct vnode *vp;
	int error;

	vm = kmalloc(sizeof(*vm), M_CLONESHIM, M_WAITOK | M_NULLOK | M_ZERO);
	if (vm == NULL) {
		nlookup_done(nd);
		return (ENOMEM);
	}
	vm->mp = mp;
	vm->next = vl->mounts;
	vl->mounts = vm;
	error = nlookup(nd);
	if (error == 0)
		error = cache_vget(&nd->nl_nch, nd->nl_cred, LK_EXCLUSIVE, &vp);
	nlookup_done(nd);
	if (error == ENOENT)
		return (0);	/* no such node there: nobody can open it */
	if (error)
		return (error);
	if (vp->v_rdev != vl->base) {
		vput(vp);	/* another device under that name: not ours */
		return (0);
	}
	vm->vp = vp;
	return (0);
}

static int
clone_mount_seen(struct clone_vlock *vl, void *mp)
{
	struct clone_vmount *vm;

	for (vm = vl->mounts; vm != NULL; vm = vm->next)
		if (vm->mp == mp)
			return (1);
	return (0);
}

#ifdef CLONE_HOST_BUILD
/* The host kernel has one devfs, at /dev. */
static int
clone_lock_nodes(struct clone_vlock *vl)
{
	static char host_devfs;		/* stands for its one mount */
	struct nlookupdata nd;
	char path[80];
	int error;

	if (clone_mount_seen(vl, &host_devfs))
		return (0);
	ksnprintf(path, sizeof(path), "/dev/%s", vl->name);
	error = nlookup_init(&nd, path, UIO_SYSSPACE, NLC_FOLLOW);
	if (error)
		return (error);
	return (clone_lock_one(vl, &nd, &host_devfs));
}
#else
static int
clone_lock_mount(struct mount *mp, void *data)
{
	struct clone_vlock *vl = data;
	struct nlookupdata nd;
	int error;

	if (strcmp(mp->mnt_stat.f_fstypename, "devfs") != 0 ||
	    clone_mount_seen(vl, mp))
		return (0);
	/* Relative to the mount's own root: no chroot or jail can hide it. */
	error = nlookup_init_root(&nd, vl->name, UIO_SYSSPACE, 0,
	    proc0.p_ucred, &mp->mnt_ncmountpt, &mp->mnt_ncmountpt);
	if (error == 0)
		error = clone_lock_one(vl, &nd, mp);
	if (error && vl->error == 0)
		vl->error = error;
	return (0);
}

static int
clone_lock_nodes(struct clone_vlock *vl)
{
	mountlist_scan(clone_lock_mount, vl, MNTSCAN_FORWARD);
	return (vl->error);
}
#endif

static void
clone_unlock_nodes(struct clone_vlock *vl)
{
	struct clone_vmount *vm;

	while ((vm = vl->mounts) != NULL) {
		vl->mounts = vm->next;
		if (vm->vp != NULL)
			vput(vm->vp);
		kfree(vm, M_CLONESHIM);
	}
}

/*
 * The autoclone unload (docs/design.md §7.3; docs/devfs-clone-bug.md has
 * the step-by-step proof).
 * Called with the core already marked detaching (the handler refuses every
 * new clone) and no record live.
 */
int
clone_autoclone_unload(struct clone_shim *shim)
{
	struct clone_vlock vl;
	struct dev_ops *quiesce, *oops = NULL;
	int error;

	/* The quiesce copy: the driver's own ops (no shim code) plus
	 * D_QUICK.  It lives in the kernel's M_DEVBUF, not in this module's
	 * type, and is never freed: a thread that read si_ops before the
	 * restore below may still read it (one per load, made at attach:
	 * an unload refused and tried again uses the same one). */
	quiesce = &shim->autoclone->quiesce;

	/* (1) Lock <name>'s vnode in every devfs mount.  An opener tests
	 * D_QUICK holding that lock (shared) and keeps it, exclusive after
	 * LK_UPGRADE (which may drop it once, before devfs_clone()), until
	 * devfs_clone() and the clone node are done.  Once we hold them all,
	 * nobody is between that test and the end of devfs_clone(). */
	bzero(&vl, sizeof(vl));
	vl.name = shim->name;
	vl.base = shim->base;
	error = clone_lock_nodes(&vl);
	if (error == 0) {
		/* (2) D_QUICK only now, with the existing nodes locked: their
		 * openers never see it (a D_QUICK open drops d_open's errno
		 * in 5.8.1).  It covers a devfs mounted during the unload:
		 * its openers test D_QUICK after this and skip
		 * devfs_clone(); (3) a second pass locks any devfs mounted
		 * between the first pass and (2). */
		oops = dev_ops_intercept(shim->base, quiesce);
		atomic_set_int(&quiesce->head.flags, D_QUICK);
		/* A testing aid (0 by default): wait here, so a test can
		 * open the device through a devfs mounted now. */
		clone_sysctl_unload_hold(shim);
		error = clone_lock_nodes(&vl);
	}
	if (error) {
		if (oops != NULL)
			dev_ops_restore(shim->base, oops);
		clone_unlock_nodes(&vl);
		return (error == ENOMEM ? ENOMEM : EBUSY);
	}
	/* (4) Nobody is inside devfs_clone() for this name: remove the
	 * handler (synchronous: its record is freed when this returns).
	 * An opener waiting at its upgrade walks the list after (6) and
	 * finds no handler. */
	devfs_clone_handler_del(shim->name);
	/* (5) Back to the driver's ops, before the nodes are unlocked, so no
	 * opener of an existing node ever sees D_QUICK. */
	dev_ops_restore(shim->base, oops);
	/* (6) */
	clone_unlock_nodes(&vl);
	/* (7) No clone can have gone live (the core refuses while
	 * detaching); the check stays as the proof's last line. */
	if (clone_core_live(shim->core) != 0) {
		devfs_clone_handler_add(shim->name, clone_autoclone_handler);
		return (EBUSY);
	}
	return (0);
}

/* Detach's quiesce wait refused after clone_autoclone_unload(): clone
 * again. */
void
clone_autoclone_unload_undo(struct clone_shim *shim)
{
	devfs_clone_handler_add(shim->name, clone_autoclone_handler);
}

/* After detach's quiesce wait: nothing of the shim runs any more. */
void
clone_autoclone_unload_finish(struct clone_shim *shim)
{
	/* (8) Every destroy_dev() of a clone has been processed: no devfs
	 * node leads to a clone cdev any more.  A cdev a vnode still
	 * references keeps the clone ops, which stop leading into this
	 * module (clone_autoclone_ops_retire). */
	devfs_config();
	clone_autoclone_ops_retire(shim);
	clone_rele_base(shim);
	devfs_clone_bitmap_uninit(&shim->bitmap);
}
