/*
 * kqemu_os.h - the OS interface of kqemu's C++ core (docs/design.md §2).
 *
 * Owns: the only services the core (kqemu_core*.cc, the engines) takes
 * from the kernel.  Implemented by the C glue (kqemu_os.c): only the glue's
 * C files include kernel headers.  Every name carries the kqemu_os_
 * prefix: two modules must never export the same global symbol.
 *
 * Usable from C and C++; includes nothing.
 *
 * Locking: kqemu_os_lock is a sleepable lock (lockmgr on DragonFly): its
 * holder may copyin/copyout and allocate with M_WAITOK.  Not recursive.
 */
#ifndef KQEMU_OS_H
#define KQEMU_OS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef __SIZE_TYPE__ kqemu_size_t;

/*
 * The errnos the core returns.  The core cannot include <sys/errno.h>; the
 * glue checks at compile time that each equals the kernel's own value (on
 * DragonFly and on the Linux host kernel alike these are the same numbers).
 */
#define KQEMU_EPERM	1
#define KQEMU_EIO	5
#define KQEMU_ENXIO	6
#define KQEMU_ENOMEM	12
#define KQEMU_EFAULT	14
#define KQEMU_EBUSY	16
#define KQEMU_EINVAL	22
#define KQEMU_ENOTTY	25

struct kqemu_os_lock;		/* opaque */

/* Zeroed memory of malloc type KQEMU (M_WAITOK | M_NULLOK): NULL when the
 * allocator refuses; callers turn that into ENOMEM. */
void	*kqemu_os_alloc(kqemu_size_t size);
void	kqemu_os_free(void *p);

/* A sleepable lock; NULL when its memory cannot be allocated. */
struct kqemu_os_lock *kqemu_os_lock_create(const char *name);
void	kqemu_os_lock_destroy(struct kqemu_os_lock *lk);
void	kqemu_os_lock_acquire(struct kqemu_os_lock *lk);
void	kqemu_os_lock_release(struct kqemu_os_lock *lk);

/* copyin/copyout of the calling thread's user memory: 0 or EFAULT. */
int	kqemu_os_copyin(const void *uaddr, void *kaddr, kqemu_size_t len);
int	kqemu_os_copyout(const void *kaddr, void *uaddr, kqemu_size_t len);

/* Non-zero when a signal is pending and unblocked for the calling thread
 * (CURSIG_NOBLOCK(curthread->td_lwp) on DragonFly). */
int	kqemu_os_signal_pending(void);
/* The calling process's pid (0 in a kernel thread). */
int	kqemu_os_pid(void);

/* kprintf("%s", msg): callers write "kqemu: ...\n" themselves. */
void	kqemu_os_log(const char *msg);
/* panic: a broken invariant, never bad user input. */
void	kqemu_os_panic(const char *msg) __attribute__((__noreturn__));

#ifdef __cplusplus
}
#endif

#endif /* KQEMU_OS_H */
