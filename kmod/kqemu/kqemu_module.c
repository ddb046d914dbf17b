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
 * under kqemu_lk (kqemu_dev.c) and sets kqemu_unloading there, so no open
 * or hold can begin once it has said yes; the device, the sysctl tree and
 * the core are then torn down with no lock held.
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

static int
kqemu_unload(void)
{
	const char *why = NULL;

	/* kern_module.c module_register_init sends MOD_UNLOAD right after a
	 * failed MOD_LOAD: nothing was set up then. */
	if (kqemu_dev == NULL)
		return (0);

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
	if (why != NULL) {
		kprintf("kqemu: unload refused: %s\n", why);
		return (EBUSY);
	}
	destroy_dev(kqemu_dev);
	kqemu_dev = NULL;
	/* destroy_dev completes on the devfs thread: wait for it, so that no
	 * cdev still points at kqemu_ops when our text goes away. */
	devfs_config();
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
