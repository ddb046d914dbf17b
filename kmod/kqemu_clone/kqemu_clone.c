/*
 * kqemu_clone.c - kqemu_clone.ko: every open of /dev/kqemu gets its own
 * kqemu instance.
 *
 * Owns: the module events, the loader tunables hw.kqemu_clone.*, and the
 * one shim attached to kqemu's cdev, which makes the sysctl tree
 * debug.kqemu_clone.* (mode, live, opens, closes, refused_*, listing,
 * bytes_per_clone, max_*).  The cloning itself is the generic shim
 * (kmod/clone/).
 *
 * Unload order (the linker's reference rules, docs/design.md §10): we
 * hold kqemu through its export API (kqemu_hold) for as long as the shim
 * is attached, so kqemu's own MOD_UNLOAD refuses even after a vetoed
 * kldunload of this module has dropped the MODULE_DEPEND reference.
 *
 * Locking: kqemu_clone_shim is touched only by the module events, which
 * the kernel linker serialises.
 *
 * Design: docs/design.md §4, §7.2.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/conf.h>
#include <sys/device.h>
#include <sys/devfs.h>
#include <sys/errno.h>
#include <sys/malloc.h>
#include <sys/module.h>

#include "clone/clone_shim.h"
#include "kqemu/kqemu_export.h"

static struct clone_shim *kqemu_clone_shim;
static enum clone_shim_mode kqemu_clone_mode = CLONE_MODE_DEFAULT;
static int kqemu_clone_max_per_proc;
static int kqemu_clone_max_per_uid;
static int kqemu_clone_max_total;
static int kqemu_clone_hash_buckets;	/* 0: sized from max_total */

static int
kqemu_clone_load(void)
{
	struct clone_shim_params p;
	char mode[16];
	cdev_t dev;
	int error, m;

	mode[0] = '\0';
	TUNABLE_STR_FETCH("hw.kqemu_clone.mode", mode, sizeof(mode));
	TUNABLE_INT_FETCH("hw.kqemu_clone.max_per_proc", &kqemu_clone_max_per_proc);
	TUNABLE_INT_FETCH("hw.kqemu_clone.max_per_uid", &kqemu_clone_max_per_uid);
	TUNABLE_INT_FETCH("hw.kqemu_clone.max_total", &kqemu_clone_max_total);
	TUNABLE_INT_FETCH("hw.kqemu_clone.hash_buckets",
	    &kqemu_clone_hash_buckets);
	m = clone_shim_mode_by_name(mode);
	if (m < 0) {
		kprintf("kqemu_clone: hw.kqemu_clone.mode=\"%s\": not one of "
		    "autoclone, fp, native, proc\n", mode);
		return (EINVAL);
	}
	kqemu_clone_mode = m;

	dev = devfs_find_device_by_name("kqemu");
	if (dev == NULL) {
		kprintf("kqemu_clone: no /dev/kqemu (is kqemu.ko loaded?)\n");
		return (ENXIO);
	}
	error = kqemu_hold();
	if (error)
		return (error);
	bzero(&p, sizeof(p));
	p.mode = kqemu_clone_mode;
	p.max_per_proc = kqemu_clone_max_per_proc;
	p.max_per_uid = kqemu_clone_max_per_uid;
	p.max_total = kqemu_clone_max_total;
	p.hash_buckets = kqemu_clone_hash_buckets;
	p.sysctl_name = "kqemu_clone";
	error = clone_shim_attach(dev, &p, &kqemu_clone_shim);
	if (error) {
		kprintf("kqemu_clone: cannot attach to /dev/kqemu in mode %s: "
		    "error %d\n", clone_shim_mode_name(p.mode), error);
		kqemu_clone_shim = NULL;
		kqemu_rele();
		return (error);
	}
	return (0);
}

static int
kqemu_clone_modevent(module_t mod, int type, void *data)
{
	int error;

	switch (type) {
	case MOD_LOAD:
		return (kqemu_clone_load());
	case MOD_UNLOAD:
		if (kqemu_clone_shim == NULL)
			return (0);
		error = clone_shim_detach(kqemu_clone_shim);
		if (error)
			return (error);	/* clones live: vetoed */
		kqemu_clone_shim = NULL;
		kqemu_rele();
		return (0);
	case MOD_SHUTDOWN:
		/* Going down: a proc shim may now be detached (clone_shim.h). */
		if (kqemu_clone_shim != NULL)
			clone_shim_shutdown(kqemu_clone_shim);
		return (0);
	default:
		return (EOPNOTSUPP);
	}
}

static moduledata_t kqemu_clone_mod = {
	"kqemu_clone",
	kqemu_clone_modevent,
	NULL
};
DECLARE_MODULE(kqemu_clone, kqemu_clone_mod, SI_SUB_DRIVERS, SI_ORDER_ANY);
MODULE_VERSION(kqemu_clone, 1);
MODULE_DEPEND(kqemu_clone, kqemu, 1, 1, 1);
