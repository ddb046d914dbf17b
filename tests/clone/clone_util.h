/*
 * clone_util.h - helpers shared by the cloning shim's tests and bench.
 *
 * Owns: booting a host kernel for a shim mode (profile + tunables),
 * loading a target (h_single or kqemu, with its shim), host-kernel
 * processes with a page of user memory each, sysctl readers for the
 * shim's debug.<shim>.* tree, and the leak check that knows the one
 * documented leak (one devbuf allocation per shim unload).
 * Locking: none; a struct ct_proc is used by the threads of its process.
 */
#ifndef CLONE_UTIL_H
#define CLONE_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#include <hk.h>

struct ct_target {
	const char *driver;	/* module file: "h_single", "kqemu" */
	const char *shim;	/* module file: "h_single_clone", "kqemu_clone" */
	const char *node;	/* devfs name: "hsingle", "kqemu" */
	const char *sysctl;	/* "debug.hsingle_clone" */
	const char *tunable;	/* "hw.hsingle_clone" */
};
extern const struct ct_target ct_hsingle;
extern const struct ct_target ct_kqemu;

/* Profile a mode is tested on: proc on LEGACY (its real kernels), the
 * others on MODERN. */
enum hk_profile ct_profile_for(const char *mode);

/* Boot for mode (NULL or "" = default) with t's shim tunables set; limits
 * 0 = the shim's defaults.  Aborts the test case on failure. */
void ct_boot(const struct ct_target *t, const char *mode, enum hk_profile prof);
/* Loader tunable <t->tunable>.<what> = v (before ct_load). */
void ct_setenv_int(const struct ct_target *t, const char *what, int v);
void ct_set_limits(const struct ct_target *t, int per_proc, int per_uid, int total);
/* kldload driver then shim; returns the shim's kldload error.  As on
 * 5.8.1, a failed MOD_LOAD is not a kldload error: the file stays loaded
 * with no module (ct_registered tells). */
int ct_load(const struct ct_target *t);
/* Whether t's shim is loaded in proc mode (debug.<shim>.mode). */
int ct_shim_is_proc(const struct ct_target *t);
/* Is t's shim module registered (its MOD_LOAD succeeded)? */
int ct_registered(const struct ct_target *t);
/* kldunload the shim, counting successful unloads. */
int ct_unload_shim(const struct ct_target *t);
/* Shut down; the only allowed leftover is one devbuf allocation per
 * successful shim unload (the interposer, or autoclone's clone and
 * quiesce dev_ops: readers that loaded si_ops before the restore, and
 * destroyed clone cdevs still referenced, may still read them).  ATF-fails on
 * anything else. */
void ct_shutdown_clean(void);

struct ct_proc {
	struct hk_proc *p;
	pid_t pid;		/* kept: p is freed when the process is reaped */
	int *buf;		/* one page of user memory of p */
};
/* A process with uid/gid; its user page mapped. */
void ct_proc_new(struct ct_proc *cp, uid_t uid);
/* fork as cp (must be entered): child gets its own user page. */
int ct_fork(struct ct_proc *cp, struct ct_proc *child);
void ct_enter(struct ct_proc *cp);
void ct_leave(void);

/* As the entered process, on fd: */
int ct_open(const struct ct_target *t, int *fdp);
int ct_set(struct ct_proc *cp, int fd, int v);
int ct_get(struct ct_proc *cp, int fd, int *v);
int ct_serial(struct ct_proc *cp, int fd, int *serial);
int ct_sleep(struct ct_proc *cp, int fd, int ticks);

/* debug.<shim>.<name> as a number (-1 on error); the listing string. */
long ct_stat(const struct ct_target *t, const char *name);
int ct_listing(const struct ct_target *t, char *buf, size_t len);
/* Lines of the listing whose pid column is pid. */
int ct_listing_count_pid(const struct ct_target *t, pid_t pid);
/* debug.hsingle.instances (h_single only). */
long ct_instances(void);
/* Number of devfs nodes named <node><digits>. */
int ct_clone_nodes(const struct ct_target *t);

#endif /* CLONE_UTIL_H */
