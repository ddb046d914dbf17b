/*
 * hk.h - the host kernel's face to tests, benchmarks and devhost.
 *
 * The host kernel (tests/host/kern) is a user-space model, for Linux, of the
 * DragonFly kernel interfaces our modules use; kmod/ sources compile against
 * its shadow headers (tests/host/include/kern/sys/NAME.h) unchanged.  This header
 * is the other side: what a *user* of that kernel calls.  It includes no
 * shadow header, so a test program sees only libc plus this.
 *
 * Conventions
 *  - Every syscall-like call returns 0 or an errno (the host libc's values,
 *    under DragonFly's names) and never sets errno.
 *  - A call acts as the host-kernel thread bound to the calling OS thread
 *    (hk_thread_enter); calling a syscall with none bound aborts the test.
 *  - "User memory" of a host-kernel process is its registered user ranges
 *    (hk_proc_map_user) or, for devhost, a real process's memory reached
 *    through hk_uspace_ops: copyin/copyout outside them get EFAULT.
 *  - Every test case runs in its own OS process (ATF does this); hk_boot
 *    starts a fresh kernel and hk_shutdown tears it down, returning a count
 *    of leaks (kmalloc bytes, cdevs, files, procs) that a case asserts zero.
 *
 * Locking: all of this is thread-safe; many OS threads may be inside the
 * host kernel at once, as on a real SMP kernel.
 */
#ifndef HK_H
#define HK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- boot, profiles, teardown ----------------------------------------- */

/*
 * Kernel profiles (docs/design.md §4, §11):
 *  HK_PROFILE_MODERN      dev args carry a_fp, cdevpriv, devfs clone handlers (>= 3.8)
 *  HK_PROFILE_NOCDEVPRIV  a_fp but no devfs_*_cdevpriv (set/get return ENOENT)
 *  HK_PROFILE_LEGACY      no fp in any dev args (a_fp == NULL), no cdevpriv,
 *                         no clone handlers (DragonFly 1.8-2.2, the 2007 situation)
 *  HK_PROFILE_DEVFS24     devfs clone handlers but no a_fp/cdevpriv (2.4-3.6)
 */
enum hk_profile {
	HK_PROFILE_MODERN = 0,
	HK_PROFILE_NOCDEVPRIV,
	HK_PROFILE_LEGACY,
	HK_PROFILE_DEVFS24,
};

/* Boot a fresh host kernel; "module path" is where NAME.so files live
 * (NULL: $HK_MODULE_PATH, else the build's modules dir). */
int hk_boot(enum hk_profile profile, const char *module_path);
/* Profile by name ("modern", "nocdevpriv", "legacy", "devfs24"); -1 if unknown. */
int hk_profile_by_name(const char *name);

struct hk_leaks {
	size_t kmalloc_bytes;	/* bytes still allocated, all malloc types */
	size_t kmalloc_count;	/* allocations still live */
	int cdevs;		/* cdevs not destroyed (beyond those of loaded modules) */
	int files;		/* struct file still referenced */
	int procs;		/* processes not reaped */
	int modules;		/* modules still loaded */
	int vm;			/* held/wired pages, kmem, mapdevs, vmspaces */
};
/* Exit every process, unload every module (in reverse dependency order,
 * ignoring vetoes only after reporting them), stop the kernel, fill *lk. */
int hk_shutdown(struct hk_leaks *lk);
/* hk_shutdown + assert everything is zero; prints what leaked to stderr.
 * Returns 0 when clean, else EBUSY. */
int hk_shutdown_clean(void);

/* Loader tunables (kenv) read by TUNABLE_INT/TUNABLE_STR and
 * kgetenv/ktestenv.  Set before kldload, like loader.conf. */
int hk_setenv(const char *name, const char *value);
int hk_unsetenv(const char *name);

/* --- processes and threads -------------------------------------------- */

struct hk_proc;		/* opaque to users: a host-kernel process */

/* A new process (no parent, empty fd table) with credentials uid/gid. */
int hk_proc_create(uid_t uid, gid_t gid, struct hk_proc **pp);
pid_t hk_proc_pid(struct hk_proc *p);
struct hk_proc *hk_proc_find(pid_t pid);	/* NULL if gone */

/* Bind/unbind the calling OS thread to a new host-kernel thread of p.
 * Nestable is not allowed: enter, syscalls, leave. */
int hk_thread_enter(struct hk_proc *p);
void hk_thread_leave(void);
struct hk_proc *hk_curproc(void);	/* NULL when unbound */

/*
 * fork(2) as the current thread's process: the child gets a copy of the fd
 * table referencing the same open files (fdcopy), then at_fork handlers run.
 * The child has no thread; hk_thread_enter(child) to act as it.
 */
int hk_fork(struct hk_proc **childp);
/*
 * exit1: the process exits.  at_exit handlers run first (with curthread a
 * thread of p), then every descriptor is closed, then p is gone (pid freed).
 * May be called from any OS thread, bound or not; if threads of p are still
 * inside syscalls it waits for them to leave the kernel first.
 */
int hk_proc_exit(struct hk_proc *p, int status);
/*
 * kill(2).  Marks sig pending on p (visible to the driver through
 * CURSIG/the thread's pending set: kqemu's EXEC returns INTR).  For SIGKILL
 * the process exits as soon as no thread of it is in a syscall (immediately
 * when none is; otherwise the last thread leaving the kernel runs the exit).
 */
int hk_kill(struct hk_proc *p, int sig);
int hk_sig_clear(struct hk_proc *p, int sig);

/* --- user memory -------------------------------------------------------- */

/* Declare [addr, addr+len) as user memory of p (readable and, if writable,
 * writable).  copyin/copyout/uiomove outside every range -> EFAULT. */
int hk_proc_map_user(struct hk_proc *p, const void *addr, size_t len, int writable);
int hk_proc_unmap_user(struct hk_proc *p, const void *addr);
/* Mark the range mapped at addr shared with children (MAP_SHARED:
 * VM_INHERIT_SHARE, what vm_map_lookup_entry reports) or not (default). */
int hk_proc_share_user(struct hk_proc *p, const void *addr, int shared);

/* devhost: user memory lives in a real process; these move bytes. */
struct hk_uspace_ops {
	int (*read)(void *ctx, uintptr_t uaddr, void *kbuf, size_t len);	/* 0 or EFAULT */
	int (*write)(void *ctx, uintptr_t uaddr, const void *kbuf, size_t len);
	void *ctx;
};
int hk_proc_set_uspace(struct hk_proc *p, const struct hk_uspace_ops *ops);

/* --- syscalls (as the bound thread's process) --------------------------- */

/* open(2) on a devfs path ("/dev/kqemu" or "kqemu"); flags O_RDONLY/O_WRONLY/O_RDWR.
 * The node's mode is checked against the process's uid/gid (VOP_ACCESS;
 * root passes): EACCES otherwise.  Syscalls of a thread whose process has
 * exited (killed) return EINTR. */
int hk_open(const char *path, int flags, int *fdp);
/* With flags | HK_O_QUICK the open takes devfs_spec_open's D_QUICK path
 * whatever the device's flags: what 5.8.1 does for an opener that saw
 * D_QUICK (a devfs mounted during an autoclone unload sees the quiesce
 * copy's), so d_open's error is dropped and the file kept -- a stray
 * file on the device itself. */
#define HK_O_QUICK	0x40000000
/* A devfs permission rule by node name (DEVFS_RULE_ADD of a PERM rule
 * matching that exact name in every mount, then DEVFS_RULE_APPLY, as
 * devfsctl(8) does): the node, and any node of that name made later,
 * gets uid, gid and mode.  ENOSPC past 8 rules; reset at each boot. */
int hk_devfs_rule_perm(const char *name, uid_t uid, gid_t gid, int mode);

int hk_close(int fd);
int hk_dup(int fd, int *newfdp);
/* ioctl(2): like sys_ioctl, copies IOCPARM_LEN(cmd) bytes in for IOC_IN
 * from the user address `data` (must be user memory), calls the device, copies
 * out for IOC_OUT.  cmd is BSD-encoded (IOC_IN 0x80000000, IOC_OUT 0x40000000). */
int hk_ioctl(int fd, unsigned long cmd, void *data);
int hk_read(int fd, void *buf, size_t len, size_t *done);
int hk_write(int fd, const void *buf, size_t len, size_t *done);

/* kldload/kldunload by module file name ("kqemu", "kqemu_clone"), with
 * DragonFly's linker reference rules (docs/design.md §10). *fileidp may be NULL.
 * As on 5.8.1, a MOD_LOAD error is NOT returned: the module gets MOD_UNLOAD
 * and is released, the file stays loaded and kldload returns 0 (ask
 * hk_modfind whether the module registered).  hk_kldload returns after
 * devfs has created the module's
 * nodes.  These and hk_sysctl may be called from an unbound OS thread:
 * they then run as proc0 (root); from a non-root process kldload,
 * kldunload and sysctl writes get EPERM. */
int hk_kldload(const char *name, int *fileidp);
int hk_kldunload(const char *name);
int hk_kld_isloaded(const char *name);
/* modfind(2) by module name (DECLARE_MODULE's): 0 if registered, else ENOENT. */
int hk_modfind(const char *modname);

/* sysctl read by name ("debug.kqemu_clone.live"): copies at most *lenp
 * bytes, sets *lenp to the full size (oldp NULL: size only). Strings are
 * NUL-terminated. Integers are native int/long/quad as declared. */
int hk_sysctl(const char *name, void *oldp, size_t *lenp, const void *newp, size_t newlen);
int hk_sysctl_int(const char *name, long long *value);	/* any integer width */

/* Names of devfs nodes currently visible (e.g. "kqemu", "kqemu3"), one per
 * call: idx from 0; returns ENOENT past the end. */
int hk_devfs_node(int idx, char *buf, size_t len);
int hk_devfs_exists(const char *name);
/* Owner, group and mode bits of a devfs node (its cdev's si_uid, si_gid,
 * si_perms: what ls -l /dev/NAME shows); ENOENT if there is none. */
int hk_devfs_node_attr(const char *name, uid_t *uidp, gid_t *gidp, int *modep);

/* --- fault injection and instrumentation ------------------------------- */

/* Fail the nth kmalloc from now (1 = the next) that is allowed to fail
 * (M_NULLOK or M_NOWAIT); 0 disables.  type: NULL for any malloc type, or a
 * type's short name ("KQEMU"). */
int hk_fail_kmalloc_nth(const char *type, int nth);
/* Fail every allocation of one malloc type that is allowed to fail
 * (M_NULLOK or M_NOWAIT) while on is non-zero; one type at a time. */
int hk_fail_kmalloc_type(const char *type, int on);
/* Number of kmalloc calls that could have failed since boot (to iterate
 * "fail each allocation point in turn"). */
long hk_kmalloc_failable_count(void);
/* Live bytes/allocations of one malloc type. */
int hk_kmalloc_stats(const char *type, size_t *bytes, size_t *count);

/* Count of lock-rule violations seen (recursion, unlock by non-owner, sleep
 * or M_WAITOK under a spinlock).  The host kernel aborts on the first unless
 * hk_set_lock_violation_fatal(0) -- tests of the checker itself use that. */
long hk_lock_violations(void);
void hk_set_lock_violation_fatal(int fatal);

/*
 * The VM model (tests/host/kern/vm_model.c: vm_fault_page_quick, vm_map_wire,
 * kmem_alloc, pmap_mapdev_uncacheable, acquire_curproc ...).  Counts are
 * what is live now, except dirtied/acquires/user_yields (calls since boot).
 */
struct hk_vm_stats {
	long held_pages;	/* vm_page holds */
	long wired_pages;	/* page wirings in user maps */
	long kmem_pages;	/* kmem_alloc pages */
	long mapdevs;		/* pmap_mapdev mappings */
	long dirtied;		/* vm_page_dirty of a clean page */
	long acquires;		/* acquire_curproc calls */
	long user_yields;	/* lwkt_user_yield calls */
	long vmspaces;		/* vmspaces alive (processes + references) */
	long faults;		/* vm_fault calls that succeeded */
};
int hk_vm_stats(struct hk_vm_stats *st);
/* Fail the nth call from now (1 = the next) of fn: "vm_fault_page_quick",
 * "vm_map_wire", "kmem_alloc" or "pmap_mapdev"; 0 turns it off.  EINVAL
 * for another name. */
int hk_vm_fail_nth(const char *fn, int nth);
/* Raise (1) or drop (0) the user-reschedule request user_resched_wanted()
 * reports, as DragonFly's scheduler clock does when another process waits
 * for the CPU; acquire_curproc clears it. */
void hk_sched_want_user_resched(int on);
/* exit1's unlocked walk of exit_list (as 5.8.1's TAILQ_FOREACH): pause(fn)
 * is called by the exiting thread on each entry it holds, before it loads
 * and calls the entry's function fn, so a test can stall a walker there
 * (a CPU that lost its time slice); NULL disables.  The entry may be freed
 * meanwhile by rm_at_exit: the walker then reads freed memory, as on 5.8. */
void hk_set_exit_walk_pause(void (*pause)(void *fn));
/*
 * dev_d* dispatch (kern_device.c): pause(fn) is called by a thread that
 * loaded fn from a cdev's si_ops, after publishing it and before calling
 * it -- where only an interrupt can stop a DragonFly kernel thread -- so a
 * test can hold a thread there across an unload; NULL disables.  An unload
 * waits for such threads before it unmaps the file, at most ms
 * milliseconds (hk_set_unload_drain_ms; 0: the default, 2000), then
 * reports those left.  Both are reset at boot.
 */
void hk_set_dispatch_pause(void (*pause)(const void *fn));
void hk_set_unload_drain_ms(int ms);
/* Name of the loaded module file ("kqemu_clone") whose code or data holds
 * addr, else NULL (valid while that file stays loaded). */
const char *hk_addr_module_name(const void *addr);

/* Make the next n devfs clone node creations fail (devfs_spec_open after
 * a clone handler returned a cdev): 5.8.1 then opens the base device
 * instead and the handler's clone has no node (an orphan). 0 disables. */
int hk_fail_clone_node(int n);

/* devfs_spec_open's d_open call: pause(devname) is called by the opening
 * thread after it unlocked the node's vnode (which it still references, and
 * so the cdev) and before dev_dopen, so a test can stall an opener there
 * while the cdev is destroyed and its module unloads; NULL disables. */
void hk_set_devfs_open_pause(void (*pause)(const char *devname));

/* Wait until the devfs thread has processed everything queued (devfs_config). */
void hk_devfs_sync(void);

#ifdef __cplusplus
}
#endif
#endif /* HK_H */
