/*
 * h_single_clone.c - h_single_clone.ko: the generic cloning shim attached
 * to the single-instance test driver h_single (tests only).  A copy of
 * kmod/kqemu_clone/kqemu_clone.c with the names changed (hsingle for kqemu),
 * so the shim is tested without kqemu: sysctl debug.hsingle_clone.*,
 * tunables hw.hsingle_clone.mode/.max_per_proc/.max_per_uid/.max_total.
 * Locking: as kqemu_clone.c (only the module events touch the shim).
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
int	hsingle_hold(void);
void	hsingle_rele(void);

static struct clone_shim *hsingle_clone_shim;
static enum clone_shim_mode hsingle_clone_mode = CLONE_MODE_DEFAULT;
static int hsingle_clone_max_per_proc;
static int hsingle_clone_max_per_uid;
static int hsingle_clone_max_total;
static int hsingle_clone_hash_buckets;

static int
hsingle_clone_load(void)
{
	struct clone_shim_params p;
	char mode[16];
	cdev_t dev;
	int error, m;

	mode[0] = '\0';
	TUNABLE_STR_FETCH("hw.hsingle_clone.mode", mode, sizeof(mode));
	TUNABLE_INT_FETCH("hw.hsingle_clone.max_per_proc", &hsingle_clone_max_per_proc);
	TUNABLE_INT_FETCH("hw.hsingle_clone.max_per_uid", &hsingle_clone_max_per_uid);
	TUNABLE_INT_FETCH("hw.hsingle_clone.max_total", &hsingle_clone_max_total);
	TUNABLE_INT_FETCH("hw.hsingle_clone.hash_buckets",
	    &hsingle_clone_hash_buckets);
	m = clone_shim_mode_by_name(mode);
	if (m < 0) {
		kprintf("hsingle_clone: hw.hsingle_clone.mode=\"%s\": not one of "
		    "autoclone, fp, native, proc\n", mode);
		return (EINVAL);
	}
	hsingle_clone_mode = m;

	dev = devfs_find_device_by_name("hsingle");
	if (dev == NULL) {
		kprintf("hsingle_clone: no /dev/hsingle (is h_single loaded?)\n");
		return (ENXIO);
	}
	error = hsingle_hold();
	if (error)
		return (error);
	bzero(&p, sizeof(p));
	p.mode = hsingle_clone_mode;
	p.max_per_proc = hsingle_clone_max_per_proc;
	p.max_per_uid = hsingle_clone_max_per_uid;
	p.max_total = hsingle_clone_max_total;
	p.hash_buckets = hsingle_clone_hash_buckets;
	p.sysctl_name = "hsingle_clone";
	error = clone_shim_attach(dev, &p, &hsingle_clone_shim);
	if (error) {
		kprintf("hsingle_clone: cannot attach to /dev/hsingle in mode %s: "
		    "error %d\n", clone_shim_mode_name(p.mode), error);
		hsingle_clone_shim = NULL;
		hsingle_rele();
		return (error);
	}
	return (0);
}

static int
hsingle_clone_modevent(module_t mod, int type, void *data)
{
	int error;

	switch (type) {
	case MOD_LOAD:
		return (hsingle_clone_load());
	case MOD_UNLOAD:
		if (hsingle_clone_shim == NULL)
			return (0);
		error = clone_shim_detach(hsingle_clone_shim);
		if (error)
			return (error);	/* clones live: vetoed */
		hsingle_clone_shim = NULL;
		hsingle_rele();
		return (0);
	case MOD_SHUTDOWN:
		/* Going down: a proc shim may now be detached (clone_shim.h). */
		if (hsingle_clone_shim != NULL)
			clone_shim_shutdown(hsingle_clone_shim);
		return (0);
	default:
		return (EOPNOTSUPP);
	}
}

static moduledata_t hsingle_clone_mod = {
	"h_single_clone",
	hsingle_clone_modevent,
	NULL
};
DECLARE_MODULE(h_single_clone, hsingle_clone_mod, SI_SUB_DRIVERS, SI_ORDER_ANY);
MODULE_VERSION(h_single_clone, 1);
MODULE_DEPEND(h_single_clone, h_single, 1, 1, 1);
