/*
 * kqemu_os.c - the kernel services kqemu's C++ core takes (kqemu_os.h):
 * memory, sleepable locks, copyin/copyout, the pending-signal test, the
 * caller's pid, logging and panic.
 *
 * Owns: the malloc type M_KQEMU (every allocation of kqemu.ko), and the
 * compile-time check that the core's errno names (KQEMU_E*) are the
 * kernel's numbers.
 *
 * Locking: none of its own.  kqemu_os_lock is lockmgr, exclusive and not
 * recursive; its holder may sleep, copy in and out and allocate.
 *
 * Design: docs/design.md §2.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/errno.h>
#include <sys/globaldata.h>
#include <sys/lock.h>
#include <sys/malloc.h>
#include <sys/proc.h>
#include <sys/signal2.h>
#include <sys/thread.h>

#include "kqemu_os.h"
#include "kqemu_var.h"

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
