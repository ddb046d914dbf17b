/*
 * kqemu_module.c - kqemu.ko's module events: MOD_LOAD reads the loader
 * tunables (hw.kqemu.gid, hw.kqemu.perms, hw.kqemu.engine,
 * hw.kqemu.max_locked_pages), loads the core with its engine, builds the
 * sysctl tree and makes /dev/kqemu; MOD_UNLOAD refuses while anything
 * still points at kqemu's ops or instances, else undoes it all.
 *
 * Owns: kqemu_engine_name (the engine new instances use, as hw.kqemu.engine
 * shows it), the order of setup and teardown, and the unload vetoes.
 *
 * Locking: the kernel linker serializes module events.  MOD_UNLOAD decides
 * under kqemu_lk (kqemu_dev.c) and sets kqemu_unloading there, so no d_open
 * or hold can begin once it has said yes.  Opens that have found the
 * /dev/kqemu node but not yet reached d_open are invisible to kqemu_lk;
 * 5.8.1's devfs destroys a node under them unsafely (a use after free in
 * devfs_allocv, a devfs_lock/name-entry deadlock, a d_open into unloaded
 * text), so before destroy_dev the unload pins the node's vnode, hides the
 * node (devfs_lock, exclusive: the lock devfs itself sets the flag under)
 * and refuses while any other reference on that vnode exists.  The device,
 * the sysctl tree and the core are then torn down with no lock held.
 *
 * Design: docs/design.md §8.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/conf.h>
#include <sys/device.h>
#include <sys/devfs.h>
#include <sys/errno.h>
#include <sys/lock.h>
#include <sys/module.h>
#include <sys/namecache.h>
#include <sys/nlookup.h>
#include <sys/vnode.h>
#include <machine/atomic.h>
#include <machine/cpufunc.h>

#include "kqemu.h"
#include "kqemu_core.h"
#include "kqemu_var.h"

char		kqemu_engine_name[16];

static int
kqemu_load(void)
{
	const struct kqemu_engine_ops *engine;
	unsigned long max_locked;
	int gid, mode, error;

	gid = GID_WHEEL;
	mode = 0660;
	strlcpy(kqemu_engine_name, kqemu_engine_default()->name,
	    sizeof(kqemu_engine_name));
	max_locked = (unsigned long)physmem / 2;
	TUNABLE_INT_FETCH("hw.kqemu.gid", &gid);
	TUNABLE_INT_FETCH("hw.kqemu.perms", &mode);
	TUNABLE_STR_FETCH("hw.kqemu.engine", kqemu_engine_name,
	    sizeof(kqemu_engine_name));
	TUNABLE_ULONG_FETCH("hw.kqemu.max_locked_pages", &max_locked);

	engine = kqemu_engine_find(kqemu_engine_name);
	if (engine == NULL) {
		kprintf("kqemu: unknown engine \"%s\" (hw.kqemu.engine: "
		    "%s%sdecline or conform)\n", kqemu_engine_name,
		    kqemu_engine_linked != NULL ? kqemu_engine_linked->name : "",
		    kqemu_engine_linked != NULL ? ", " : "");
		return (EINVAL);
	}
	if (mode & ~0777) {
		kprintf("kqemu: hw.kqemu.perms %#o has bits beyond 0777\n", mode);
		return (EINVAL);
	}
	lockinit(&kqemu_lk, "kqemu", 0, 0);
	kqemu_holds = 0;
	kqemu_unloading = 0;
	error = kqemu_core_load(engine, max_locked);
	if (error != 0)
		goto fail_lock;
	error = kqemu_sysctl_attach();
	if (error != 0) {
		kprintf("kqemu: cannot attach sysctl hw.kqemu (%d)\n", error);
		goto fail_core;
	}
	kqemu_dev = make_dev(&kqemu_ops, 0, UID_ROOT, (gid_t)gid, mode,
	    KQEMU_DEVICE_NAME);
	if (kqemu_dev == NULL) {
		error = ENOMEM;
		goto fail_sysctl;
	}
	if (kqemu_engine_linked != NULL)
		kprintf("kqemu: version 0x%06x, engine %s, %lu locked pages "
		    "at most; license %s\n", KQEMU_VERSION, engine->name,
		    max_locked, kqemu_module_license);
	return (0);

fail_sysctl:
	kqemu_sysctl_detach();
fail_core:
	(void)kqemu_core_unload();
fail_lock:
	lockuninit(&kqemu_lk);
	return (error);
}

/* --- quiescing the node before destroy_dev ---------------------------- */

/* vfs/devfs/devfs_core.c; no header declares it.  It guards node flags. */
extern struct lock devfs_lock;

/*
 * A referenced vnode of /dev/kqemu, or NULL (no /dev devfs, or the name is
 * not our cdev).  The lookup makes the node's vnode if it had none (waiting
 * on the name entry for any lookup doing the same), and our reference keeps
 * it: a later devfs_allocv of the node then finds that vnode and never
 * reaches the window in which 5.8.1 reads a node that destroy_dev may have
 * freed (it drops devfs_lock around getnewvnode, then dereferences the
 * node; a vget that fails on a reclaimed vnode does the same).
 */
static struct vnode *
kqemu_node_pin(void)
{
	struct nlookupdata nd;
	struct vnode *vp = NULL;
	int error;

	error = nlookup_init(&nd, "/dev/" KQEMU_DEVICE_NAME, UIO_SYSSPACE,
	    NLC_FOLLOW);
	if (error == 0)
		error = nlookup(&nd);
	if (error == 0)
		error = cache_vref(&nd.nl_nch, nd.nl_cred, &vp);
	nlookup_done(&nd);
	if (error != 0)
		return (NULL);
	if (vp->v_tag != VT_DEVFS || vp->v_rdev != kqemu_dev) {
		vrele(vp);
		return (NULL);
	}
	return (vp);
}

/*
 * Hide (or show again) the pinned vnode's node.  A hidden node fails
 * VOP_ACCESS and devfs_spec_open with ENOENT before either takes a lock, so
 * no open can hold the vnode locked while it waits for devfs_lock -- the
 * wait that closes 5.8.1's cycle devfs thread (devfs_lock) -> name entry
 * (an opener in cache_vget) -> vnode lock (an opener in devfs_spec_open)
 * -> devfs_lock once destroy_dev's worker invalidates the vnode's names.
 * Returns whether it changed the flag (a devfs rule may hide it already).
 */
static int
kqemu_node_hide(struct vnode *vp, int hide)
{
	struct devfs_node *node;
	int changed = 0;

	lockmgr(&devfs_lock, LK_EXCLUSIVE);
	node = DEVFS_NODE(vp);
	if (node != NULL && node->d_dev == kqemu_dev) {
		/* Atomic: devfs_spec_open reads the flags unlocked. */
		if (hide && (node->flags & DEVFS_HIDDEN) == 0) {
			atomic_set_long(&node->flags, DEVFS_HIDDEN);
			changed = 1;
		} else if (!hide && (node->flags & DEVFS_HIDDEN) != 0) {
			atomic_clear_long(&node->flags, DEVFS_HIDDEN);
			changed = 1;
		}
	}
	lockmgr(&devfs_lock, LK_RELEASE);
	/* Our flag store before the reference count load; an opener's
	 * reference (a locked add) comes before its flag load. */
	cpu_mfence();
	return (changed);
}

static int
kqemu_unload(void)
{
	const char *why = NULL;
	struct vnode *vp;
	int hid = 0;

	/* kern_module.c module_register_init sends MOD_UNLOAD right after a
	 * failed MOD_LOAD: nothing was set up then. */
	if (kqemu_dev == NULL)
		return (0);

	/* Before kqemu_lk: the lookup may wait for another on the name. */
	vp = kqemu_node_pin();

	/*
	 * DragonFly's linker calls MOD_UNLOAD even while kqemu_clone depends
	 * on us (a vetoed unload still drops a reference), so refuse here
	 * whenever anything still points at our ops or instances: a wrapper's
	 * hold, an intercepted cdev (destroying it panics an INVARIANTS
	 * kernel), any live instance on any cdev made with our ops.
	 */
	lockmgr(&kqemu_lk, LK_EXCLUSIVE);
	if (kqemu_holds > 0)
		why = "held by a wrapping module";
	else if (kqemu_dev->si_ops != &kqemu_ops ||
	    (kqemu_dev->si_flags & SI_INTERCEPTED))
		why = "its device is intercepted";
	else if (kqemu_core_live() > 0)
		why = "instances are open";
	else if (count_dev(kqemu_dev) > 0)
		/* A file with no instance (proc mode's clone reaped at its
		 * opener's exit, a forked child still holding the file):
		 * destroy_dev keeps si_ops, so its close would call us. */
		why = "its device is open";
	else
		kqemu_unloading = 1;
	lockmgr(&kqemu_lk, LK_RELEASE);

	/*
	 * Every open, close or call on the device holds a reference on its
	 * vnode from its lookup (cache_vget) to its end, and reads the
	 * node's flag only after taking it; ours is the only one allowed.
	 * With the node hidden first, an open that took its reference after
	 * this check stops at VOP_ACCESS or devfs_spec_open (ENOENT) and
	 * never reaches dev_dopen with our cdev.  (A devfs mounted elsewhere
	 * than /dev has its own node, which this does not cover.)
	 */
	if (why == NULL && vp != NULL) {
		hid = kqemu_node_hide(vp, 1);
		if (VREFCNT(vp) != 1)
			why = "an open or close of its device is in flight";
	}
	if (why != NULL) {
		if (hid)
			(void)kqemu_node_hide(vp, 0);
		if (vp != NULL)
			vrele(vp);
		lockmgr(&kqemu_lk, LK_EXCLUSIVE);
		kqemu_unloading = 0;
		lockmgr(&kqemu_lk, LK_RELEASE);
		kprintf("kqemu: unload refused: %s\n", why);
		return (EBUSY);
	}
	destroy_dev(kqemu_dev);
	kqemu_dev = NULL;
	/* destroy_dev completes on the devfs thread: wait for it, so that no
	 * cdev still points at kqemu_ops when our text goes away.  The
	 * worker disassociates the pinned vnode; our release recycles it. */
	devfs_config();
	if (vp != NULL)
		vrele(vp);
	kqemu_sysctl_detach();
	if (kqemu_core_unload() != 0)
		panic("kqemu: instance appeared during unload");
	lockuninit(&kqemu_lk);
	return (0);
}

static int
kqemu_modevent(module_t mod, int type, void *data)
{
	switch (type) {
	case MOD_LOAD:
		return (kqemu_load());
	case MOD_UNLOAD:
		return (kqemu_unload());
	case MOD_SHUTDOWN:
		return (0);
	default:
		return (EOPNOTSUPP);
	}
}

DEV_MODULE(kqemu, kqemu_modevent, NULL);
MODULE_VERSION(kqemu, 1);
