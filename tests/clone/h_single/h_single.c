/*
 * h_single.c - h_single.ko: a minimal single-instance character device,
 * the generic shim's test subject (tests only, never shipped).
 *
 * Owns /dev/hsingle and one instance per cdev in si_drv1 (like kqemu):
 * first open (FWRITE needed, else EPERM) allocates it, a second open of the
 * same cdev gets EBUSY, the device's last close frees it.  ioctls: SET/GET
 * a value (isolation checks), SLEEP n ticks (calls in flight), SERIAL (which
 * instance answered).  Exports hsingle_hold/hsingle_rele: MOD_UNLOAD
 * refuses while held, while any instance lives or while the cdev is
 * intercepted (docs/design.md §7.2).  sysctl debug.hsingle.instances.
 *
 * d_psize and d_revoke answer on the device itself (operations a wrapper
 * must forward too): debug.hsingle.psize and .revoke call them through
 * the cdev's current ops, as the kernel would.  The loader tunable
 * hw.hsingle.variant makes it a driver kind a wrapper must refuse:
 * "nompsafe" (no D_MPSAFE), "mmap", "mmap_single", "kqfilter" (state a
 * mapping or knote can keep after the last close), "uksmap".
 *
 * Locking: hs_lk (lockmgr) guards every si_drv1 check-and-set, the counts
 * and the holds.  ioctls take no lock: the instance cannot go while a call
 * holds its file.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/conf.h>
#include <sys/device.h>
#include <sys/devfs.h>
#include <sys/errno.h>
#include <sys/fcntl.h>
#include <sys/lock.h>
#include <sys/malloc.h>
#include <sys/module.h>
#include <sys/sysctl.h>
#include <sys/proc.h>
#include <sys/signal2.h>
#include <machine/atomic.h>

#include "h_single.h"

int	hsingle_hold(void);
void	hsingle_rele(void);

static MALLOC_DEFINE(M_HSINGLE, "hsingle", "h_single instances");

struct hs_inst {
	int	value;
	int	serial;
};

static d_open_t		hs_open;
static d_close_t	hs_close;
static d_ioctl_t	hs_ioctl;
static d_psize_t	hs_psize;
static d_revoke_t	hs_revoke;
static d_mmap_t		hs_mmap;
static d_mmap_single_t	hs_mmap_single;
static d_kqfilter_t	hs_kqfilter;

/*
 * D_TRACKCLOSE: d_close once per open file.  Without it devfs calls
 * d_close only when it believes the close is the device's last, from a
 * v_opencount that a racing close decrements only after its own d_close
 * returned ("XXX NOT SMP SAFE" in devfs_spec_close): a close racing a
 * close-then-reopen can be skipped and the instance leaked.  That is
 * devfs's race, not the shim's; the stress tests would trip over it.
 */
static struct dev_ops hs_ops = {
	{ "hsingle", 0, D_MPSAFE | D_TRACKCLOSE },
	.d_open =	hs_open,
	.d_close =	hs_close,
	.d_ioctl =	hs_ioctl,
	.d_psize =	hs_psize,
	.d_revoke =	hs_revoke,
};

#define HS_PSIZE	4242	/* what d_psize answers */

static cdev_t		hs_dev;
static struct lock	hs_lk;
static int		hs_instances;	/* hs_lk */
static int		hs_holds;	/* hs_lk */
static int		hs_serial;	/* hs_lk */
static int		hs_base_opens;	/* hs_lk: opens of /dev/hsingle itself */
static int		hs_revokes;	/* atomic: d_revoke calls */
static int		hs_sleepers;	/* atomic: SLEEP ioctls inside */
static int		hs_sleep_sigs;	/* atomic: SLEEPs that saw a signal */

SYSCTL_NODE(_debug, OID_AUTO, hsingle, CTLFLAG_RD, 0, "h_single test driver");
SYSCTL_INT(_debug_hsingle, OID_AUTO, instances, CTLFLAG_RD, &hs_instances, 0,
    "live instances");
SYSCTL_INT(_debug_hsingle, OID_AUTO, holds, CTLFLAG_RD, &hs_holds, 0,
    "holds taken by a wrapping module (hsingle_hold)");
SYSCTL_INT(_debug_hsingle, OID_AUTO, base_opens, CTLFLAG_RD, &hs_base_opens, 0,
    "successful opens of the base cdev (not a clone)");
SYSCTL_INT(_debug_hsingle, OID_AUTO, sleepers, CTLFLAG_RD, &hs_sleepers, 0,
    "SLEEP ioctls in progress (tests rendezvous on it)");
SYSCTL_INT(_debug_hsingle, OID_AUTO, sleep_sigs, CTLFLAG_RD, &hs_sleep_sigs,
    0, "SLEEP ioctls that saw a signal pending before returning");

/* dev_dpsize() of /dev/hsingle, through whatever ops the cdev has now. */
static int
hs_sysctl_psize(SYSCTL_HANDLER_ARGS)
{
	long v = (long)dev_dpsize(hs_dev);

	return (SYSCTL_OUT(req, &v, sizeof(v)));
}
SYSCTL_PROC(_debug_hsingle, OID_AUTO, psize, CTLTYPE_LONG | CTLFLAG_RD, 0, 0,
    hs_sysctl_psize, "L", "dev_dpsize(/dev/hsingle) (the driver says 4242)");

/* dev_drevoke() of /dev/hsingle; answers how many d_revoke reached us. */
static int
hs_sysctl_revoke(SYSCTL_HANDLER_ARGS)
{
	long v;

	dev_drevoke(hs_dev);
	v = __atomic_load_n(&hs_revokes, __ATOMIC_SEQ_CST);
	return (SYSCTL_OUT(req, &v, sizeof(v)));
}
SYSCTL_PROC(_debug_hsingle, OID_AUTO, revoke, CTLTYPE_LONG | CTLFLAG_RD, 0, 0,
    hs_sysctl_revoke, "L", "dev_drevoke(/dev/hsingle), then d_revoke calls");

int
hsingle_hold(void)
{
	lockmgr(&hs_lk, LK_EXCLUSIVE);
	hs_holds++;
	lockmgr(&hs_lk, LK_RELEASE);
	return (0);
}

void
hsingle_rele(void)
{
	lockmgr(&hs_lk, LK_EXCLUSIVE);
	hs_holds--;
	lockmgr(&hs_lk, LK_RELEASE);
}

static int
hs_open(struct dev_open_args *ap)
{
	cdev_t dev = ap->a_head.a_dev;
	struct hs_inst *in;

	if ((ap->a_oflags & FWRITE) == 0)
		return (EPERM);
	in = kmalloc(sizeof(*in), M_HSINGLE, M_WAITOK | M_NULLOK | M_ZERO);
	if (in == NULL)
		return (ENOMEM);
	lockmgr(&hs_lk, LK_EXCLUSIVE);
	if (dev->si_drv1 != NULL) {
		lockmgr(&hs_lk, LK_RELEASE);
		kfree(in, M_HSINGLE);
		return (EBUSY);
	}
	in->serial = ++hs_serial;
	if (dev == hs_dev)
		hs_base_opens++;
	dev->si_drv1 = in;
	dev->si_drv2 = ap->a_fp;	/* the file that owns it, as kqemu */
	hs_instances++;
	lockmgr(&hs_lk, LK_RELEASE);
	return (0);
}

static int
hs_close(struct dev_close_args *ap)
{
	cdev_t dev = ap->a_head.a_dev;
	struct hs_inst *in;

	lockmgr(&hs_lk, LK_EXCLUSIVE);
	/* Only the owning file's close deletes (kqemu's rule, kqemu_dev.c):
	 * a file an interposer opened that closes after the restore, or one
	 * 5.8.1's D_QUICK path handed out on EBUSY, is not the owner. */
	if (dev->si_drv2 != NULL && ap->a_fp != NULL &&
	    ap->a_fp != dev->si_drv2) {
		lockmgr(&hs_lk, LK_RELEASE);
		return (0);
	}
	in = dev->si_drv1;
	dev->si_drv1 = NULL;
	dev->si_drv2 = NULL;
	if (in != NULL)
		hs_instances--;
	lockmgr(&hs_lk, LK_RELEASE);
	if (in != NULL)
		kfree(in, M_HSINGLE);
	return (0);
}

static int
hs_ioctl(struct dev_ioctl_args *ap)
{
	struct hs_inst *in = ap->a_head.a_dev->si_drv1;
	int *arg = (int *)ap->a_data;
	int i;

	if (in == NULL)
		return (ENXIO);
	switch (ap->a_cmd) {
	case HS_IOC_SET:
		in->value = *arg;
		return (0);
	case HS_IOC_GET:
		*arg = in->value;
		return (0);
	case HS_IOC_SLEEP:
		atomic_add_int((u_int *)&hs_sleepers, 1);
		for (i = 0; i < *arg; i++)
			tsleep(in, 0, "hssleep", 1);
		/* A kill that landed while we slept is pending now. */
		if (CURSIG_NOBLOCK(curthread->td_lwp) != 0)
			atomic_add_int((u_int *)&hs_sleep_sigs, 1);
		atomic_subtract_int((u_int *)&hs_sleepers, 1);
		return (0);
	case HS_IOC_SERIAL:
		*arg = in->serial;
		return (0);
	default:
		return (ENOTTY);
	}
}

static int
hs_psize(struct dev_psize_args *ap)
{
	ap->a_result = HS_PSIZE;
	return (0);
}

static int
hs_revoke(struct dev_revoke_args *ap)
{
	__atomic_fetch_add(&hs_revokes, 1, __ATOMIC_SEQ_CST);
	return (0);
}

/* The variants' operations: never reached (a wrapper refuses them). */
static int
hs_mmap(struct dev_mmap_args *ap)
{
	return (ENODEV);
}

static int
hs_mmap_single(struct dev_mmap_single_args *ap)
{
	return (ENODEV);
}

static int
hs_kqfilter(struct dev_kqfilter_args *ap)
{
	return (EOPNOTSUPP);
}

static int
hs_uksmap(struct vm_map_backing *ba, int op, struct cdev *dev,
    struct vm_page *fake)
{
	return (ENODEV);
}

/* hw.hsingle.variant: the driver kind this load makes (see the top). */
static int
hs_set_variant(void)
{
	char v[16];

	hs_ops.head.flags = D_MPSAFE | D_TRACKCLOSE;
	hs_ops.d_mmap = NULL;
	hs_ops.d_mmap_single = NULL;
	hs_ops.d_kqfilter = NULL;
	hs_ops.d_uksmap = NULL;
	v[0] = '\0';
	TUNABLE_STR_FETCH("hw.hsingle.variant", v, sizeof(v));
	if (v[0] == '\0')
		return (0);
	if (strcmp(v, "nompsafe") == 0)
		hs_ops.head.flags &= ~D_MPSAFE;
	else if (strcmp(v, "mmap") == 0)
		hs_ops.d_mmap = hs_mmap;
	else if (strcmp(v, "mmap_single") == 0)
		hs_ops.d_mmap_single = hs_mmap_single;
	else if (strcmp(v, "kqfilter") == 0)
		hs_ops.d_kqfilter = hs_kqfilter;
	else if (strcmp(v, "uksmap") == 0)
		hs_ops.d_uksmap = hs_uksmap;
	else
		return (EINVAL);
	return (0);
}

static int
hs_modevent(module_t mod, int type, void *data)
{
	int error;

	switch (type) {
	case MOD_LOAD:
		if ((error = hs_set_variant()) != 0)
			return (error);
		hs_revokes = 0;
		lockinit(&hs_lk, "hsingle", 0, 0);
		hs_dev = make_dev(&hs_ops, 0, 0, 0, 0666, "hsingle");
		return (0);
	case MOD_UNLOAD:
		lockmgr(&hs_lk, LK_EXCLUSIVE);
		if (hs_holds > 0 || hs_instances > 0 ||
		    hs_dev->si_ops != &hs_ops) {
			lockmgr(&hs_lk, LK_RELEASE);
			return (EBUSY);
		}
		lockmgr(&hs_lk, LK_RELEASE);
		dev_ops_remove_all(&hs_ops);
		devfs_config();
		lockuninit(&hs_lk);
		return (0);
	case MOD_SHUTDOWN:
		return (0);
	default:
		return (EOPNOTSUPP);
	}
}

DEV_MODULE(h_single, hs_modevent, NULL);
MODULE_VERSION(h_single, 1);
