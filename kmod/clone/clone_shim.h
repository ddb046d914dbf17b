/*
 * clone_shim.h - make a single-instance character device multi-instance.
 *
 * A driver that keeps one instance per cdev (state in si_drv1, a second
 * open of the same cdev refused with EBUSY) becomes one-instance-per-open
 * when a module attaches this shim to its cdev: every open gets a private
 * clone cdev made with the driver's own dev_ops, and every later operation
 * of that open file reaches the driver with a_dev = that clone.  The driver
 * never knows.  See clone_shim(9) (docs/man/clone_shim.9).
 *
 * Modes (how an operation finds the clone of its open file):
 *   CLONE_MODE_AUTOCLONE  devfs clone handler under the node's name: every
 *                         open of /dev/<name> becomes an open of a fresh
 *                         node <name>N whose ops are the driver's own
 *                         (nothing interposed on read/write/ioctl).
 *                         Needs devfs clone handlers (DragonFly >= 2.4).
 *   CLONE_MODE_FP         interposer on the cdev; the shim's own
 *                         fp -> record hash (needs a_fp, DragonFly >= 3.8).
 *   CLONE_MODE_NATIVE     interposer; the record is kept on the file with
 *                         devfs_set_cdevpriv (DragonFly >= 3.8).
 *   CLONE_MODE_PROC       interposer; no fp: one clone per process, kept
 *                         per pid; a second open in the same process gets
 *                         EBUSY, a forked child touching the file gets
 *                         ENXIO; reaped by an at_exit hook and by the
 *                         device's last close (clones that served a call,
 *                         and the closer's).
 * autoclone and proc hold the driver's instance on the device itself (so
 * an open devfs does not clone, or that reaches the driver directly, gets
 * the driver's EBUSY), opened with a file of the shim's own.  Attach works
 * while the device is open: that file keeps its instance, new opens are
 * cloned, and the shim takes the device's instance after it closed.
 *   CLONE_MODE_DEFAULT    autoclone if the kernel has clone handlers, else
 *                         fp if dev args carry a_fp, else proc.
 *
 * Errors (DragonFly errnos), returned by open(2) through the shim:
 *   EMFILE   the calling process already holds max_per_proc clones
 *   EAGAIN   the caller's uid holds max_per_uid clones, or max_total clones
 *            are live in all
 *            (autoclone: every limit refusal is EBUSY -- devfs ignores a
 *            clone handler's errno and opens the node itself, whose
 *            instance the shim holds; the reason is still counted)
 *   EBUSY    proc mode: the process already has the device open
 *   ENXIO    proc mode: the file was opened by another process (a forked
 *            child using its inherited descriptor); any mode: the shim is
 *            being detached
 *   ENOMEM   a record or clone could not be allocated (M_NULLOK)
 * clone_shim_attach: EOPNOTSUPP when the forced mode needs something this
 * kernel lacks, EINVAL for bad parameters, ENOMEM.
 * clone_shim_detach: EBUSY while any clone is live, or when a call into
 * the shim does not return within 2 s (nothing changed either way).  A
 * successful detach leaves one struct dev_ops in the kernel's devbuf type
 * (readers that loaded si_ops before the restore; docs/devfs-clone-bug.md).
 *
 * Locking: the shim takes its own locks only; none is held across a call
 * into the wrapped driver.  attach/detach must be called from a module
 * event handler (they may sleep).
 *
 * Design: docs/design.md §4, §7.
 */
#ifndef CLONE_SHIM_H
#define CLONE_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

enum clone_shim_mode {
	CLONE_MODE_DEFAULT = 0,
	CLONE_MODE_AUTOCLONE,
	CLONE_MODE_FP,
	CLONE_MODE_NATIVE,
	CLONE_MODE_PROC,
};

/* Kernel capabilities, by __DragonFly_version (one table, in kmod/clone/clone_modes.c). */
#define CLONE_VERSION_CLONE_HANDLERS	200400	/* devfs clone handlers */
#define CLONE_VERSION_A_FP		300700	/* a_fp in dev args */
#define CLONE_VERSION_CDEVPRIV		300800	/* devfs_set_cdevpriv */

/* Default limits (a limit of 0 means "this default"; below 0, none). */
#define CLONE_DEFAULT_MAX_PER_PROC	16
#define CLONE_DEFAULT_MAX_PER_UID	256
#define CLONE_DEFAULT_MAX_TOTAL		4096

struct cdev;
struct clone_shim;

struct clone_shim_params {
	enum clone_shim_mode mode;
	/* Limits: 0 their default, below 0 none (clone_shim_set_limit). */
	int max_per_proc;	/* EMFILE beyond */
	int max_per_uid;	/* EAGAIN beyond */
	int max_total;		/* EAGAIN beyond; also sizes the fp hash */
	int hash_buckets;	/* > 0: the fp hash's chain count (power of
				 * two), else sized from max_total */
	/* sysctl node debug.<sysctl_name>.* made at attach (NULL: none):
	 * mode, live, opens, closes, refused_*, listing, bytes_per_clone,
	 * and max_per_proc, max_per_uid, max_total, which root may write
	 * (clone_shim_set_limit). */
	const char *sysctl_name;
};

/* Statistics, read with clone_shim_stats (summed; never a hot-path write). */
struct clone_shim_stats {
	long live;		/* clones live now */
	long opens;		/* clones created */
	long closes;		/* clones destroyed */
	long refused_proc;	/* EMFILE: per-process limit */
	long refused_uid;	/* EAGAIN: per-uid limit */
	long refused_total;	/* EAGAIN: total limit */
	long refused_busy;	/* EBUSY: proc mode, second open */
	long refused_nomem;	/* ENOMEM */
	long refused_foreign;	/* ENXIO: proc mode, another process's file */
	long refused_detach;	/* ENXIO: open racing detach */
};

/*
 * Attach to dev (the driver's cdev, which must outlive the shim: keep the
 * driver loaded while attached).  On success *shimp is the handle; on
 * failure nothing is left behind.
 */
int clone_shim_attach(struct cdev *dev, const struct clone_shim_params *params,
    struct clone_shim **shimp);
/* EBUSY while a clone lives or a call into the shim does not return
 * within 2 s, and always in CLONE_MODE_PROC before clone_shim_shutdown()
 * (still attached, still cloning: its exit hook cannot be removed safely,
 * clone_proc.c); else 0 and shim is gone. */
int clone_shim_detach(struct clone_shim *shim);
/* MOD_SHUTDOWN: the kernel is going down and will not unload modules
 * while processes run; a proc shim may be detached after this. */
void clone_shim_shutdown(struct clone_shim *shim);

enum clone_shim_mode clone_shim_mode(const struct clone_shim *shim);
const char *clone_shim_mode_name(enum clone_shim_mode mode);
/* CLONE_MODE_* for "autoclone", "fp", "native", "proc"; -1 if unknown. */
int clone_shim_mode_by_name(const char *name);
/* The mode this kernel would choose by default. */
enum clone_shim_mode clone_shim_default_mode(void);
/* 0 if this kernel can do mode, else EOPNOTSUPP. */
int clone_shim_mode_supported(enum clone_shim_mode mode);

/* The limits, by name. */
enum clone_shim_limit {
	CLONE_SHIM_MAX_PER_PROC,
	CLONE_SHIM_MAX_PER_UID,
	CLONE_SHIM_MAX_TOTAL,
};
/* The limit in effect; -1 for none. */
int clone_shim_limit(struct clone_shim *shim, enum clone_shim_limit which);
/*
 * Change a limit while attached, for the opens that follow: 0 sets its
 * default, below 0 removes it.  Clones already made stay, even beyond the
 * new limit; the fp hash keeps the size max_total gave it at attach.
 * 0, or EINVAL for an unknown limit.
 */
int clone_shim_set_limit(struct clone_shim *shim, enum clone_shim_limit which,
    int value);

void clone_shim_stats(struct clone_shim *shim, struct clone_shim_stats *st);
/*
 * The listing: one line per live clone, "unit pid uid opens ops\n".  unit
 * is the clone's number: its node is <name><unit> in autoclone mode, its
 * (node-less) cdev <name>.clone.<unit> in the interposer modes.  opens and
 * ops count the d_open and the other calls forwarded to the driver.  Writes at most
 * len bytes (NUL-terminated when len > 0); returns the full length needed
 * without the NUL.
 */
int clone_shim_listing(struct clone_shim *shim, char *buf, int len);
/* Bytes one clone costs the shim: its record plus its cdev. */
long clone_shim_bytes_per_clone(struct clone_shim *shim);

#ifdef __cplusplus
}
#endif
#endif /* CLONE_SHIM_H */
