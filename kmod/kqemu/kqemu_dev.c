/*
 * kqemu_dev.c - kqemu.ko's C glue to the DragonFly kernel.
 *
 * Owns: the dev_ops table and the /dev/kqemu cdev, the module event
 * handler, the loader tunables (hw.kqemu.gid, hw.kqemu.perms,
 * hw.kqemu.engine, hw.kqemu.max_locked_pages), the sysctl tree hw.kqemu.*,
 * the holder count of kqemu_export.h, and the kqemu_os_* services the C++
 * core (kqemu_core.cc) uses.  This is the only kqemu file that includes
 * kernel headers (docs/design.md §2).
 *
 * Single-instance semantics, on purpose: a cdev's VM instance lives in its
 * si_drv1.  The first open (which must allow writing: else EPERM) creates
 * it, a second open of the same cdev gets EBUSY, the device's last close
 * deletes it.  The driver knows nothing of clones: a cdev someone else made
 * with kqemu's dev_ops (kqemu_clone's private clones) simply gets its own
 * instance, found through the cdev the call names (ap->a_head.a_dev).
 *
 * Per cdev: si_drv1 is the instance, si_drv2 the file whose open made it
 * (the only one whose close deletes it; NULL when the kernel passes no fp).
 *
 * Locking: kqemu_lk (lockmgr, sleepable) serializes the si_drv1 check and
 * set in d_open against d_open and d_close of any cdev, guards
 * kqemu_holds and kqemu_unloading, and is held while MOD_UNLOAD decides.
 * The core is entered under it only to create an instance or count the
 * live ones (order: kqemu_lk, then the core's driver lock).  d_ioctl takes
 * no glue lock: the cdev's instance cannot be deleted while an ioctl runs
 * on it, because d_close only comes on the last close of the one file
 * whose open created it, and an ioctl holds a reference on that file.
 * The device is D_MPSAFE and D_TRACKCLOSE: d_close comes once per open
 * file description (its last fdrop) rather than when devfs's open count
 * says the device's last close -- a count a close racing a close-then-
 * reopen can get wrong, leaking the instance (docs/design.md §8).
 * Only the open that created the instance succeeds, so exactly one close
 * deletes it.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/conf.h>
#include <sys/device.h>
#include <sys/devfs.h>
#include <sys/errno.h>
#include <sys/fcntl.h>
#include <sys/globaldata.h>
#include <sys/lock.h>
#include <sys/malloc.h>
#include <sys/module.h>
#include <sys/proc.h>
#include <sys/signal2.h>
#include <sys/sysctl.h>
#include <sys/thread.h>

#include "kqemu.h"
#include "kqemu_core.h"
#include "kqemu_export.h"
#include "kqemu_os.h"

/* The core's errno names are the kernel's numbers. */
#define KQEMU_CHECK_ERRNO(n)	\
	__extension__ _Static_assert(KQEMU_##n == n, "errno " #n)
KQEMU_CHECK_ERRNO(EPERM);
KQEMU_CHECK_ERRNO(EIO);
KQEMU_CHECK_ERRNO(ENXIO);
KQEMU_CHECK_ERRNO(ENOMEM);
KQEMU_CHECK_ERRNO(EFAULT);
KQEMU_CHECK_ERRNO(EBUSY);
KQEMU_CHECK_ERRNO(EINVAL);
KQEMU_CHECK_ERRNO(ENOTTY);

MALLOC_DEFINE(M_KQEMU, "KQEMU", "kqemu VM instances");

static d_open_t		kqemu_open;
static d_close_t	kqemu_close;
static d_ioctl_t	kqemu_ioctl;

static struct dev_ops kqemu_ops = {
	{ "kqemu", 0, D_MPSAFE | D_TRACKCLOSE },
	.d_open =	kqemu_open,
	.d_close =	kqemu_close,
	.d_ioctl =	kqemu_ioctl,
};

static cdev_t		kqemu_dev;
static struct lock	kqemu_lk;
static int		kqemu_holds;		/* kqemu_lk */
static int		kqemu_unloading;	/* kqemu_lk */
static char		kqemu_engine_name[16];

/* --- sysctl hw.kqemu ----------------------------------------------------- */

static int kqemu_version_value = KQEMU_VERSION;

/* One field of the core's statistics; arg2 is its offset. */
static int
kqemu_sysctl_stat(SYSCTL_HANDLER_ARGS)
{
	struct kqemu_stats st;
	unsigned long v;

	kqemu_core_stats(&st);
	v = *(unsigned long *)((char *)&st + arg2);
	return (sysctl_handle_long(oidp, &v, 0, req));
}

static int
kqemu_sysctl_int(SYSCTL_HANDLER_ARGS)
{
	int v = __atomic_load_n((int *)arg1, __ATOMIC_RELAXED);

	return (sysctl_handle_int(oidp, &v, 0, req));
}

/*
 * hw.kqemu.list: one line per live instance,
 *   "<cdev> pid=<pid> state=<NEW|READY> engine=<name> ioctls=<n> execs=<n>
 *    softmmu=<n> intr=<n> phys_calls=<n> ranges=<n> modify=<n>
 *    flushed=<n> modified=<n> locked=<pages> exception=<n> int=<n>
 *    syscall=<n> abort=<n> user_pages=<n> kernel_pages=<n>
 *    lock_failures=<n> schedules=<n> yields=<n> slices=<n>"
 * (exception..abort: EXEC exit reasons; user_pages..yields: what engine
 * kqemu's monitor holds now and how often it gave the CPU away)
 * so an administrator (and a test) sees who holds which instance.
 */
static int
kqemu_sysctl_list(SYSCTL_HANDLER_ARGS)
{
	struct kqemu_instance_info *info;
	char line[512];
	int error, i, n, max;

	max = kqemu_core_live() + 8;	/* more may open meanwhile */
	info = kmalloc(sizeof(*info) * max, M_KQEMU, M_WAITOK | M_NULLOK | M_ZERO);
	if (info == NULL)
		return (ENOMEM);
	n = kqemu_core_list(info, max);
	if (n > max)
		n = max;
	error = 0;
	for (i = 0; i < n && error == 0; i++) {
		struct kqemu_instance_info *o = &info[i];

		ksnprintf(line, sizeof(line),
		    "%s pid=%d state=%s engine=%s ioctls=%lu execs=%lu "
		    "softmmu=%lu intr=%lu phys_calls=%lu ranges=%lu modify=%lu "
		    "flushed=%lu modified=%lu locked=%lu exception=%lu int=%lu "
		    "syscall=%lu abort=%lu user_pages=%lu kernel_pages=%lu "
		    "lock_failures=%lu schedules=%lu yields=%lu slices=%lu\n",
		    o->name, o->pid, o->ready ? "READY" : "NEW", o->engine,
		    o->ioctls, o->execs, o->exec_softmmu, o->exec_intr,
		    o->set_phys_mem, (unsigned long)o->es.phys_ranges,
		    o->modify_ram_pages, (unsigned long)o->es.pages_flushed,
		    (unsigned long)o->es.modified_pages,
		    (unsigned long)o->es.locked_pages,
		    o->exec_exception, o->exec_int, o->exec_syscall,
		    o->exec_abort,
		    (unsigned long)o->es.user_pages,
		    (unsigned long)o->es.kernel_pages,
		    (unsigned long)o->es.lock_failures,
		    (unsigned long)o->es.schedules,
		    (unsigned long)o->es.yields,
		    (unsigned long)o->es.slices);
		error = SYSCTL_OUT(req, line, strlen(line));
	}
	if (error == 0)
		error = SYSCTL_OUT(req, "", 1);
	kfree(info, M_KQEMU);
	return (error);
}

/*
 * hw.kqemu is built at MOD_LOAD under the kernel's own "hw" node
 * (SYSCTL_STATIC_CHILDREN(_hw): kern_mib.c defines it in every kernel) and
 * torn down with its context at MOD_UNLOAD.
 */
static struct sysctl_ctx_list kqemu_sysctl_ctx;


#define KQEMU_STAT(f, d)	{ #f, __builtin_offsetof(struct kqemu_stats, f), d }
static const struct {
	const char	*name;
	int		offset;
	const char	*descr;
} kqemu_sysctl_stats[] = {
	KQEMU_STAT(instances, "Live instances"),
	KQEMU_STAT(opens, "Instances created"),
	KQEMU_STAT(inits, "Successful INITs"),
	KQEMU_STAT(init_errors, "Refused INITs"),
	KQEMU_STAT(execs, "Successful EXECs"),
	KQEMU_STAT(exec_softmmu, "EXECs that returned SOFTMMU"),
	KQEMU_STAT(exec_intr, "EXECs that returned INTR (signal pending)"),
	KQEMU_STAT(exec_exception, "EXECs that returned a guest exception"),
	KQEMU_STAT(exec_int, "EXECs that returned a guest software interrupt"),
	KQEMU_STAT(exec_syscall, "EXECs that returned a guest syscall"),
	KQEMU_STAT(exec_abort, "EXECs that returned ABORT (monitor error)"),
	KQEMU_STAT(exec_other, "EXECs that returned another exit reason"),
	KQEMU_STAT(set_phys_mem, "Successful SET_PHYS_MEMs"),
	KQEMU_STAT(modify_ram_pages, "Successful MODIFY_RAM_PAGES"),
	KQEMU_STAT(ioctl_errors, "ioctls answered with an errno"),
	KQEMU_STAT(locked_pages, "Locked-pages budget in use"),
	KQEMU_STAT(max_locked_pages, "Locked-pages budget (hw.kqemu.max_locked_pages)"),
};
#undef KQEMU_STAT

static int
kqemu_sysctl_attach(void)
{
	struct sysctl_oid_list *hw, *kq;
	struct sysctl_oid *node;
	size_t i;

	hw = SYSCTL_STATIC_CHILDREN(_hw);
	sysctl_ctx_init(&kqemu_sysctl_ctx);
	node = SYSCTL_ADD_NODE(&kqemu_sysctl_ctx, hw, OID_AUTO, "kqemu",
	    CTLFLAG_RD, 0, "kqemu accelerator client driver");
	if (node == NULL) {
		sysctl_ctx_free(&kqemu_sysctl_ctx);
		return (EEXIST);
	}
	kq = SYSCTL_CHILDREN(node);
	SYSCTL_ADD_INT(&kqemu_sysctl_ctx, kq, OID_AUTO, "version", CTLFLAG_RD,
	    &kqemu_version_value, 0, "kqemu ABI version answered to GET_VERSION");
	SYSCTL_ADD_STRING(&kqemu_sysctl_ctx, kq, OID_AUTO, "engine", CTLFLAG_RD,
	    kqemu_engine_name, 0,
	    "Engine new instances use (loader tunable hw.kqemu.engine)");
	SYSCTL_ADD_STRING(&kqemu_sysctl_ctx, kq, OID_AUTO, "license", CTLFLAG_RD,
	    __DECONST(char *, kqemu_module_license), 0,
	    "This module's license (GPL when kqemu's monitor is linked)");
	SYSCTL_ADD_PROC(&kqemu_sysctl_ctx, kq, OID_AUTO, "holders",
	    CTLTYPE_INT | CTLFLAG_RD, &kqemu_holds, 0, kqemu_sysctl_int, "I",
	    "Holds taken by wrapping modules (kqemu_hold)");
	for (i = 0; i < sizeof(kqemu_sysctl_stats) / sizeof(kqemu_sysctl_stats[0]); i++) {
		SYSCTL_ADD_PROC(&kqemu_sysctl_ctx, kq, OID_AUTO,
		    kqemu_sysctl_stats[i].name, CTLTYPE_ULONG | CTLFLAG_RD,
		    NULL, kqemu_sysctl_stats[i].offset, kqemu_sysctl_stat, "LU",
		    kqemu_sysctl_stats[i].descr);
	}
	SYSCTL_ADD_PROC(&kqemu_sysctl_ctx, kq, OID_AUTO, "list",
	    CTLTYPE_STRING | CTLFLAG_RD, NULL, 0, kqemu_sysctl_list, "A",
	    "Live instances, one per line");
	return (0);
}

/* --- the device ---------------------------------------------------------- */

static int
kqemu_open(struct dev_open_args *ap)
{
	cdev_t dev = ap->a_head.a_dev;
	struct kqemu_instance *inst;
	int error;

	/* QEMU opens O_RDWR; the monitor writes guest memory. */
	if ((ap->a_oflags & FWRITE) == 0)
		return (EPERM);
	lockmgr(&kqemu_lk, LK_EXCLUSIVE);
	if (kqemu_unloading)
		error = ENXIO;
	else if (dev->si_drv1 != NULL)
		error = EBUSY;		/* one instance per cdev */
	else if ((error = kqemu_core_create(dev->si_name, &inst)) == 0) {
		dev->si_drv1 = inst;
		dev->si_drv2 = ap->a_fp;	/* its file; NULL before 3.8 */
	}
	lockmgr(&kqemu_lk, LK_RELEASE);
	return (error);
}

static int
kqemu_close(struct dev_close_args *ap)
{
	cdev_t dev = ap->a_head.a_dev;
	struct kqemu_instance *inst;

	lockmgr(&kqemu_lk, LK_EXCLUSIVE);
	/*
	 * Only the file whose open created the instance deletes it.  Another
	 * file can reach here on the same cdev: one a wrapper opened through
	 * its interposer and that closes after the wrapper restored our ops,
	 * or one that 5.8.1's D_QUICK open path handed out although d_open
	 * said EBUSY.  Deleting on its close would free the instance under
	 * the file that owns it.  Without an fp (before 3.8, or an in-kernel
	 * open) there is nothing to tell them apart: the close deletes.
	 */
	if (dev->si_drv2 != NULL && ap->a_fp != NULL &&
	    ap->a_fp != dev->si_drv2) {
		lockmgr(&kqemu_lk, LK_RELEASE);
		return (0);
	}
	inst = dev->si_drv1;
	dev->si_drv1 = NULL;
	dev->si_drv2 = NULL;
	lockmgr(&kqemu_lk, LK_RELEASE);
	/* Still counted by the core until destroyed: unload stays refused. */
	if (inst != NULL)
		kqemu_core_destroy(inst);
	return (0);
}

static int
kqemu_ioctl(struct dev_ioctl_args *ap)
{
	struct kqemu_instance *inst = ap->a_head.a_dev->si_drv1;

	if (inst == NULL)
		return (ENXIO);
	return (kqemu_core_ioctl(inst, ap->a_cmd, ap->a_data));
}

/* --- holders (kqemu_export.h) ------------------------------------------- */

int
kqemu_hold(void)
{
	int error = 0;

	lockmgr(&kqemu_lk, LK_EXCLUSIVE);
	if (kqemu_unloading)
		error = ENXIO;
	else
		__atomic_store_n(&kqemu_holds, kqemu_holds + 1, __ATOMIC_RELAXED);
	lockmgr(&kqemu_lk, LK_RELEASE);
	return (error);
}

void
kqemu_rele(void)
{
	lockmgr(&kqemu_lk, LK_EXCLUSIVE);
	if (kqemu_holds <= 0)
		panic("kqemu_rele: no hold");
	__atomic_store_n(&kqemu_holds, kqemu_holds - 1, __ATOMIC_RELAXED);
	lockmgr(&kqemu_lk, LK_RELEASE);
}

/* --- kqemu_os.h ---------------------------------------------------------- */

struct kqemu_os_lock {
	struct lock	lk;
};

void *
kqemu_os_alloc(kqemu_size_t size)
{
	return (kmalloc(size, M_KQEMU, M_WAITOK | M_NULLOK | M_ZERO));
}

void
kqemu_os_free(void *p)
{
	kfree(p, M_KQEMU);
}

struct kqemu_os_lock *
kqemu_os_lock_create(const char *name)
{
	struct kqemu_os_lock *l;

	l = kmalloc(sizeof(*l), M_KQEMU, M_WAITOK | M_NULLOK | M_ZERO);
	if (l != NULL)
		lockinit(&l->lk, name, 0, 0);
	return (l);
}

void
kqemu_os_lock_destroy(struct kqemu_os_lock *l)
{
	lockuninit(&l->lk);
	kfree(l, M_KQEMU);
}

void
kqemu_os_lock_acquire(struct kqemu_os_lock *l)
{
	lockmgr(&l->lk, LK_EXCLUSIVE);
}

void
kqemu_os_lock_release(struct kqemu_os_lock *l)
{
	lockmgr(&l->lk, LK_RELEASE);
}

int
kqemu_os_copyin(const void *uaddr, void *kaddr, kqemu_size_t len)
{
	return (copyin(uaddr, kaddr, len) == 0 ? 0 : EFAULT);
}

int
kqemu_os_copyout(const void *kaddr, void *uaddr, kqemu_size_t len)
{
	return (copyout(kaddr, uaddr, len) == 0 ? 0 : EFAULT);
}

/*
 * CURSIG_NOBLOCK, not CURSIG: only state the fact that an unblocked signal
 * is pending.  CURSIG may run issignal(), which can stop a traced process
 * or consume the signal here; EXEC only has to return (with INTR) so that
 * the syscall return path delivers it, which QEMU's SIGALRM timer needs.
 */
int
kqemu_os_signal_pending(void)
{
	struct lwp *lp = curthread->td_lwp;

	return (lp != NULL && CURSIG_NOBLOCK(lp) != 0);
}

int
kqemu_os_pid(void)
{
	struct proc *p = curthread->td_proc;

	return (p != NULL ? (int)p->p_pid : 0);
}

void
kqemu_os_log(const char *msg)
{
	kprintf("%s", msg);
}

void
kqemu_os_panic(const char *msg)
{
	panic("%s", msg);
}

/* --- module events ------------------------------------------------------- */

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
	sysctl_ctx_free(&kqemu_sysctl_ctx);
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
	sysctl_ctx_free(&kqemu_sysctl_ctx);
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
