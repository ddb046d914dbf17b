/*
 * hkdep.c - a host-only test KLD for linker_test: MODULE_DEPEND on
 * semcount, an unload veto, a failing MOD_LOAD, a cdev leaked at unload,
 * static and dynamic sysctls, a SYSCTL_PROC with growing output, and an
 * interposer on semcount's cdev (dev_ops_intercept, as kern/tty_cons.c:
 * every open passed to semcount's own d_open, the ops restored at unload).
 *
 * Tunables: hkdep.veto, hkdep.fail_load (errno), hkdep.leak_dev,
 * hkdep.value, hkdep.intercept.  Sysctls: debug.hkdep.{veto (RW), value,
 * unload_calls, lines (RW), list (PROC)}, debug.hkdyn.x (dynamic,
 * context-managed).
 *
 * Locking: none needed; the linker serialises MOD_* events and the test
 * drives it from one thread.  hd_orig is set before the intercept
 * publishes hd_iops and never changes after.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/module.h>
#include <sys/conf.h>
#include <sys/device.h>
#include <sys/devfs.h>
#include <sys/malloc.h>
#include <sys/sysctl.h>
#include <sys/errno.h>

static int hd_veto;
static int hd_fail_load;
static int hd_leak_dev;
static int hd_value;
static int hd_intercept;
static int hd_unload_calls;
static int hd_lines = 3;
static int hd_dyn_x = 7;
TUNABLE_INT("hkdep.veto", &hd_veto);
TUNABLE_INT("hkdep.fail_load", &hd_fail_load);
TUNABLE_INT("hkdep.leak_dev", &hd_leak_dev);
TUNABLE_INT("hkdep.value", &hd_value);
TUNABLE_INT("hkdep.intercept", &hd_intercept);

MALLOC_DEFINE(M_HKDEP, "hkdep", "hkdep test KLD");

static int
hd_list(SYSCTL_HANDLER_ARGS)
{
	char line[32];
	int i, error = 0;

	for (i = 0; i < hd_lines && error == 0; i++) {
		ksnprintf(line, sizeof(line), "line %d\n", i);
		error = SYSCTL_OUT(req, line, strlen(line));
	}
	if (error == 0)
		error = SYSCTL_OUT(req, "", 1);
	return (error);
}

SYSCTL_NODE(_debug, OID_AUTO, hkdep, CTLFLAG_RW, 0, "hkdep test KLD");
SYSCTL_INT(_debug_hkdep, OID_AUTO, veto, CTLFLAG_RW, &hd_veto, 0, "");
SYSCTL_INT(_debug_hkdep, OID_AUTO, value, CTLFLAG_RD, &hd_value, 0, "");
SYSCTL_INT(_debug_hkdep, OID_AUTO, unload_calls, CTLFLAG_RD,
    &hd_unload_calls, 0, "");
SYSCTL_INT(_debug_hkdep, OID_AUTO, lines, CTLFLAG_RW, &hd_lines, 0, "");
SYSCTL_PROC(_debug_hkdep, OID_AUTO, list, CTLTYPE_STRING | CTLFLAG_RD,
    NULL, 0, hd_list, "A", "one line per item");

static struct sysctl_ctx_list hd_ctx;
static void *hd_mem;
static cdev_t hd_dev;

static d_open_t hd_open;
static struct dev_ops hd_ops = {
	{ "hkdep", 0, D_MPSAFE },
	.d_open = hd_open,
};

static int
hd_open(struct dev_open_args *ap)
{
	return (0);
}

/* The interposer: no in-flight count of its own (a test module). */
static d_open_t hd_iopen;
static struct dev_ops hd_iops = {
	{ "hkdep_i", 0, 0 },
	.d_open = hd_iopen,
};
static cdev_t hd_idev;
static struct dev_ops *hd_orig;

static int
hd_iopen(struct dev_open_args *ap)
{
	return (hd_orig->d_open(ap));
}

static int
hd_modevent(module_t mod, int type, void *data)
{
	struct sysctl_oid *node;

	switch (type) {
	case MOD_LOAD:
		if (hd_fail_load)
			return (hd_fail_load);
		hd_mem = kmalloc(64, M_HKDEP, M_WAITOK | M_ZERO);
		sysctl_ctx_init(&hd_ctx);
		node = SYSCTL_ADD_NODE(&hd_ctx, SYSCTL_STATIC_CHILDREN(_debug),
		    OID_AUTO, "hkdyn", CTLFLAG_RW, 0, "dynamic");
		SYSCTL_ADD_INT(&hd_ctx, SYSCTL_CHILDREN(node), OID_AUTO, "x",
		    CTLFLAG_RD, &hd_dyn_x, 0, "");
		if (hd_leak_dev)
			hd_dev = make_dev(&hd_ops, 0, 0, 0, 0600, "hkdep");
		if (hd_intercept &&
		    (hd_idev = devfs_find_device_by_name("semcount")) != NULL)
			hd_orig = dev_ops_intercept(hd_idev, &hd_iops);
		return (0);
	case MOD_UNLOAD:
		hd_unload_calls++;
		if (hd_mem == NULL)
			return (0);	/* MOD_LOAD failed */
		if (hd_veto)
			return (EBUSY);
		if (hd_idev != NULL) {
			/* hd_orig stays: a thread that loaded hd_iops may
			 * still come (the linker lets it through first). */
			dev_ops_restore(hd_idev, hd_orig);
			hd_idev = NULL;
		}
		sysctl_ctx_free(&hd_ctx);
		kfree(hd_mem, M_HKDEP);
		hd_mem = NULL;
		/* hkdep.leak_dev: hd_dev is left behind on purpose. */
		return (0);
	case MOD_SHUTDOWN:
		return (0);
	default:
		return (EOPNOTSUPP);
	}
}

static moduledata_t hd_mod = { "hkdep", hd_modevent, NULL };
DECLARE_MODULE(hkdep, hd_mod, SI_SUB_DRIVERS, SI_ORDER_MIDDLE);
MODULE_DEPEND(hkdep, semcount, 1, 1, 1);
MODULE_VERSION(hkdep, 1);
