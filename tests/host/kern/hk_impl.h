/*
 * hk_impl.h - private interfaces between the host kernel's source files.
 *
 * Owns nothing; declares the state each file owns and the calls between
 * them.  Every file includes the shadow DragonFly headers (the structures
 * modules see) plus this.
 *
 * Locking overview (outermost first):
 *   kld_lock (lockmgr)  -> module load/unload, serialises the linker
 *   devfs_lock (lockmgr) -> devfs nodes, clone handlers; held exclusively
 *                           by the devfs thread while it runs a message
 *   vnode v_lock (lockmgr) -> per devfs node, as devfs_spec_open holds it
 *   hk_proc.mtx         -> one process: fd table, user ranges, state
 *   leaf mutexes         -> malloc types, cdev list, ops refs, sysctl tree,
 *                           kenv, exit/fork hook lists, sleep queue
 * Driver code (d_*, clone handlers, MOD_* events, sysctl handlers, at_exit
 * hooks) never runs under a leaf mutex or a process mutex.
 */
#ifndef HK_IMPL_H
#define HK_IMPL_H

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/ioccom.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/malloc.h>
#include <sys/proc.h>
#include <sys/file.h>
#include <sys/conf.h>
#include <sys/device.h>
#include <sys/devfs.h>
#include <sys/lock.h>
#include <sys/spinlock2.h>
#include <sys/vnode.h>
#include <sys/uio.h>
#include <sys/sysctl.h>
#include <sys/module.h>
#include <pthread.h>
#include <stdio.h>
#include <hk.h>

/* --- core (kern_core.c) ------------------------------------------------ */
extern enum hk_profile hk_profile;
extern int hk_booted;

/* Capabilities of the running profile (see hk_osreldate). */
int	hk_has_afp(void);		/* dev args carry a_fp */
int	hk_has_cdevpriv(void);		/* devfs_*_cdevpriv work */
int	hk_has_clone(void);		/* devfs consults clone handlers */

/* Report a lock-rule violation: count it, print it, abort if fatal. */
void	hk_violation(const char *fmt, ...) __printflike(1, 2);
/* Non-violation model failures (a module did something the real kernel
 * would crash or leak on): printed and counted as leaks at shutdown. */
void	hk_report(const char *fmt, ...) __printflike(1, 2);
extern long hk_reports;

/* Per-OS-thread state. */
struct hk_spinheld {
	struct spinlock	*spin;
	const char	*ident;
};
#define HK_MAXSPIN	16
#define HK_MAXTOK	16
/* What a syscall entered with (hk_syscall_mark). */
struct hk_sysmark {
	int	nspin;
	int	ntok;
	int	crit;
};
struct lwkt_token;
struct hk_tls {
	struct globaldata gd;
	struct thread	*bound;		/* hk_thread_enter */
	struct thread	ktd;		/* kernel context when unbound */
	int		cpuid_set;
	unsigned long	serial;		/* unique per OS thread, never reused */
	int		is_devfs;	/* the devfs thread */
	int		nspin;
	struct hk_spinheld spin[HK_MAXSPIN];
	int		ntok;		/* tokens held (distinct) */
	struct lwkt_token *tok[HK_MAXTOK];
	long		tokcount[HK_MAXTOK];	/* saved across a sleep */
	int		sys_depth;	/* hk_sys_enter nesting */
	struct hk_sysmark sys_mark;	/* at the outermost hk_sys_enter */
};
struct hk_tls *hk_tls(void);
/* Lock owner identity of the calling OS thread. */
#define HK_ME()	((void *)hk_tls()->serial)
/* Assert that no spinlock is held before a sleep of kind `what`. */
void	hk_assert_sleepable(const char *what);
/* Syscall return checks (trap.c syscall2, INVARIANTS): mark at entry,
 * check before returning to user: spinlocks, tokens, critical sections. */
void	hk_syscall_mark(struct hk_sysmark *m);
void	hk_syscall_check(const struct hk_sysmark *m, const char *what);
/* A thread about to block releases its tokens; it retakes them after. */
void	hk_tokens_release_all(void);
void	hk_tokens_reacquire_all(void);

/* --- processes (kern_proc.c) ------------------------------------------- */
struct hk_urange {
	uintptr_t	start;
	size_t		len;
	int		writable;
	int		shared;		/* VM_INHERIT_SHARE (MAP_SHARED) */
};
struct hk_proc {
	struct proc	p;
	pthread_mutex_t	mtx;
	pthread_cond_t	cv;
	int		state;		/* HK_PS_* */
	int		in_kernel;	/* threads inside syscalls */
	int		refs;		/* table + bound threads + holds */
	int		nthreads;
	volatile uint64_t sigpending;	/* bit (sig - 1) */
	struct file	**fds;
	int		nfds;
	struct hk_urange *ranges;
	int		nranges;
	int		has_uops;
	struct hk_uspace_ops uops;
	struct ucred	*cred;
	struct hk_proc	*next;
	int		exit_status;
};
#define HK_PS_ALIVE	0
#define HK_PS_EXITING	1
#define HK_PS_DEAD	2
extern struct hk_proc hk_proc0;

struct hk_proc *hk_proc_of(struct proc *p);
/* Syscall entry/exit for the calling OS thread; enter returns an errno. */
int	hk_sys_enter(struct hk_proc **pp);
void	hk_sys_leave(struct hk_proc *p);
void	hk_proc_boot(void);
int	hk_proc_shutdown(void);		/* exits all; returns procs not reaped */
void	hk_sleep_wakeall(void);		/* signals, exit: re-check sleepers */
void	hk_exit_hooks_check_module(void *base, const char *name);
/* Is [uaddr, uaddr+len) registered user memory of p (writable if write)?
 * 0 for a devhost process (its memory is elsewhere). */
int	hk_user_range_ok(struct hk_proc *p, uintptr_t uaddr, size_t len, int write);
/* The range holding uaddr: 0 and its bounds and sharing, or ENOENT. */
int	hk_user_range_find(struct hk_proc *p, uintptr_t uaddr, uintptr_t *startp,
	    size_t *lenp, int *sharedp);

/* --- VM model (vm_model.c) ---------------------------------------------- */
void	hk_vm_boot(void);
int	hk_vm_shutdown(void);		/* leaked holds, wirings, kmem, vmspaces */
struct vmspace *hk_vmspace_new(struct hk_proc *p);
void	hk_vmspace_exit(struct hk_proc *p);	/* exit1, after fdfree */

/* --- descriptors (kern_descrip.c) --------------------------------------- */
struct hk_file_priv {
	int		opened;		/* devfs open completed: close on last fdrop */
	struct vnode	*vp;
};
struct file *hk_falloc(struct ucred *cred, int fflags);
/* fd table helpers (p->mtx taken inside). */
int	hk_fd_install(struct hk_proc *p, struct file *fp, int *fdp);
struct file *hk_fd_get(struct hk_proc *p, int fd);	/* held */
void	hk_fdfree(struct hk_proc *p);
int	hk_fdcopy(struct hk_proc *parent, struct hk_proc *child);
extern volatile int hk_nfiles;
void	hk_descrip_boot(void);
int	hk_descrip_shutdown(void);	/* returns files still referenced */

/* --- devices (kern_device.c, devfs.c) ------------------------------------ */
struct devfs_node;
struct hk_cdev_priv {
	struct cdev	*dev;
	struct hk_cdev_priv *next;	/* all cdevs (hk_cdev_mtx) */
	int		base_ref;	/* until destroy_dev / destroy_only_dev */
	int		vrefs;		/* vnodes referencing it */
	int		destroyed;	/* destroy requested */
	int		terminated;
	struct vnode	*vp;		/* its devfs vnode, if any */
	struct devfs_node *node;
};
extern pthread_mutex_t hk_cdev_mtx;
cdev_t	hk_new_cdev(struct dev_ops *ops, int minor, struct dev_ops *bops);
void	hk_cdev_vref(cdev_t dev);
void	hk_cdev_vrele(cdev_t dev);
void	hk_cdev_base_release(cdev_t dev);
void	hk_devfs_reference_ops(struct dev_ops *ops);
void	hk_device_boot(void);
int	hk_device_shutdown(void);	/* cdevs never terminated */
int	hk_device_check_module(void *base, const char *name);

/* devfs (devfs.c) */
extern struct lock devfs_lock;
void	hk_devfs_boot(void);
void	hk_devfs_shutdown(void);
void	hk_devfs_create_dev(cdev_t dev);	/* async node creation */
void	hk_devfs_destroy_dev(cdev_t dev);	/* async */
int	hk_devfs_open(const char *name, int fmode, struct ucred *cred,
	    struct file *fp, int quick);
int	hk_devfs_close(struct file *fp);
int	hk_devfs_check_module(void *base, const char *name);

/* --- malloc (kern_malloc.c) --------------------------------------------- */
MALLOC_DECLARE(M_DEVFS);
MALLOC_DECLARE(M_LINKER);
MALLOC_DECLARE(M_SYSCTLOID);
MALLOC_DECLARE(M_KENV);
MALLOC_DECLARE(M_MODULE);
MALLOC_DECLARE(M_ATEXIT);
void	hk_malloc_boot(void);
void	hk_malloc_shutdown(size_t *bytes, size_t *count);

/* --- linker and modules (kern_linker.c) ------------------------------------ */
void	hk_linker_boot(void);
int	hk_linker_shutdown(void);	/* modules still loaded (vetoed) */
extern struct lock kld_lock;
/* Is addr inside a module file currently loaded (its base), else NULL. */
void	*hk_addr_module_base(const void *addr);
/*
 * A call through a function pointer loaded from si_ops (dev_d*):
 * hk_dispatch_begin before the load, hk_dispatch_callee with what was
 * loaded, hk_dispatch_end after the call; the linker waits for these
 * before it unmaps a file (kern_linker.c "Dispatches into module text").
 */
const void **hk_dispatch_begin(void);
void	hk_dispatch_callee(const void **e, const void *fn);
void	hk_dispatch_end(const void **e);

/* --- sysctl (kern_sysctl.c) ------------------------------------------------ */
void	hk_sysctl_boot(void);
void	hk_sysctl_shutdown(void);

#define HK_ABORT(...) do { fprintf(stderr, "hostkern: " __VA_ARGS__);	\
	fputc('\n', stderr); abort(); } while (0)

#endif /* HK_IMPL_H */
