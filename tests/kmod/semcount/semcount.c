/*
 * semcount.c - a test-only KLD that counts what the kernel calls, so the
 * host kernel's semantics tests and the real-kernel tier can compare
 * numbers.  Not shipped.
 *
 * Nodes:
 *   /dev/semcount     plain device (d_close only on the device's last close)
 *   /dev/semcount_tc  D_TRACKCLOSE (d_close once per open file description)
 *   /dev/semclone     (tunable semcount.clone=1) a devfs clone handler is
 *                     registered under this name: each open with an fp gets
 *                     a private semclone<N> made with make_only_dev, which
 *                     its own d_close destroys (as tun(4) does).
 * Tunables (loader, read at MOD_LOAD):
 *   semcount.cdevpriv=1   d_open attaches a cdevpriv to the file
 *   semcount.fail_open=1  d_open fails with EIO (after the cdevpriv, if any)
 *   semcount.clone=1      register the semclone clone handler
 * Counters: sysctl debug.semcount.* (see sc_counters below).
 * ioctls: GETOPENS, FFLAG (a_fflag seen), ADD (IOC_INOUT round trip),
 * SLEEP (tsleep PCATCH until a signal), CURSIG (CURSIG of the caller).
 *
 * Locking: the counters are updated with atomic ops; sc_lock (lockmgr)
 * serialises module-level state (the plain device's open flag, clone
 * bookkeeping).  Nothing is called with sc_lock held except make_only_dev
 * and the bitmap, which do not sleep on it.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/module.h>
#include <sys/conf.h>
#include <sys/device.h>
#include <sys/devfs.h>
#include <sys/file.h>
#include <sys/lock.h>
#include <sys/malloc.h>
#include <sys/proc.h>
#include <sys/signal2.h>
#include <sys/thread.h>
#include <sys/queue.h>
#include <sys/sysctl.h>
#include <sys/errno.h>
#include <sys/ioccom.h>
#include <sys/uio.h>
#include <machine/atomic.h>

/* ioctls of /dev/semcount* (BSD encoding) */
#define SEMCOUNT_GETOPENS	_IOR('s', 1, int)	/* d_open count */
#define SEMCOUNT_FFLAG		_IOR('s', 2, int)	/* a_fflag seen */
#define SEMCOUNT_ADD		_IOWR('s', 3, int[4])	/* a[i] += 1 */
#define SEMCOUNT_SLEEP		_IO('s', 4)		/* tsleep(PCATCH) */
#define SEMCOUNT_CURSIG		_IOR('s', 5, int)	/* CURSIG(lwp) */
static const char sc_message[] = "semcount\n";

#define SC_MAXCLONES	64

static int sc_cdevpriv;
static int sc_fail_open;
static int sc_clone;
TUNABLE_INT("semcount.cdevpriv", &sc_cdevpriv);
TUNABLE_INT("semcount.fail_open", &sc_fail_open);
TUNABLE_INT("semcount.clone", &sc_clone);

static u_int sc_opens;		/* d_open calls, any node */
static u_int sc_opens_tc;	/* d_open on semcount_tc */
static u_int sc_closes;		/* d_close on semcount */
static u_int sc_closes_tc;	/* d_close on semcount_tc */
static u_int sc_closes_fp;	/* d_close calls that carried an a_fp */
static u_int sc_closes_nofp;	/* d_close calls with a_fp == NULL */
static u_int sc_opens_fp;	/* d_open calls that carried an a_fp */
static u_int sc_dtors;		/* cdevpriv destructor calls */
static u_int sc_dtor_after_close; /* dtors that ran after their d_close */
static u_int sc_privs;		/* successful devfs_set_cdevpriv */
static u_int sc_priv_errors;	/* devfs_set_cdevpriv failures */
static u_int sc_exits;		/* at_exit calls */
static u_int sc_exits_open;	/* ... while a semcount_tc file was open */
static u_int sc_forks;		/* at_fork calls */
static u_int sc_clones;		/* clone handler calls that made a clone */
static u_int sc_clone_closes;	/* d_close on a clone */
static u_int sc_clones_live;	/* clones not yet destroyed */
static u_int sc_tc_live;	/* semcount_tc descriptions open (internal) */
static u_int sc_sleeping;	/* threads inside SEMCOUNT_SLEEP */
static int sc_sleep_chan;
static int sc_version;
static int sc_loaded;

/*
 * debug.semcount.*: built at MOD_LOAD under the "debug" node found in the
 * root list (sysctl__children is declared plainly in sys/sysctl.h; the
 * static _debug children list is only made by a macro, which dfly-kbuild's
 * symbol check cannot vouch for), torn down with its context at unload.
 */
static struct sysctl_ctx_list sc_sysctl_ctx;

static const struct {
	const char	*name;
	u_int		*var;
} sc_counters[] = {
	{ "opens", &sc_opens },
	{ "opens_tc", &sc_opens_tc },
	{ "opens_fp", &sc_opens_fp },
	{ "closes", &sc_closes },
	{ "closes_tc", &sc_closes_tc },
	{ "closes_fp", &sc_closes_fp },
	{ "closes_nofp", &sc_closes_nofp },
	{ "dtors", &sc_dtors },
	{ "dtor_after_close", &sc_dtor_after_close },
	{ "privs", &sc_privs },
	{ "priv_errors", &sc_priv_errors },
	{ "exits", &sc_exits },
	{ "exits_open", &sc_exits_open },
	{ "forks", &sc_forks },
	{ "clones", &sc_clones },
	{ "clone_closes", &sc_clone_closes },
	{ "clones_live", &sc_clones_live },
	{ "sleeping", &sc_sleeping },
};

static int
sc_sysctl_init(void)
{
	struct sysctl_oid_list *debug = NULL;
	struct sysctl_oid *oid, *node;
	size_t i;

	SLIST_FOREACH(oid, &sysctl__children, oid_link) {
		if ((oid->oid_kind & CTLTYPE) == CTLTYPE_NODE &&
		    strcmp(oid->oid_name, "debug") == 0) {
			debug = SYSCTL_CHILDREN(oid);
			break;
		}
	}
	if (debug == NULL)
		return (ENOENT);
	sysctl_ctx_init(&sc_sysctl_ctx);
	node = SYSCTL_ADD_NODE(&sc_sysctl_ctx, debug, OID_AUTO, "semcount",
	    CTLFLAG_RW, 0, "semantics counters (test KLD)");
	if (node == NULL) {
		sysctl_ctx_free(&sc_sysctl_ctx);
		return (EEXIST);
	}
	for (i = 0; i < sizeof(sc_counters) / sizeof(sc_counters[0]); i++)
		SYSCTL_ADD_UINT(&sc_sysctl_ctx, SYSCTL_CHILDREN(node), OID_AUTO,
		    sc_counters[i].name, CTLFLAG_RD, sc_counters[i].var, 0, "");
	SYSCTL_ADD_INT(&sc_sysctl_ctx, SYSCTL_CHILDREN(node), OID_AUTO,
	    "version", CTLFLAG_RD, &sc_version, 0,
	    "__DragonFly_version seen by the module");
	return (0);
}

MALLOC_DEFINE(M_SEMCOUNT, "semcount", "semcount test KLD");

/* One per open file description that got a cdevpriv. */
struct sc_priv {
	int	closed;		/* its d_close already ran */
};

static struct lock sc_lock;
static cdev_t sc_dev, sc_dev_tc, sc_dev_clone;
static int sc_plain_open;	/* semcount is open (until its last close) */
static DEVFS_DEFINE_CLONE_BITMAP(semclone);

static d_open_t		sc_open;
static d_close_t	sc_close;
static d_ioctl_t	sc_ioctl;
static d_read_t		sc_read;
static d_write_t	sc_write;
static d_clone_t	sc_clone_handler;
static d_open_t		sc_clone_open;
static d_close_t	sc_clone_close;

static struct dev_ops sc_ops = {
	{ "semcount", 0, D_MPSAFE },
	.d_open =	sc_open,
	.d_close =	sc_close,
	.d_ioctl =	sc_ioctl,
	.d_read =	sc_read,
	.d_write =	sc_write,
};

static struct dev_ops sc_tc_ops = {
	{ "semcount_tc", 0, D_MPSAFE | D_TRACKCLOSE },
	.d_open =	sc_open,
	.d_close =	sc_close,
	.d_ioctl =	sc_ioctl,
};

static struct dev_ops sc_clone_ops = {
	{ "semclone", 0, D_MPSAFE | D_TRACKCLOSE },
	.d_open =	sc_clone_open,
	.d_close =	sc_clone_close,
};

static void
sc_dtor(void *data)
{
	struct sc_priv *p = data;

	atomic_add_int(&sc_dtors, 1);
	if (p->closed)
		atomic_add_int(&sc_dtor_after_close, 1);
	kfree(p, M_SEMCOUNT);
}

static int
sc_open(struct dev_open_args *ap)
{
	cdev_t dev = ap->a_head.a_dev;
	struct sc_priv *p;
	int error;

	atomic_add_int(&sc_opens, 1);
	if (dev == sc_dev_tc)
		atomic_add_int(&sc_opens_tc, 1);
	if (ap->a_fp != NULL)
		atomic_add_int(&sc_opens_fp, 1);
	if (sc_cdevpriv) {
		p = kmalloc(sizeof(*p), M_SEMCOUNT, M_WAITOK | M_ZERO);
		error = devfs_set_cdevpriv(ap->a_fp, p, sc_dtor);
		if (error) {
			atomic_add_int(&sc_priv_errors, 1);
			kfree(p, M_SEMCOUNT);
		} else {
			atomic_add_int(&sc_privs, 1);
		}
	}
	if (sc_fail_open)
		return (EIO);
	if (dev == sc_dev_tc)
		atomic_add_int(&sc_tc_live, 1);
	if (dev == sc_dev) {
		lockmgr(&sc_lock, LK_EXCLUSIVE);
		sc_plain_open = 1;
		lockmgr(&sc_lock, LK_RELEASE);
	}
	return (0);
}

static int
sc_close(struct dev_close_args *ap)
{
	cdev_t dev = ap->a_head.a_dev;
	struct sc_priv *p;

	if (dev == sc_dev_tc) {
		atomic_add_int(&sc_closes_tc, 1);
		atomic_subtract_int(&sc_tc_live, 1);
	} else {
		atomic_add_int(&sc_closes, 1);
		lockmgr(&sc_lock, LK_EXCLUSIVE);
		sc_plain_open = 0;
		lockmgr(&sc_lock, LK_RELEASE);
	}
	if (ap->a_fp != NULL) {
		atomic_add_int(&sc_closes_fp, 1);
		if (sc_cdevpriv && devfs_get_cdevpriv(ap->a_fp,
		    (void **)&p) == 0)
			p->closed = 1;
	} else {
		atomic_add_int(&sc_closes_nofp, 1);
	}
	return (0);
}

static int
sc_ioctl(struct dev_ioctl_args *ap)
{
	int *a = (int *)ap->a_data, i;

	switch (ap->a_cmd) {
	case SEMCOUNT_GETOPENS:
		*a = (int)atomic_load_acq_int(&sc_opens);
		return (0);
	case SEMCOUNT_FFLAG:
		*a = ap->a_fflag;
		return (0);
	case SEMCOUNT_ADD:
		for (i = 0; i < 4; i++)
			a[i] += 1;
		return (0);
	case SEMCOUNT_SLEEP:
		/* Sleep until a signal interrupts us (nobody wakes the chan). */
		atomic_add_int(&sc_sleeping, 1);
		do {
			i = tsleep(&sc_sleep_chan, PCATCH, "scsleep", 0);
		} while (i == 0);
		atomic_subtract_int(&sc_sleeping, 1);
		return (i);
	case SEMCOUNT_CURSIG:
		*a = CURSIG(curthread->td_lwp);
		return (0);
	default:
		return (ENOTTY);
	}
}

/* Reads return the message (from the file offset); writes are counted. */
static int
sc_read(struct dev_read_args *ap)
{
	struct uio *uio = ap->a_uio;
	size_t off = uio->uio_offset, n;

	if (off >= sizeof(sc_message) - 1)
		return (0);
	n = sizeof(sc_message) - 1 - off;
	if (n > uio->uio_resid)
		n = uio->uio_resid;
	return (uiomove(__DECONST(caddr_t, sc_message + off), n, uio));
}

static int
sc_write(struct dev_write_args *ap)
{
	struct uio *uio = ap->a_uio;
	char buf[16];
	size_t n;
	int error = 0;

	while (uio->uio_resid > 0 && error == 0) {
		n = uio->uio_resid < sizeof(buf) ? uio->uio_resid : sizeof(buf);
		error = uiomove(buf, n, uio);
	}
	return (error);
}

/* Runs in the opener's context; sets a_dev to a fresh clone. */
static int
sc_clone_handler(struct dev_clone_args *ap)
{
	int unit;

	unit = devfs_clone_bitmap_get(&DEVFS_CLONE_BITMAP(semclone),
	    SC_MAXCLONES);
	if (unit < 0)
		return (ENOSPC);
	ap->a_dev = make_only_dev(&sc_clone_ops, unit, 0, 0, 0600,
	    "semclone%d", unit);
	atomic_add_int(&sc_clones, 1);
	atomic_add_int(&sc_clones_live, 1);
	return (0);
}

/* A clone is single-open, like kqemu: a second open (by name) -> EBUSY. */
static int
sc_clone_open(struct dev_open_args *ap)
{
	cdev_t dev = ap->a_head.a_dev;
	int error = 0;

	atomic_add_int(&sc_opens, 1);
	if (dev == sc_dev_clone)
		return (0);
	lockmgr(&sc_lock, LK_EXCLUSIVE);
	if (dev->si_drv1 != NULL)
		error = EBUSY;
	else
		dev->si_drv1 = dev;
	lockmgr(&sc_lock, LK_RELEASE);
	return (error);
}

/* The clone's last close (one file per clone): destroy it, as tun does. */
static int
sc_clone_close(struct dev_close_args *ap)
{
	cdev_t dev = ap->a_head.a_dev;
	int unit = dev->si_uminor;

	atomic_add_int(&sc_clone_closes, 1);
	if (dev == sc_dev_clone)
		return (0);	/* the base node itself (no clone handler) */
	destroy_dev(dev);
	devfs_clone_bitmap_put(&DEVFS_CLONE_BITMAP(semclone), unit);
	atomic_subtract_int(&sc_clones_live, 1);
	return (0);
}

/* kern_exit.c runs this before the exiting process's files are closed. */
static void
sc_exit_hook(struct thread *td)
{
	atomic_add_int(&sc_exits, 1);
	if (atomic_load_acq_int(&sc_tc_live) != 0)
		atomic_add_int(&sc_exits_open, 1);
}

static void
sc_fork_hook(struct proc *parent, struct proc *child, int flags)
{
	atomic_add_int(&sc_forks, 1);
}

static int
sc_busy(void)
{
	int busy;

	lockmgr(&sc_lock, LK_EXCLUSIVE);
	busy = sc_plain_open || atomic_load_acq_int(&sc_tc_live) != 0 ||
	    atomic_load_acq_int(&sc_clones_live) != 0;
	lockmgr(&sc_lock, LK_RELEASE);
	return (busy);
}

static int
sc_modevent(module_t mod, int type, void *data)
{
	int error;

	switch (type) {
	case MOD_LOAD:
		sc_version = __DragonFly_version;
		if ((error = sc_sysctl_init()) != 0)
			return (error);
		lockinit(&sc_lock, "semcount", 0, 0);
		if ((error = at_exit(sc_exit_hook)) != 0) {
			lockuninit(&sc_lock);
			sysctl_ctx_free(&sc_sysctl_ctx);
			return (error);
		}
		if ((error = at_fork(sc_fork_hook)) != 0) {
			rm_at_exit(sc_exit_hook);
			lockuninit(&sc_lock);
			sysctl_ctx_free(&sc_sysctl_ctx);
			return (error);
		}
		sc_dev = make_dev(&sc_ops, 0, 0, 0, 0666, "semcount");
		sc_dev_tc = make_dev(&sc_tc_ops, 0, 0, 0, 0666, "semcount_tc");
		if (sc_clone) {
			devfs_clone_bitmap_init(&DEVFS_CLONE_BITMAP(semclone));
			sc_dev_clone = make_dev(&sc_clone_ops, 0xffff, 0, 0,
			    0666, "semclone");
			devfs_clone_handler_add("semclone", sc_clone_handler);
		}
		sc_loaded = 1;
		return (0);
	case MOD_UNLOAD:
		if (!sc_loaded)
			return (0);	/* our MOD_LOAD failed: nothing to undo */
		if (sc_busy())
			return (EBUSY);
		if (sc_clone) {
			devfs_clone_handler_del("semclone");
			destroy_dev(sc_dev_clone);
		}
		destroy_dev(sc_dev);
		destroy_dev(sc_dev_tc);
		/* destroy_dev completes on the devfs thread: wait, so no
		 * cdev points at our dev_ops once we are unmapped. */
		devfs_config();
		if (sc_clone)
			devfs_clone_bitmap_uninit(&DEVFS_CLONE_BITMAP(semclone));
		rm_at_fork(sc_fork_hook);
		rm_at_exit(sc_exit_hook);
		lockuninit(&sc_lock);
		sysctl_ctx_free(&sc_sysctl_ctx);
		sc_loaded = 0;
		return (0);
	case MOD_SHUTDOWN:
		return (0);
	default:
		return (EOPNOTSUPP);
	}
}

DEV_MODULE(semcount, sc_modevent, NULL);
MODULE_VERSION(semcount, 1);
