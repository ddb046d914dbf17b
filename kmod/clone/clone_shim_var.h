/*
 * clone_shim_var.h - what every file of the cloning shim's C glue shares.
 *
 * Owns: struct clone_shim (one attached shim), the table of attached shims
 * (clone_shims[], defined in clone_attach.c), the in-flight counters and
 * the inline helpers every entry point starts and ends with, and the
 * prototypes the glue files call across each other.  The public driver
 * API is clone_shim.h; the hermetic core's is clone_core.h.
 *
 * The glue, one concern a file:
 *   clone_attach.c            attach/detach, the in-flight protocol, the
 *                             shared close path (finalize), the limits
 *   clone_base.c              the instance held on the base device
 *   clone_modes.c             the capability table and the mode names
 *   clone_interposer.c        fp, native and proc modes' dev_ops
 *   clone_proc.c              proc mode: its exit hook, its last close
 *   clone_autoclone.c         autoclone: the clone handler, open and close
 *   clone_autoclone_unload.c  autoclone's unload protocol (vnode locking)
 *   clone_sysctl.c            debug.<name>.*, statistics and the listing
 *   clone_os.c                the core's OS interface (clone_os_*)
 *
 * Locking:
 *  - clone_shims[] is written by attach/detach only, which run from module
 *    events (serialised by the kernel linker), and read without a lock by
 *    the entry points (sequentially consistent atomics): a slot is
 *    published after the shim is complete and cleared once the kernel no
 *    longer routes new calls to the shim.
 *  - clone_inflight[] (per-CPU-slot atomic counters, one cache line each)
 *    count threads inside any shim entry point, native mode's fast path
 *    included (clone_interposer.c says why).  Detach clears the shim's
 *    slot first and then waits for zero, the store-buffer protocol of
 *    clone_enter(): the shim is freed only once no thread can be inside
 *    it or still find it.  Per-slot, so no cache line is written by every
 *    ioctl of every clone.
 *  - the core's own locks (see clone_core.h).  No shim lock is ever held
 *    across a call into the wrapped driver: a call holds at most a
 *    reference on its record.
 *
 * The wrapped driver must be D_MPSAFE (kqemu is), and have no d_mmap,
 * d_mmap_single, d_kqfilter or d_uksmap: attach refuses any other
 * (clone_shim_driver_supported, clone_modes.c, says why).
 *
 * Design: docs/design.md §6.
 */
#ifndef CLONE_SHIM_VAR_H
#define CLONE_SHIM_VAR_H

#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/conf.h>
#include <sys/device.h>
#include <sys/devfs.h>
#include <sys/errno.h>
#include <sys/malloc.h>
#include <sys/proc.h>
#include <sys/sysctl.h>
#include <sys/thread.h>
#include <sys/ucred.h>
#include <machine/atomic.h>

#include "clone/clone_shim.h"
#include "clone/clone_core.h"

MALLOC_DECLARE(M_CLONESHIM);

struct file;

#define CLONE_MAX_SHIMS		4
#define CLONE_INFLIGHT_SLOTS	64	/* power of two */

struct clone_shim {
	cdev_t			base;		/* the driver's cdev */
	enum clone_shim_mode	mode;
	struct clone_core	*core;
	struct dev_ops		*driver_ops;	/* the driver's own ops */
	struct dev_ops		*interposer_ops; /* fp, native, proc */
	struct clone_autoclone_ops *autoclone;	/* autoclone's dev_ops */
	struct devfs_bitmap	bitmap;		/* autoclone units */
	u_int			next_serial;	/* interposer clone names */
	struct sysctl_ctx_list	sysctl_ctx;
	int			sysctl_on;
	u_int			interposer_ready; /* its flags are final */
	/* The driver's instance on the device itself (autoclone, proc):
	 * held under an owner file of our own, so the driver's owner rule
	 * keeps every other file's close away from it; taken at attach, or
	 * at the first open after a file opened before attach closed. */
	struct file		*base_owner;
	u_int			base_held;	/* the instance is ours */
	u_int			base_trying;	/* a thread is taking it */
	/* A testing aid, autoclone only (debug.<name>.unload_hold_ms,
	 * clone_sysctl.c): the unload waits this long with D_QUICK on the
	 * device; unload_holding is 1 meanwhile. */
	int			unload_hold_ms;
	u_int			unload_holding;
	char			name[64];
};

/*
 * autoclone's two dev_ops, in the kernel's devbuf type and never freed
 * (clone_autoclone.c): a destroyed clone cdev outlives the shim while a
 * vnode references it, and its si_ops is still read by an opener of that
 * node; a base cdev's reader may still hold the quiesce copy.
 */
struct clone_autoclone_ops {
	struct dev_ops		clone;		/* every clone node's */
	struct dev_ops		quiesce;	/* the unload's D_QUICK copy */
};

struct clone_inflight {
	u_int	n;
	char	pad[64 - sizeof(u_int)];
};

extern struct clone_shim *clone_shims[CLONE_MAX_SHIMS];
extern struct clone_inflight clone_inflight[CLONE_INFLIGHT_SLOTS];

/*
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

static __inline struct clone_shim *
clone_shim_find(cdev_t dev)
{
	int i;

	for (i = 0; i < CLONE_MAX_SHIMS; i++) {
		struct clone_shim *s = clone_shim_slot(i);

		if (s != NULL && s->base == dev)
			return (s);
	}
	return (NULL);
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

/*
 * A reaper's end of a record it found with a reference of its own
 * (clone_core_recs_of_pid, clone_core_walk_next): unpublish that very
 * record if nobody else has (by identity: never a key copied earlier),
 * then drop the reaper's reference.  The clone goes with the last one.
 */
static __inline void
clone_reap_rec(struct clone_shim *shim, struct clone_rec *rec, int fflag,
    int devtype)
{
	if (clone_core_unpublish_rec(shim->core, rec)) {
		clone_rec_set_close_args(rec, fflag, devtype, NULL);
		clone_core_rele(shim->core, rec);	/* the hash's */
	}
	clone_core_rele(shim->core, rec);
}

/* clone_modes.c */
int	clone_shim_driver_supported(cdev_t dev, const char **why);

/* clone_attach.c */
void	clone_unpublish_and_rele(struct clone_shim *shim, const void *key,
	    int fflag, int devtype, struct file *fp);

/* clone_base.c */
int	clone_base_owner_new(struct clone_shim *shim);
int	clone_hold_base_at_attach(struct clone_shim *shim);
int	clone_hold_base(struct clone_shim *shim);
void	clone_try_hold_base(struct clone_shim *shim);
void	clone_close_unheld_base(struct clone_shim *shim, int devtype);
void	clone_rele_base(struct clone_shim *shim);

/* Whether the shim holds the device's own instance (an acquire load: one
 * per open while it does not, nothing on the hot path). */
static __inline int
clone_base_held(struct clone_shim *shim)
{
	return (__atomic_load_n(&shim->base_held, __ATOMIC_ACQUIRE) != 0);
}

/* clone_interposer.c */
void	clone_interposer_init_ops(struct clone_shim *shim);

/* clone_proc.c */
void	clone_proc_last_close(struct clone_shim *shim, int devtype);
int	clone_hook_exit(void);
int	clone_proc_may_unhook(void);
void	clone_unhook_exit(void);

/* clone_autoclone.c */
int	clone_autoclone_ops_new(struct clone_shim *shim);
void	clone_autoclone_ops_free(struct clone_shim *shim);
void	clone_autoclone_ops_retire(struct clone_shim *shim);
int	clone_autoclone_reap_orphans(struct clone_shim *shim);
d_clone_t clone_autoclone_handler;

/* clone_autoclone_unload.c */
int	clone_autoclone_unload(struct clone_shim *shim);
void	clone_autoclone_unload_undo(struct clone_shim *shim);
void	clone_autoclone_unload_finish(struct clone_shim *shim);

/* clone_sysctl.c */
int	clone_sysctl_attach(struct clone_shim *shim, const char *name);
void	clone_sysctl_unload_hold(struct clone_shim *shim);

#endif /* CLONE_SHIM_VAR_H */
