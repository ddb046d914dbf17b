/*
 * clone_glue.c - the cloning shim's C side: dev_ops, devfs, modes.
 *
 * Owns: the interposer dev_ops (fp, native and proc modes), the autoclone
 * clone handler and clone dev_ops, the clone cdevs, the driver instance the
 * shim holds on the device itself (autoclone, proc), the in-flight
 * counters, the at_exit hook (proc mode only), the
 * autoclone unload protocol, the sysctl tree debug.<name>.*, and the OS
 * interface (clone_os_*) of the hermetic core in clone_core.cc.
 * DESIGN.md sections 2 and 5; docs/devfs-clone-bug.md; docs/kqemu_clone.4.md.
 *
 * What outlives a detach, on purpose: one struct dev_ops in the kernel's
 * devbuf type (the interposer, or autoclone's quiesce copy), because a
 * thread that loaded si_ops before the restore may still read it.
 *
 * Locking:
 *  - clone_shims[] (the attached shims) is written by attach/detach only,
 *    which run from module events (serialised by the kernel linker), and
 *    read without a lock by the entry points (sequentially consistent
 *    atomics): a slot is published after the shim is complete and cleared
 *    once the kernel no longer routes new calls to the shim.
 *  - clone_exit_hooks is touched by attach/detach only.
 *  - clone_inflight[] (per-CPU-slot atomic counters, one cache line each)
 *    count threads inside any shim entry point.  Detach clears the shim's
 *    slot first and then waits for zero, the store-buffer protocol of
 *    clone_enter(): the shim is freed only once no thread can be inside
 *    it or still find it.  Per-slot, so no cache line is written by every
 *    ioctl of every clone.
 *  - the core's own locks (see clone_core.h).  No shim lock is ever held
 *    across a call into the wrapped driver: a call holds only a reference
 *    on its record.
 *
 * The wrapped driver must be D_MPSAFE (kqemu is): the interposer copies the
 * driver's flags, so the kernel takes the MP lock around our entry points
 * when the driver needs it, but the at_exit and finalize paths call the
 * driver's d_close without it.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/conf.h>
#include <sys/device.h>
#include <sys/devfs.h>
#include <sys/errno.h>
#include <sys/fcntl.h>
#include <sys/file.h>
#include <sys/malloc.h>
#include <sys/proc.h>
#include <sys/spinlock.h>
#include <sys/spinlock2.h>
#include <sys/stat.h>
#include <sys/sysctl.h>
#include <sys/thread.h>
#include <sys/ucred.h>
#include <sys/mount.h>
#include <sys/nlookup.h>
#include <sys/vnode.h>
#include <machine/atomic.h>

#include <clone_shim.h>
#include "clone/clone_core.h"
#include "kglue/sysctl_root.h"

static MALLOC_DEFINE(M_CLONESHIM, "clone_shim", "cloning shim records");

#define CLONE_MAX_SHIMS		4
#define CLONE_INFLIGHT_SLOTS	64	/* power of two */
#define CLONE_MAX_DEVFS_MOUNTS	16

struct clone_shim {
	cdev_t			base;		/* the driver's cdev */
	enum clone_shim_mode	mode;
	struct clone_core	*core;
	struct dev_ops		*orig;		/* the driver's own ops */
	struct dev_ops		*iops;		/* interposer (not autoclone) */
	struct dev_ops		clone_ops;	/* autoclone: driver's + ours */
	struct devfs_bitmap	bitmap;		/* autoclone units */
	struct malloc_type	*leak_type;	/* autoclone: a kernel type */
	struct sysctl_ctx_list	sysctl_ctx;
	int			sysctl_on;
	int			max_per_proc;	/* effective limits (sysctl) */
	int			max_per_uid;
	int			max_total;
	u_int			ready;		/* interposer flags are final */
	char			name[64];
};

struct clone_inflight {
	u_int	n;
	char	pad[64 - sizeof(u_int)];
};

static struct clone_shim *clone_shims[CLONE_MAX_SHIMS];
static struct clone_inflight clone_inflight[CLONE_INFLIGHT_SLOTS];
static int clone_exit_hooks;	/* attached shims using the at_exit hook */

static d_open_t		clone_if_open;
static d_close_t	clone_if_close;
static d_read_t		clone_if_read;
static d_write_t	clone_if_write;
static d_ioctl_t	clone_if_ioctl;
static d_mmap_t		clone_if_mmap;
static d_mmap_single_t	clone_if_mmap_single;
static d_kqfilter_t	clone_if_kqfilter;
static d_open_t		clone_ac_open;
static d_close_t	clone_ac_close;
static d_clone_t	clone_ac_handler;
static void		clone_at_exit(struct thread *td);
static void		clone_finalize(void *ctx, struct clone_rec *rec);

/* ---------------------------------------------------------------------
 * Capabilities: the one table (on the host, __DragonFly_version follows
 * the kernel profile; on a real kernel it is a constant).
 */
int
clone_shim_mode_supported(enum clone_shim_mode mode)
{
	int v = __DragonFly_version;

	switch (mode) {
	case CLONE_MODE_AUTOCLONE:
		return (v >= CLONE_VERSION_CLONE_HANDLERS ? 0 : EOPNOTSUPP);
	case CLONE_MODE_FP:
		return (v >= CLONE_VERSION_A_FP ? 0 : EOPNOTSUPP);
	case CLONE_MODE_NATIVE:
		return (v >= CLONE_VERSION_CDEVPRIV ? 0 : EOPNOTSUPP);
	case CLONE_MODE_PROC:
		return (0);
	default:
		return (EINVAL);
	}
}

enum clone_shim_mode
clone_shim_default_mode(void)
{
	if (clone_shim_mode_supported(CLONE_MODE_AUTOCLONE) == 0)
		return (CLONE_MODE_AUTOCLONE);
	if (clone_shim_mode_supported(CLONE_MODE_FP) == 0)
		return (CLONE_MODE_FP);
	return (CLONE_MODE_PROC);
}

static const char *clone_mode_names[] = {
	[CLONE_MODE_DEFAULT] = "default",
	[CLONE_MODE_AUTOCLONE] = "autoclone",
	[CLONE_MODE_FP] = "fp",
	[CLONE_MODE_NATIVE] = "native",
	[CLONE_MODE_PROC] = "proc",
};

const char *
clone_shim_mode_name(enum clone_shim_mode mode)
{
	if ((unsigned)mode > CLONE_MODE_PROC)
		return ("?");
	return (clone_mode_names[mode]);
}

int
clone_shim_mode_by_name(const char *name)
{
	int i;

	for (i = CLONE_MODE_AUTOCLONE; i <= CLONE_MODE_PROC; i++)
		if (strcmp(name, clone_mode_names[i]) == 0)
			return (i);
	if (strcmp(name, "default") == 0 || name[0] == '\0')
		return (CLONE_MODE_DEFAULT);
	return (-1);
}

enum clone_shim_mode
clone_shim_mode(const struct clone_shim *shim)
{
	return (shim->mode);
}

/* ---------------------------------------------------------------------
 * OS interface of the core.
 */
void *
clone_os_alloc(size_t size)
{
	return (kmalloc(size, M_CLONESHIM, M_WAITOK | M_NULLOK | M_ZERO));
}

void
clone_os_free(void *p)
{
	kfree(p, M_CLONESHIM);
}

struct clone_os_spin *
clone_os_spin_create(int n)
{
	struct spinlock *s;
	int i;

	s = kmalloc(sizeof(*s) * n, M_CLONESHIM, M_WAITOK | M_NULLOK | M_ZERO);
	if (s == NULL)
		return (NULL);
	for (i = 0; i < n; i++)
		spin_init(&s[i], "clonesh");
	return ((struct clone_os_spin *)s);
}

void
clone_os_spin_destroy(struct clone_os_spin *os, int n)
{
	struct spinlock *s = (struct spinlock *)os;
	int i;

	for (i = 0; i < n; i++)
		spin_uninit(&s[i]);
	kfree(s, M_CLONESHIM);
}

void
clone_os_spin_lock(struct clone_os_spin *os, int i)
{
	spin_lock(&((struct spinlock *)os)[i]);
}

void
clone_os_spin_unlock(struct clone_os_spin *os, int i)
{
	spin_unlock(&((struct spinlock *)os)[i]);
}

void
clone_os_panic(const char *msg)
{
	panic("%s", msg);
}

int
clone_os_errno(int which)
{
	switch (which) {
	case CLONE_E_NOMEM:	return (ENOMEM);
	case CLONE_E_MFILE:	return (EMFILE);
	case CLONE_E_AGAIN:	return (EAGAIN);
	case CLONE_E_BUSY:	return (EBUSY);
	case CLONE_E_NXIO:	return (ENXIO);
	default:		return (EEXIST);
	}
}

/* ---------------------------------------------------------------------
 * In-flight accounting.  clone_enter() is the first thing and
 * clone_leave() the last thing every entry point does.
 *
 * The protocol with detach is the store-buffer pattern, and both sides
 * need a full barrier between their store and their load:
 *   entry point: increment its counter; then load clone_shims[].
 *   detach:      clear the shim's slot; then sum the counters.
 * All four are sequentially consistent, so at least one side sees the
 * other's store: either detach counts the entry point (and waits for it),
 * or the entry point finds the slot empty (and never touches the shim).
 * On x86 the increment is a locked add and the clear an xchg.
 * (Until this was so, detach summed first and cleared after: an entry
 * point that incremented just after the sum still found the shim, and a
 * real 5.8.1 kernel panicked in kmalloc when that thread unlocked the
 * core's table spinlock after clone_core_destroy had freed it.)
 */
static __inline int
clone_enter(void)
{
	int slot = mycpuid & (CLONE_INFLIGHT_SLOTS - 1);

	__atomic_fetch_add(&clone_inflight[slot].n, 1, __ATOMIC_SEQ_CST);
	return (slot);
}

static __inline void
clone_leave(int slot)
{
	__atomic_fetch_sub(&clone_inflight[slot].n, 1, __ATOMIC_RELEASE);
}

/* After the shim's slot was cleared: wait until no thread that may have
 * found it is still inside an entry point. */
static void
clone_wait_quiet(void)
{
	u_int busy;
	int i;

	for (;;) {
		busy = 0;
		for (i = 0; i < CLONE_INFLIGHT_SLOTS; i++)
			busy += __atomic_load_n(&clone_inflight[i].n,
			    __ATOMIC_SEQ_CST);
		if (busy == 0)
			return;
		tsleep(&clone_inflight, 0, "clnqt", 1);
	}
}

/*
 * A slot is published after the shim is complete, so an entry point that
 * finds it sees every field attach wrote (the kernel's own si_ops swap is
 * a plain store).  Loads and the clear are sequentially consistent for
 * the protocol above; the publication only needs release.
 */
static __inline struct clone_shim *
clone_shim_slot(int i)
{
	return (__atomic_load_n(&clone_shims[i], __ATOMIC_SEQ_CST));
}

static __inline void
clone_shim_set_slot(int i, struct clone_shim *shim)
{
	__atomic_store_n(&clone_shims[i], shim, __ATOMIC_SEQ_CST);
}

static struct clone_shim *
clone_find(cdev_t dev)
{
	int i;

	for (i = 0; i < CLONE_MAX_SHIMS; i++) {
		struct clone_shim *s = clone_shim_slot(i);

		if (s != NULL && s->base == dev)
			return (s);
	}
	return (NULL);
}

/*
 * An interposer entry point that finds no shim for its cdev: a thread that
 * loaded si_ops before detach restored the driver's ops, and entered after
 * detach unpublished the shim.  It gets the ops the cdev has now, as if it
 * had loaded si_ops a moment later: a close of a file opened before attach
 * must still reach the driver, or the driver keeps that file's instance.
 * NULL if those are still ours (cannot happen: the slot is cleared only
 * after the restore; the caller then answers ENXIO).
 */
static __inline struct dev_ops *
clone_if_now(cdev_t dev, d_open_t *ours)
{
	struct dev_ops *ops = __atomic_load_n(&dev->si_ops, __ATOMIC_ACQUIRE);

	return (ops->d_open == ours ? NULL : ops);
}

static __inline int
clone_curpid(void)
{
	struct proc *p = curthread->td_proc;

	return (p != NULL ? (int)p->p_pid : 0);
}

static __inline unsigned
clone_cred_uid(struct ucred *cred)
{
	if (cred == NULL)
		cred = curthread->td_ucred;
	return (cred != NULL ? (unsigned)cred->cr_uid : 0);
}

/* ---------------------------------------------------------------------
 * Finalize: the last reference of a closing record.  Forward the close
 * (if the clone was ever opened), destroy the clone, free the record.
 */
static void
clone_finalize(void *ctx, struct clone_rec *rec)
{
	struct clone_shim *shim = ctx;
	struct dev_close_args ca;
	cdev_t clone = clone_rec_dev(rec);
	void *fp;
	int unit = clone_rec_unit(rec);

	bzero(&ca, sizeof(ca));
	clone_rec_close_args(rec, &ca.a_fflag, &ca.a_devtype, &fp);
	ca.a_fp = fp;
	ca.a_head.a_dev = clone;
	if (clone_rec_opened(rec))
		shim->orig->d_close(&ca);
	if (shim->mode == CLONE_MODE_AUTOCLONE) {
		/* Its node goes on the devfs thread; detach's devfs_config()
		 * waits for that before clone_ops can go. */
		destroy_dev(clone);
		devfs_clone_bitmap_put(&shim->bitmap, unit);
	} else {
		destroy_only_dev(clone);
	}
	clone_core_free(shim->core, rec);
}

/* ---------------------------------------------------------------------
 * Interposer modes (fp, native, proc).
 */

/* The record of the calling file, referenced (*refd) or not (native: the
 * file's own cdevpriv reference outlives any call made through it). */
static struct clone_rec *
clone_if_rec(struct clone_shim *shim, struct file *fp, int *refd)
{
	void *priv;

	*refd = 1;
	switch (shim->mode) {
	case CLONE_MODE_FP:
		return (fp != NULL ? clone_core_lookup(shim->core, fp) : NULL);
	case CLONE_MODE_NATIVE:
		*refd = 0;
		if (fp == NULL || devfs_get_cdevpriv(fp, &priv) != 0)
			return (NULL);
		return (priv);
	case CLONE_MODE_PROC:
		return (clone_core_lookup(shim->core,
		    (void *)(intptr_t)clone_curpid()));
	default:
		return (NULL);
	}
}

static void
clone_native_dtor(void *priv)
{
	struct clone_rec *rec = priv;
	int slot = clone_enter();
	struct clone_shim *shim = clone_find(clone_rec_base(rec));

	if (shim != NULL)
		clone_core_rele(shim->core, rec);
	clone_leave(slot);
}

static int
clone_if_open(struct dev_open_args *ap)
{
	int slot = clone_enter();
	cdev_t dev = ap->a_head.a_dev;
	struct clone_shim *shim = clone_find(dev);
	struct clone_rec *rec;
	struct file *fp = ap->a_fp;
	struct dev_ops *now;
	const void *key;
	cdev_t clone;
	int error;

	if (shim == NULL) {
		now = clone_if_now(dev, clone_if_open);
		error = now != NULL ? now->d_open(ap) : ENXIO;
		clone_leave(slot);
		return (error);
	}
	/*
	 * Between dev_ops_intercept() and our D_TRACKCLOSE, devfs would
	 * treat the close of a file opened before attach as "not the last"
	 * once a clone file shares the vnode, and the driver would never see
	 * it.  No clone is made until the flags are final (a few
	 * instructions after the intercept).
	 */
	while (atomic_load_acq_int(&shim->ready) == 0)
		tsleep(&shim->ready, 0, "clnrdy", 1);
	if (fp == NULL && shim->mode != CLONE_MODE_PROC) {
		/* A kernel-internal open without a file: plain open of the
		 * device itself (nothing to key a clone on). */
		error = shim->orig->d_open(ap);
		clone_leave(slot);
		return (error);
	}
	error = clone_core_reserve(shim->core, clone_curpid(),
	    clone_cred_uid(ap->a_cred), curthread, &rec);
	if (error) {
		clone_leave(slot);
		return (error);
	}
	clone = make_only_dev(shim->orig, dev->si_uminor, dev->si_uid,
	    dev->si_gid, dev->si_perms, "%s.clone", shim->name);
	clone_rec_set_dev(rec, clone, -1, dev);
	ap->a_head.a_dev = clone;
	error = shim->orig->d_open(ap);
	ap->a_head.a_dev = dev;
	if (error)
		goto fail;
	clone_rec_mark_opened(rec);
	clone_rec_count_open(rec);

	key = (shim->mode == CLONE_MODE_PROC) ?
	    (void *)(intptr_t)clone_curpid() : (void *)fp;
	if (shim->mode == CLONE_MODE_NATIVE) {
		/* The file's cdevpriv holds a reference, dropped by the
		 * destructor on the last fdrop, after our d_close. */
		clone_core_ref(rec);
		error = devfs_set_cdevpriv(fp, rec, clone_native_dtor);
		if (error) {
			clone_core_unref_unpublished(rec);
			goto fail_close;
		}
	}
	error = clone_core_publish(shim->core, rec, key);
	if (error) {
		/* The key is taken (cannot happen for a live fp or pid). */
		if (shim->mode == CLONE_MODE_NATIVE)
			devfs_clear_cdevpriv(fp);	/* its dtor unrefs */
		error = EBUSY;
		goto fail_close;
	}
	clone_leave(slot);
	return (0);

fail_close:
	{
		struct dev_close_args ca;

		bzero(&ca, sizeof(ca));
		ca.a_head.a_dev = clone;
		ca.a_fflag = ap->a_oflags;
		ca.a_devtype = ap->a_devtype;
		ca.a_fp = fp;
		shim->orig->d_close(&ca);
	}
fail:
	destroy_only_dev(clone);
	clone_core_abort(shim->core, rec);
	clone_leave(slot);
	return (error);
}

/*
 * D_TRACKCLOSE (fp, native): once per open file description, on its last
 * fdrop.  proc mode: the device's last close, which reaps every record
 * (nobody has the device open any more).
 */
static void
clone_unpublish_and_rele(struct clone_shim *shim, const void *key,
    int fflag, int devtype, struct file *fp)
{
	struct clone_rec *rec = clone_core_unpublish(shim->core, key);

	if (rec != NULL) {
		clone_rec_set_close_args(rec, fflag, devtype, fp);
		clone_core_rele(shim->core, rec);
	}
}

static int
clone_if_close(struct dev_close_args *ap)
{
	int slot = clone_enter();
	struct clone_shim *shim = clone_find(ap->a_head.a_dev);
	const void *keys[32];
	struct clone_rec *rec;
	struct dev_ops *now;
	int error = 0, i, n;

	if (shim == NULL) {
		now = clone_if_now(ap->a_head.a_dev, clone_if_open);
		if (now != NULL)
			error = now->d_close(ap);
		clone_leave(slot);
		return (error);
	}
	if (shim->mode == CLONE_MODE_PROC) {
		/*
		 * No fp: the device's last close reaps the records (nobody
		 * has the device open) -- but not one that never served a
		 * call and is not the closer's: devfs counts an open only
		 * after its d_open returned, so that may be an open in
		 * flight in another process (clone_core_idle_keys).  The
		 * interposer has no D_TRACKCLOSE (cleared if the driver had
		 * it), so this is the device's last close.
		 */
		{
			while ((n = clone_core_idle_keys(shim->core,
			    clone_curpid(), keys, 32)) > 0) {
				for (i = 0; i < n; i++)
					clone_unpublish_and_rele(shim, keys[i],
					    FREAD | FWRITE, ap->a_devtype,
					    NULL);
			}
			/* Not the driver's: the only instance on the device
			 * itself is the one the shim holds. */
		}
	} else if (ap->a_fp != NULL &&
	    (rec = clone_core_unpublish(shim->core, ap->a_fp)) != NULL) {
		clone_rec_set_close_args(rec, ap->a_fflag, ap->a_devtype,
		    ap->a_fp);
		clone_core_rele(shim->core, rec);
	} else {
		/* A file opened before the shim attached, or without fp. */
		error = shim->orig->d_close(ap);
	}
	clone_leave(slot);
	return (error);
}

/*
 * The forwarded operations: find the record, call the driver's own
 * function with a_dev = the clone, holding only the record's reference.
 * A file the shim does not know: in fp/native mode one opened before the
 * shim attached (passed through to the device itself); in proc mode
 * another process's file (ENXIO: a forked child).
 */
#define CLONE_FORWARD(fn, argtype)					\
static int								\
clone_if_##fn(struct argtype *ap)					\
{									\
	int slot = clone_enter();					\
	cdev_t dev = ap->a_head.a_dev;					\
	struct clone_shim *shim = clone_find(dev);			\
	struct clone_rec *rec;						\
	struct dev_ops *now;						\
	int error, refd;						\
									\
	if (shim == NULL) {						\
		now = clone_if_now(dev, clone_if_open);			\
		error = now != NULL ? now->d_##fn(ap) : ENXIO;		\
		clone_leave(slot);					\
		return (error);						\
	}								\
	rec = clone_if_rec(shim, ap->a_fp, &refd);			\
	if (rec == NULL) {						\
		if (shim->mode == CLONE_MODE_PROC) {			\
			clone_core_count_refusal(shim->core,		\
			    CLONE_REF_FOREIGN);				\
			error = ENXIO;					\
		} else {						\
			error = shim->orig->d_##fn(ap);			\
		}							\
		clone_leave(slot);					\
		return (error);						\
	}								\
	clone_rec_count_op(rec);					\
	ap->a_head.a_dev = clone_rec_dev(rec);				\
	error = shim->orig->d_##fn(ap);					\
	ap->a_head.a_dev = dev;						\
	if (refd)							\
		clone_core_rele(shim->core, rec);			\
	clone_leave(slot);						\
	return (error);							\
}

CLONE_FORWARD(read, dev_read_args)
CLONE_FORWARD(write, dev_write_args)
CLONE_FORWARD(ioctl, dev_ioctl_args)
CLONE_FORWARD(mmap, dev_mmap_args)
CLONE_FORWARD(mmap_single, dev_mmap_single_args)
CLONE_FORWARD(kqfilter, dev_kqfilter_args)

/*
 * proc mode: a process exits.  Runs before its files are closed
 * (kern_exit.c exit1), with every other thread of it out of the kernel:
 * its clone goes.  (autoclone uses no exit hook: clone_ac_reap_orphans.)
 */
static void
clone_at_exit(struct thread *td)
{
	int slot = clone_enter();
	struct proc *p = td->td_proc;
	const void *keys[4];
	int i, j, n;

	if (p != NULL) {
		for (i = 0; i < CLONE_MAX_SHIMS; i++) {
			struct clone_shim *shim = clone_shim_slot(i);

			if (shim == NULL)
				continue;
			for (;;) {
				if (shim->mode == CLONE_MODE_PROC)
					n = clone_core_keys_of_pid(shim->core,
					    (int)p->p_pid, keys, 4);
				else
					n = 0;
				if (n <= 0)
					break;
				for (j = 0; j < n; j++)
					clone_unpublish_and_rele(shim, keys[j],
					    FREAD | FWRITE, S_IFCHR, NULL);
			}
		}
	}
	clone_leave(slot);
}

/* The at_exit hook, shared by the proc shims. */
static int
clone_hook_exit(void)
{
	int error = 0;

	if (clone_exit_hooks == 0)
		error = at_exit(clone_at_exit);	/* M_NOWAIT: can fail */
	if (error == 0)
		clone_exit_hooks++;
	return (error);
}

/*
 * Called by detach only after the shim's slot was cleared and the in-flight
 * counters drained.  5.8's exit1() walks exit_list with no lock, and
 * rm_at_exit() kfree()s our entry at once: a process still inside
 * clone_at_exit, or just returned from it, would then load the next link
 * from the freed entry (the general protection fault at exit1+0xa8 that
 * race__exit_vs_load_unload reproduced when the hook was removed before the
 * wait).  After the drain no walker is inside the hook, and one that calls
 * it now finds no shim and returns at once; the grace period covers the few
 * instructions between its return and the walker's load of the link.  What
 * no module can close: a walker that loaded the pointer to our entry just
 * before rm_at_exit() unlinked it, or was stalled past the grace (procfs's
 * own rm_at_exit() has the same race).  That is narrower, not gone: under
 * QEMU's TCG a 20 s race__exit_vs_load_unload still hit it once.  So only
 * proc mode (kernels without fp, where nothing else tells a process's
 * clone) uses the hook; autoclone reaps without one (clone_ac_reap_orphans).
 */
/* allproc_scan callback: count processes inside exit1()'s at_exit walk. */
static int
clone_count_exiting(struct proc *p, void *data)
{
	if (p->p_flags & P_POSTEXIT)
		++*(int *)data;
	return (0);
}

static void
clone_unhook_exit(void)
{
	int i, n;

	if (--clone_exit_hooks > 0)
		return;
	/* 5 ticks: 50 ms at 5.8's default hz of 100.  (Not hz itself:
	 * dfly-kbuild cannot vouch for that symbol.) */
	tsleep(&clone_exit_hooks, 0, "clnexit", 5);
	/*
	 * A walker that loaded the pointer to our entry and then lost its CPU
	 * (an interrupt, or a vCPU the host descheduled) is still inside
	 * exit1() between P_POSTEXIT, set just before the walk, and its move
	 * to the zombie list: wait until no process is there (bounded: one
	 * stuck in exit must not hang the unload).  What remains is a walker
	 * that sets P_POSTEXIT after the last scan and reaches our entry in
	 * the instructions before rm_at_exit() frees it.
	 */
	for (i = 0; i < 100; i++) {
		n = 0;
		allproc_scan(clone_count_exiting, &n, 0);
		if (n == 0)
			break;
		tsleep(&clone_exit_hooks, 0, "clnexit", 1);
	}
	rm_at_exit(clone_at_exit);
}

/* ---------------------------------------------------------------------
 * autoclone: a devfs clone handler under the node's name; clones carry
 * clone_ops, a copy of the driver's ops whose d_open/d_close are ours.
 */

/*
 * A record the handler made whose clone devfs never opened (it could not
 * create the node and opened the base instead) has no file and so no close.
 * It goes once its process is gone: found here, at unload and when an open
 * is refused by a limit, rather than by an exit hook -- 5.8's exit_list
 * cannot be left safely by a module that unloads (clone_unhook_exit), and
 * autoclone is the default mode.  A record of a live process may be an
 * open in flight (between the handler and its d_open) and stays.
 * Returns how many went.
 */
static int
clone_ac_reap_orphans(struct clone_shim *shim)
{
	const void *keys[16];
	int pids[16], i, n, reaped = 0;
	struct proc *p;

	n = clone_core_unopened_keys(shim->core, keys, pids, 16);
	for (i = 0; i < n; i++) {
		if ((p = pfind(pids[i])) != NULL) {	/* zombies are not found */
			PRELE(p);
			continue;
		}
		clone_unpublish_and_rele(shim, keys[i], FREAD | FWRITE, S_IFCHR,
		    NULL);
		reaped++;
	}
	return (reaped);
}

/* Runs in the opener's context, inside devfs_clone(). */
static int
clone_ac_handler(struct dev_clone_args *ap)
{
	int slot = clone_enter();
	struct clone_shim *shim = clone_find(ap->a_head.a_dev);
	struct clone_rec *rec;
	cdev_t base, clone;
	int error, unit;

	if (shim == NULL) {
		clone_leave(slot);
		return (ENXIO);
	}
	base = shim->base;
	error = clone_core_reserve(shim->core, clone_curpid(),
	    clone_cred_uid(ap->a_cred), curthread, &rec);
	if ((error == EMFILE || error == EAGAIN) &&
	    clone_ac_reap_orphans(shim) > 0)
		error = clone_core_reserve(shim->core, clone_curpid(),
		    clone_cred_uid(ap->a_cred), curthread, &rec);
	if (error) {
		/* devfs then opens the base node, whose instance the shim
		 * holds: the driver's own EBUSY answers. */
		clone_leave(slot);
		return (error);
	}
	unit = devfs_clone_bitmap_get(&shim->bitmap, 0);
	if (unit < 0) {
		clone_core_abort(shim->core, rec);
		clone_leave(slot);
		return (EAGAIN);
	}
	clone = make_only_dev(&shim->clone_ops, unit, base->si_uid,
	    base->si_gid, base->si_perms, "%s%d", shim->name, unit);
	clone_rec_set_dev(rec, clone, unit, base);
	error = clone_core_publish(shim->core, rec, clone);
	if (error) {
		destroy_only_dev(clone);
		devfs_clone_bitmap_put(&shim->bitmap, unit);
		clone_core_abort(shim->core, rec);
		clone_leave(slot);
		return (error);
	}
	ap->a_dev = clone;
	clone_leave(slot);
	return (0);
}

static struct clone_shim *
clone_ac_shim(cdev_t clone)
{
	return ((struct clone_shim *)((char *)clone->si_ops -
	    __builtin_offsetof(struct clone_shim, clone_ops)));
}

/*
 * An open of a clone cdev: the cloning open of its creator (the thread
 * the handler ran for), or a plain open of /dev/<name>N by its name, which
 * the driver answers itself (EBUSY while its instance lives).
 */
static int
clone_ac_open(struct dev_open_args *ap)
{
	int slot = clone_enter();
	cdev_t clone = ap->a_head.a_dev;
	struct clone_shim *shim = clone_ac_shim(clone);
	struct clone_rec *rec = clone_core_lookup(shim->core, clone);
	int error;

	if (rec == NULL) {
		clone_leave(slot);
		return (ENXIO);
	}
	if (!clone_rec_opened(rec)) {
		if (clone_rec_creator(rec) != curthread ||
		    !clone_rec_claim_first_open(rec)) {
			/* Reserved for the open that created it. */
			clone_core_rele(shim->core, rec);
			clone_leave(slot);
			return (EBUSY);
		}
		error = shim->orig->d_open(ap);
		if (error) {
			/* No close will ever come: unwind now. */
			struct clone_rec *r2;

			r2 = clone_core_unpublish(shim->core, clone);
			clone_core_rele(shim->core, rec);
			if (r2 != NULL) {
				clone_rec_set_close_args(r2, 0, S_IFCHR, NULL);
				clone_core_rele(shim->core, r2);
			}
			clone_leave(slot);
			return (error);
		}
		clone_rec_mark_opened(rec);
	} else {
		error = shim->orig->d_open(ap);
	}
	if (error == 0)
		clone_rec_count_open(rec);
	clone_core_rele(shim->core, rec);
	clone_leave(slot);
	return (error);
}

/* The clone's last close (clone_ops has no D_TRACKCLOSE). */
static int
clone_ac_close(struct dev_close_args *ap)
{
	int slot = clone_enter();
	cdev_t clone = ap->a_head.a_dev;
	struct clone_shim *shim = clone_ac_shim(clone);

	clone_unpublish_and_rele(shim, clone, ap->a_fflag, ap->a_devtype,
	    ap->a_fp);
	clone_leave(slot);
	return (0);
}

/*
 * Lock the vnode of the node <name> in every devfs mount, exclusively
 * (the autoclone unload, docs/devfs-clone-bug.md).  May be called again:
 * mounts already locked are skipped (a second pass catches a devfs
 * mounted meanwhile).  Returns EBUSY if a node cannot be locked; the
 * caller unlocks what was locked either way.
 */
struct clone_vlock {
	const char	*name;
	cdev_t		base;
	struct vnode	*vps[CLONE_MAX_DEVFS_MOUNTS];
	void		*mps[CLONE_MAX_DEVFS_MOUNTS];	/* scanned mounts */
	int		n;
	int		nmps;
	int		error;
};

static int
clone_lock_one(struct clone_vlock *vl, struct nlookupdata *nd, void *mp)
{
	struct vnode *vp;
	int error;

	if (vl->nmps == CLONE_MAX_DEVFS_MOUNTS) {
		nlookup_done(nd);
		return (EBUSY);
	}
	vl->mps[vl->nmps++] = mp;
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
	vl->vps[vl->n++] = vp;
	return (0);
}

static int
clone_mount_seen(struct clone_vlock *vl, void *mp)
{
	int i;

	for (i = 0; i < vl->nmps; i++)
		if (vl->mps[i] == mp)
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
	while (vl->n > 0)
		vput(vl->vps[--vl->n]);
}

/*
 * The instance on the device itself, which the shim holds in autoclone and
 * proc modes: every open that reaches the device itself (autoclone: devfs
 * did not clone; proc: a call that loaded the driver's ops before the
 * intercept) gets the driver's own EBUSY, and no file but the shim's has
 * an instance there.  Attach fails (EBUSY) while the device is open.
 */
static int
clone_hold_base(struct clone_shim *shim)
{
	struct dev_open_args oa;

	bzero(&oa, sizeof(oa));
	oa.a_head.a_dev = shim->base;
	oa.a_oflags = FREAD | FWRITE;
	oa.a_devtype = S_IFCHR;
	oa.a_cred = curthread->td_ucred;
	return (shim->orig->d_open(&oa));
}

static void
clone_rele_base(struct clone_shim *shim)
{
	struct dev_close_args ca;

	bzero(&ca, sizeof(ca));
	ca.a_head.a_dev = shim->base;
	ca.a_fflag = FREAD | FWRITE;
	ca.a_devtype = S_IFCHR;
	shim->orig->d_close(&ca);
}

/*
 * The autoclone unload (issue 7; docs/devfs-clone-bug.md has the proof).
 * Called with the core already marked detaching (the handler refuses every
 * new clone) and no record live.
 */
static int
clone_ac_detach(struct clone_shim *shim)
{
	struct clone_vlock vl;
	struct dev_ops *quiesce, *oops = NULL;
	int error;

	/* The quiesce copy: the driver's own ops (no shim code) plus
	 * D_QUICK.  It lives in the kernel's M_DEVBUF, not in this module's
	 * type, and is never freed: a thread that read si_ops before the
	 * restore below may still read it (one struct dev_ops per unload). */
	quiesce = kmalloc(sizeof(*quiesce), shim->leak_type,
	    M_WAITOK | M_NULLOK);
	if (quiesce == NULL)
		return (ENOMEM);
	*quiesce = *shim->orig;
	quiesce->head.refs = 0;
	quiesce->head.id = 0;

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
		error = clone_lock_nodes(&vl);
	}
	if (error) {
		if (oops != NULL)
			dev_ops_restore(shim->base, oops);
		clone_unlock_nodes(&vl);
		return (EBUSY);
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
		devfs_clone_handler_add(shim->name, clone_ac_handler);
		return (EBUSY);
	}
	/* (8) Every destroy_dev() of a clone has been processed: no cdev
	 * points at clone_ops any more. */
	devfs_config();
	clone_rele_base(shim);
	devfs_clone_bitmap_uninit(&shim->bitmap);
	return (0);
}

/*
 * The kernel's M_DEVBUF, found by name along the kernel's list of malloc
 * types from our own type (types register at the head of the list, so
 * every boot-time type follows ours).  Looked up at attach, under the
 * kernel linker's lock, so the list cannot change while we walk it.  (By
 * name rather than by symbol: dfly-kbuild cannot vouch for a symbol the
 * kernel defines only through MALLOC_DEFINE.)
 */
static struct malloc_type *
clone_find_devbuf(void)
{
	struct malloc_type *t;

	for (t = M_CLONESHIM; t != NULL; t = t->ks_next)
		if (t->ks_shortdesc != NULL &&
		    strcmp(t->ks_shortdesc, "devbuf") == 0)
			return (t);
	return (NULL);
}

/* ---------------------------------------------------------------------
 * sysctl debug.<name>.*: built at attach under the kernel's "debug" node
 * (found by name: kglue/sysctl_root.h says why), torn down at detach.
 * The handlers run under the sysctl lock that sysctl_ctx_free() takes
 * exclusively, so none runs once it returns.
 */

static int
clone_sysctl_mode(SYSCTL_HANDLER_ARGS)
{
	struct clone_shim *shim = arg1;
	const char *m = clone_shim_mode_name(shim->mode);

	return (SYSCTL_OUT(req, m, strlen(m) + 1));
}

/* arg2: the statistic, as an offset into struct clone_shim_stats. */
static int
clone_sysctl_stat(SYSCTL_HANDLER_ARGS)
{
	struct clone_shim_stats st;
	long v;

	clone_shim_stats(arg1, &st);
	v = *(long *)((char *)&st + arg2);
	return (SYSCTL_OUT(req, &v, sizeof(v)));
}

static int
clone_sysctl_listing(SYSCTL_HANDLER_ARGS)
{
	struct clone_shim *shim = arg1;
	char *buf;
	int len, error;

	len = clone_shim_listing(shim, NULL, 0) + 256;
	buf = kmalloc(len, M_CLONESHIM, M_WAITOK | M_NULLOK);
	if (buf == NULL)
		return (ENOMEM);
	/* A clone made since the sizing may be left out; never overrun. */
	clone_shim_listing(shim, buf, len);
	error = SYSCTL_OUT(req, buf, strlen(buf) + 1);
	kfree(buf, M_CLONESHIM);
	return (error);
}

static int
clone_sysctl_bytes(SYSCTL_HANDLER_ARGS)
{
	long v = clone_shim_bytes_per_clone(arg1);

	return (SYSCTL_OUT(req, &v, sizeof(v)));
}

static const struct {
	const char	*name;
	int		off;
	const char	*descr;
} clone_sysctl_stats[] = {
#define CLONE_STAT(f, d) { #f, __builtin_offsetof(struct clone_shim_stats, f), d }
	CLONE_STAT(live, "clones live now"),
	CLONE_STAT(opens, "clones created"),
	CLONE_STAT(closes, "clones destroyed"),
	CLONE_STAT(refused_proc, "opens refused: per-process limit (EMFILE)"),
	CLONE_STAT(refused_uid, "opens refused: per-uid limit (EAGAIN)"),
	CLONE_STAT(refused_total, "opens refused: total limit (EAGAIN)"),
	CLONE_STAT(refused_busy, "opens refused: proc mode, second open (EBUSY)"),
	CLONE_STAT(refused_nomem, "opens refused: no memory (ENOMEM)"),
	CLONE_STAT(refused_foreign,
	    "calls refused: proc mode, another process's file (ENXIO)"),
	CLONE_STAT(refused_detach, "opens refused: racing unload (ENXIO)"),
#undef CLONE_STAT
};

static int
clone_sysctl_attach(struct clone_shim *shim, const char *name)
{
	struct sysctl_oid_list *debug, *kids;
	struct sysctl_oid *node;
	size_t i;

	if ((debug = kglue_sysctl_root_node("debug")) == NULL)
		return (ENOENT);
	sysctl_ctx_init(&shim->sysctl_ctx);
	shim->sysctl_on = 1;
	node = SYSCTL_ADD_NODE(&shim->sysctl_ctx, debug, OID_AUTO, name,
	    CTLFLAG_RD, 0, "cloning shim");
	if (node == NULL)
		return (EEXIST);
	kids = SYSCTL_CHILDREN(node);
	SYSCTL_ADD_PROC(&shim->sysctl_ctx, kids, OID_AUTO, "mode",
	    CTLTYPE_STRING | CTLFLAG_RD, shim, 0, clone_sysctl_mode, "A",
	    "how opens find their clone: autoclone, fp, native or proc");
	for (i = 0; i < sizeof(clone_sysctl_stats) /
	    sizeof(clone_sysctl_stats[0]); i++) {
		SYSCTL_ADD_PROC(&shim->sysctl_ctx, kids, OID_AUTO,
		    clone_sysctl_stats[i].name, CTLTYPE_LONG | CTLFLAG_RD,
		    shim, clone_sysctl_stats[i].off, clone_sysctl_stat, "L",
		    clone_sysctl_stats[i].descr);
	}
	SYSCTL_ADD_PROC(&shim->sysctl_ctx, kids, OID_AUTO, "listing",
	    CTLTYPE_STRING | CTLFLAG_RD, shim, 0, clone_sysctl_listing, "A",
	    "one line per clone: unit pid uid opens ops");
	SYSCTL_ADD_PROC(&shim->sysctl_ctx, kids, OID_AUTO, "bytes_per_clone",
	    CTLTYPE_LONG | CTLFLAG_RD, shim, 0, clone_sysctl_bytes, "L",
	    "memory one clone costs the shim (record + cdev)");
	SYSCTL_ADD_INT(&shim->sysctl_ctx, kids, OID_AUTO, "max_per_proc",
	    CTLFLAG_RD, &shim->max_per_proc, 0,
	    "clones per process, EMFILE beyond (<= 0: unlimited)");
	SYSCTL_ADD_INT(&shim->sysctl_ctx, kids, OID_AUTO, "max_per_uid",
	    CTLFLAG_RD, &shim->max_per_uid, 0,
	    "clones per uid, EAGAIN beyond (<= 0: unlimited)");
	SYSCTL_ADD_INT(&shim->sysctl_ctx, kids, OID_AUTO, "max_total",
	    CTLFLAG_RD, &shim->max_total, 0,
	    "clones in all, EAGAIN beyond (<= 0: unlimited)");
	return (0);
}

/* ---------------------------------------------------------------------
 * attach / detach
 */
static void
clone_shim_free(struct clone_shim *shim)
{
	if (shim->sysctl_on)
		sysctl_ctx_free(&shim->sysctl_ctx);
	if (shim->core != NULL)
		clone_core_destroy(shim->core);
	if (shim->iops != NULL)		/* never installed */
		kfree(shim->iops, shim->leak_type);
	kfree(shim, M_CLONESHIM);
}

int
clone_shim_attach(struct cdev *dev, const struct clone_shim_params *params,
    struct clone_shim **shimp)
{
	struct clone_core_params cp;
	struct clone_shim *shim;
	enum clone_shim_mode mode = params->mode;
	int error, i, slot = -1;

	if (dev == NULL || (unsigned)mode > CLONE_MODE_PROC)
		return (EINVAL);
	if (mode == CLONE_MODE_DEFAULT)
		mode = clone_shim_default_mode();
	error = clone_shim_mode_supported(mode);
	if (error) {
		kprintf("clone_shim: %s: mode %s needs a newer kernel "
		    "(__DragonFly_version %d)\n", dev->si_name,
		    clone_shim_mode_name(mode), (int)__DragonFly_version);
		return (error);
	}
	if (clone_find(dev) != NULL)
		return (EBUSY);
	for (i = 0; i < CLONE_MAX_SHIMS; i++)
		if (clone_shim_slot(i) == NULL) {
			slot = i;
			break;
		}
	if (slot < 0)
		return (ENOSPC);

	shim = kmalloc(sizeof(*shim), M_CLONESHIM, M_WAITOK | M_NULLOK | M_ZERO);
	if (shim == NULL)
		return (ENOMEM);
	shim->base = dev;
	shim->mode = mode;
	shim->orig = dev->si_ops;
	strlcpy(shim->name, dev->si_name, sizeof(shim->name));

	bzero(&cp, sizeof(cp));
	cp.max_per_proc = params->max_per_proc ? params->max_per_proc :
	    CLONE_DEFAULT_MAX_PER_PROC;
	cp.max_per_uid = params->max_per_uid ? params->max_per_uid :
	    CLONE_DEFAULT_MAX_PER_UID;
	cp.max_total = params->max_total ? params->max_total :
	    CLONE_DEFAULT_MAX_TOTAL;
	cp.hash_size_hint = cp.max_total > 0 ? cp.max_total : 65536;
	cp.one_per_proc = (mode == CLONE_MODE_PROC);
	cp.finalize = clone_finalize;
	cp.ctx = shim;
	shim->max_per_proc = cp.max_per_proc;
	shim->max_per_uid = cp.max_per_uid;
	shim->max_total = cp.max_total;
	error = clone_core_create(&cp, &shim->core);
	if (error == 0 && params->sysctl_name != NULL)
		error = clone_sysctl_attach(shim, params->sysctl_name);
	if (error) {
		clone_shim_free(shim);
		return (error);
	}

	/* The kernel type for the dev_ops that outlive us (see detach). */
	shim->leak_type = clone_find_devbuf();
	if (shim->leak_type == NULL) {
		kprintf("clone_shim: no devbuf malloc type\n");
		clone_shim_free(shim);
		return (ENXIO);
	}
	if (mode == CLONE_MODE_AUTOCLONE) {
		shim->clone_ops = *shim->orig;
		shim->clone_ops.head.refs = 0;
		shim->clone_ops.head.id = 0;
		shim->clone_ops.head.flags &= ~(D_TRACKCLOSE | D_QUICK);
		shim->clone_ops.d_open = clone_ac_open;
		shim->clone_ops.d_close = clone_ac_close;
		/* Hold the base instance: an open devfs does not clone (limit
		 * refused, no fp) then gets the driver's own EBUSY. */
		error = clone_hold_base(shim);
		if (error) {
			clone_shim_free(shim);
			return (error);
		}
		devfs_clone_bitmap_init(&shim->bitmap);
		clone_shim_set_slot(slot, shim);
		devfs_clone_handler_add(shim->name, clone_ac_handler);
		*shimp = shim;
		return (0);
	}

	shim->iops = kmalloc(sizeof(*shim->iops), shim->leak_type,
	    M_WAITOK | M_NULLOK | M_ZERO);
	if (shim->iops == NULL) {
		clone_shim_free(shim);
		return (ENOMEM);
	}
	shim->iops->head.name = shim->orig->head.name;
	shim->iops->d_open = clone_if_open;
	shim->iops->d_close = clone_if_close;
	shim->iops->d_read = clone_if_read;
	shim->iops->d_write = clone_if_write;
	shim->iops->d_ioctl = clone_if_ioctl;
	shim->iops->d_mmap = clone_if_mmap;
	shim->iops->d_mmap_single = clone_if_mmap_single;
	shim->iops->d_kqfilter = clone_if_kqfilter;
	if (mode == CLONE_MODE_PROC) {
		/* No fp: a file on the device itself could not be told from
		 * a clone's, so none may exist (see clone_hold_base). */
		error = clone_hold_base(shim);
		if (error) {
			clone_shim_free(shim);
			return (error);
		}
		if ((error = clone_hook_exit()) != 0) {
			clone_rele_base(shim);
			clone_shim_free(shim);
			return (error);
		}
	}
	clone_shim_set_slot(slot, shim);
	dev_ops_intercept(dev, shim->iops);
	/* dev_ops_intercept copied the driver's flags: add ours after it. */
	if (mode != CLONE_MODE_PROC)
		atomic_set_int(&shim->iops->head.flags, D_TRACKCLOSE);
	else	/* proc mode's d_close is the device's last close */
		atomic_clear_int(&shim->iops->head.flags, D_TRACKCLOSE);
	atomic_set_int(&shim->ready, 1);
	*shimp = shim;
	return (0);
}

int
clone_shim_detach(struct clone_shim *shim)
{
	int error, i;

	if (shim->mode == CLONE_MODE_AUTOCLONE)
		clone_ac_reap_orphans(shim);
	error = clone_core_begin_detach(shim->core);
	if (error)
		return (error);
	if (shim->mode == CLONE_MODE_AUTOCLONE) {
		error = clone_ac_detach(shim);
		if (error) {
			clone_core_cancel_detach(shim->core);
			return (error);
		}
	} else {
		/* Restore first: nothing may destroy an intercepted cdev. */
		dev_ops_restore(shim->base, shim->orig);
		/* A thread that loaded si_ops before the restore may still
		 * read the interposer's flags (devfs_spec_open tests D_QUICK
		 * through it, then calls dev_dopen, which reloads si_ops):
		 * the interposer stays, in the kernel's devbuf, one struct
		 * dev_ops per unload, like autoclone's quiesce copy. */
		shim->iops = NULL;
	}
	/*
	 * Unpublish the shim, then wait for the threads that may have found
	 * it: in this order (see clone_enter).  An entry point that comes
	 * later -- a thread that read si_ops before the restore, an exit hook
	 * still running, the handler of an opener devfs let through before
	 * the handler went -- finds no shim and touches nothing of it.  (The
	 * window left is every interposer's, kern/tty_cons.c's too: a thread
	 * that read si_ops before the restore and enters only after this
	 * module's text is gone.)
	 */
	for (i = 0; i < CLONE_MAX_SHIMS; i++)
		if (clone_shim_slot(i) == shim)
			clone_shim_set_slot(i, NULL);
	clone_wait_quiet();
	if (shim->mode == CLONE_MODE_PROC) {
		clone_unhook_exit();
		/* Last, so that bare opens keep getting the driver's EBUSY
		 * through the unhook's grace period. */
		clone_rele_base(shim);
	}
	clone_shim_free(shim);
	return (0);
}

void
clone_shim_stats(struct clone_shim *shim, struct clone_shim_stats *st)
{
	long refused[CLONE_REF_COUNT];

	clone_core_stats(shim->core, &st->live, &st->opens, &st->closes,
	    refused);
	st->refused_proc = refused[CLONE_REF_PROC];
	st->refused_uid = refused[CLONE_REF_UID];
	st->refused_total = refused[CLONE_REF_TOTAL];
	st->refused_busy = refused[CLONE_REF_BUSY];
	st->refused_nomem = refused[CLONE_REF_NOMEM];
	st->refused_foreign = refused[CLONE_REF_FOREIGN];
	st->refused_detach = refused[CLONE_REF_DETACH];
}

int
clone_shim_listing(struct clone_shim *shim, char *buf, int len)
{
	return (clone_core_listing(shim->core, buf, len));
}

long
clone_shim_bytes_per_clone(struct clone_shim *shim)
{
	return (clone_core_record_bytes() + (long)sizeof(struct cdev));
}
