/*
 * clone_os.c - the OS interface of the shim's hermetic core (clone_os_*,
 * declared in clone_core.h): memory, spinlocks, panic, errno numbers.
 *
 * Owns: the malloc type M_CLONESHIM, which every allocation of the shim
 * (glue and core) is charged to, so a leak shows at unload.
 *
 * Locking: none of its own; the spinlocks made here are the core's (its
 * table lock and hash stripes, clone_core.h).  clone_os_alloc may sleep
 * (M_WAITOK | M_NULLOK): the core never allocates holding a lock.
 *
 * Design: docs/design.md §2.
 */
#include <sys/param.h>
#include <sys/spinlock.h>
#include <sys/spinlock2.h>

#include "clone/clone_shim_var.h"

MALLOC_DEFINE(M_CLONESHIM, "clone_shim", "cloning shim records");

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
