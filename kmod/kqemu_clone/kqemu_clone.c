/*
 * kqemu_clone.c - kqemu_clone.ko: every open of /dev/kqemu gets its own
 * kqemu instance (DESIGN.md section 2, issues 4 and 7).
 *
 * Owns: the module events, the loader tunables hw.kqemu_clone.*, the
 * sysctl tree debug.kqemu_clone.*, and the one shim attached to kqemu's
 * cdev.  The cloning itself is the generic shim (kmod/clone/).
 *
 * Unload order (DESIGN.md section 5, the linker's reference rules): we
 * hold kqemu through its export API (kqemu_hold) for as long as the shim
 * is attached, so kqemu's own MOD_UNLOAD refuses even after a vetoed
 * kldunload of this module has dropped the MODULE_DEPEND reference.
 *
 * Locking: kqemu_clone_shim is written only by the module events (the
 * kernel linker serialises them) and read by the sysctl handlers, which
 * the kernel unregisters before MOD_UNLOAD's memory can go.  A sysctl read
 * racing MOD_UNLOAD is excluded by the sysctl lock the unregistration
 * takes.
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
#include <sys/sysctl.h>

#include <clone_shim.h>
#include "kqemu/kqemu_export.h"

static struct clone_shim *kqemu_clone_shim;
static enum clone_shim_mode kqemu_clone_mode = CLONE_MODE_DEFAULT;
static int kqemu_clone_max_per_proc;
static int kqemu_clone_max_per_uid;
static int kqemu_clone_max_total;

SYSCTL_NODE(_debug, OID_AUTO, kqemu_clone, CTLFLAG_RD, 0,
    "kqemu cloning shim");
SYSCTL_INT(_debug_kqemu_clone, OID_AUTO, max_per_proc, CTLFLAG_RD,
    &kqemu_clone_max_per_proc, 0, "clones per process (EMFILE beyond)");
SYSCTL_INT(_debug_kqemu_clone, OID_AUTO, max_per_uid, CTLFLAG_RD,
    &kqemu_clone_max_per_uid, 0, "clones per uid (EAGAIN beyond)");
SYSCTL_INT(_debug_kqemu_clone, OID_AUTO, max_total, CTLFLAG_RD,
    &kqemu_clone_max_total, 0, "clones in all (EAGAIN beyond)");

static int
kqemu_clone_sysctl_mode(SYSCTL_HANDLER_ARGS)
{
	const char *m;

	m = kqemu_clone_shim != NULL ?
	    clone_shim_mode_name(clone_shim_mode(kqemu_clone_shim)) : "none";
	return (SYSCTL_OUT(req, m, strlen(m) + 1));
}
SYSCTL_PROC(_debug_kqemu_clone, OID_AUTO, mode, CTLTYPE_STRING | CTLFLAG_RD,
    NULL, 0, kqemu_clone_sysctl_mode, "A",
    "how opens find their clone: autoclone, fp, native or proc");

/* arg2: which statistic, as an offset into struct clone_shim_stats. */
static int
kqemu_clone_sysctl_stat(SYSCTL_HANDLER_ARGS)
{
	struct clone_shim_stats st;
	long v = 0;

	if (kqemu_clone_shim != NULL) {
		clone_shim_stats(kqemu_clone_shim, &st);
		v = *(long *)((char *)&st + arg2);
	}
	return (SYSCTL_OUT(req, &v, sizeof(v)));
}

#define KQEMU_CLONE_STAT(field, descr)					\
	SYSCTL_PROC(_debug_kqemu_clone, OID_AUTO, field,		\
	    CTLTYPE_LONG | CTLFLAG_RD, NULL,				\
	    __builtin_offsetof(struct clone_shim_stats, field),		\
	    kqemu_clone_sysctl_stat, "L", descr)

KQEMU_CLONE_STAT(live, "clones live now");
KQEMU_CLONE_STAT(opens, "clones created");
KQEMU_CLONE_STAT(closes, "clones destroyed");
KQEMU_CLONE_STAT(refused_proc, "opens refused: per-process limit (EMFILE)");
KQEMU_CLONE_STAT(refused_uid, "opens refused: per-uid limit (EAGAIN)");
KQEMU_CLONE_STAT(refused_total, "opens refused: total limit (EAGAIN)");
KQEMU_CLONE_STAT(refused_busy, "opens refused: proc mode, second open (EBUSY)");
KQEMU_CLONE_STAT(refused_nomem, "opens refused: no memory (ENOMEM)");
KQEMU_CLONE_STAT(refused_foreign,
    "calls refused: proc mode, another process's file (ENXIO)");
KQEMU_CLONE_STAT(refused_detach, "opens refused: racing unload (ENXIO)");

static int
kqemu_clone_sysctl_listing(SYSCTL_HANDLER_ARGS)
{
	char *buf;
	int len, error;

	if (kqemu_clone_shim == NULL)
		return (SYSCTL_OUT(req, "", 1));
	len = clone_shim_listing(kqemu_clone_shim, NULL, 0) + 256;
	buf = kmalloc(len, M_TEMP, M_WAITOK | M_NULLOK);
	if (buf == NULL)
		return (ENOMEM);
	/* A clone made since the sizing is left out, never overrun. */
	clone_shim_listing(kqemu_clone_shim, buf, len);
	error = SYSCTL_OUT(req, buf, strlen(buf) + 1);
	kfree(buf, M_TEMP);
	return (error);
}
SYSCTL_PROC(_debug_kqemu_clone, OID_AUTO, listing, CTLTYPE_STRING | CTLFLAG_RD,
    NULL, 0, kqemu_clone_sysctl_listing, "A",
    "one line per clone: unit pid uid opens ops");

static int
kqemu_clone_sysctl_bytes(SYSCTL_HANDLER_ARGS)
{
	long v = kqemu_clone_shim != NULL ?
	    clone_shim_bytes_per_clone(kqemu_clone_shim) : 0;

	return (SYSCTL_OUT(req, &v, sizeof(v)));
}
SYSCTL_PROC(_debug_kqemu_clone, OID_AUTO, bytes_per_clone,
    CTLTYPE_LONG | CTLFLAG_RD, NULL, 0, kqemu_clone_sysctl_bytes, "L",
    "memory one clone costs the shim (record + cdev)");

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
