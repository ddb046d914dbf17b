/*
 * kern_sysctl.c - the sysctl oid tree (kern/kern_sysctl.c): static oids
 * registered by the linker at module load, dynamic ones through
 * sysctl_add_oid/sysctl_ctx_*, the standard handlers, and hk_sysctl, a
 * by-name read/write with the kernel's old/new buffer semantics:
 * SYSCTL_OUT keeps counting past a short buffer (ENOMEM, *lenp = the full
 * size), and oldp == NULL asks only for the size.
 *
 * Locking: tree_lock (rwlock): mutations take it for writing; lookups and
 * handler calls for reading, so unregistering an oid waits for running
 * handlers, as DragonFly's sysctl lock does.
 */
#include "hk_impl.h"

#include <stdlib.h>
#include <string.h>

static pthread_rwlock_t tree_lock = PTHREAD_RWLOCK_INITIALIZER;
struct sysctl_oid_list sysctl__children;
static int next_oid_number = 0x100;

#define TOPNODE(name)							\
	struct sysctl_oid_list sysctl__##name##_children;		\
	static struct sysctl_oid sysctl___##name = {			\
		&sysctl__children, { NULL }, OID_AUTO,			\
		CTLTYPE_NODE | CTLFLAG_RW, &sysctl__##name##_children, 0, \
		#name, NULL, "N", 0, 0, #name }
TOPNODE(kern);
TOPNODE(vm);
TOPNODE(vfs);
TOPNODE(net);
TOPNODE(debug);
TOPNODE(dev);
TOPNODE(hw);
TOPNODE(machdep);
TOPNODE(user);
TOPNODE(security);
static struct sysctl_oid *const top_oids[] = {
	&sysctl___kern, &sysctl___vm, &sysctl___vfs, &sysctl___net,
	&sysctl___debug, &sysctl___dev, &sysctl___hw, &sysctl___machdep,
	&sysctl___user, &sysctl___security,
};

static char osrelease_buf[32];
static struct sysctl_oid sysctl___kern_osreldate = {
	&sysctl__kern_children, { NULL }, OID_AUTO,
	CTLTYPE_INT | CTLFLAG_RD, &hk_osreldate, 0, "osreldate",
	sysctl_handle_int, "I", 0, 0, "Kernel release date"
};
static struct sysctl_oid sysctl___kern_osrelease = {
	&sysctl__kern_children, { NULL }, OID_AUTO,
	CTLTYPE_STRING | CTLFLAG_RD, osrelease_buf, sizeof(osrelease_buf),
	"osrelease", sysctl_handle_string, "A", 0, 0, "Operating system release"
};
static struct sysctl_oid sysctl___hw_ncpu = {
	&sysctl__hw_children, { NULL }, OID_AUTO,
	CTLTYPE_INT | CTLFLAG_RD, &ncpus, 0, "ncpu",
	sysctl_handle_int, "I", 0, 0, "Number of active CPUs"
};

/* Called with tree_lock held for writing. */
static void
register_locked(struct sysctl_oid *oidp)
{
	struct sysctl_oid_list *parent = oidp->oid_parent;
	struct sysctl_oid *p, *q;

	SLIST_FOREACH(p, parent, oid_link) {
		if (strcmp(p->oid_name, oidp->oid_name) == 0) {
			if ((p->oid_kind & CTLTYPE) == CTLTYPE_NODE &&
			    (oidp->oid_kind & CTLTYPE) == CTLTYPE_NODE) {
				p->oid_refcnt++;
				return;
			}
			kprintf("can't re-use a leaf (%s)!\n", p->oid_name);
			return;
		}
	}
	if (oidp->oid_number == OID_AUTO)
		oidp->oid_number = next_oid_number++;
	oidp->oid_refcnt = 1;
	/* Keep the list sorted by number, as kern_sysctl.c does. */
	q = NULL;
	SLIST_FOREACH(p, parent, oid_link) {
		if (oidp->oid_number < p->oid_number)
			break;
		q = p;
	}
	if (q)
		SLIST_INSERT_AFTER(q, oidp, oid_link);
	else
		SLIST_INSERT_HEAD(parent, oidp, oid_link);
}

void
sysctl_register_oid(struct sysctl_oid *oidp)
{
	pthread_rwlock_wrlock(&tree_lock);
	register_locked(oidp);
	pthread_rwlock_unlock(&tree_lock);
}

/* Called with tree_lock held for writing. */
static int
unregister_locked(struct sysctl_oid *oidp)
{
	struct sysctl_oid *p;

	SLIST_FOREACH(p, oidp->oid_parent, oid_link) {
		if (p == oidp) {
			if (--p->oid_refcnt > 0)
				return (0);
			SLIST_REMOVE(oidp->oid_parent, oidp, sysctl_oid,
			    oid_link);
			return (0);
		}
		if (strcmp(p->oid_name, oidp->oid_name) == 0 &&
		    (p->oid_kind & CTLTYPE) == CTLTYPE_NODE) {
			/* A node shared with another registrant. */
			if (p->oid_refcnt > 1)
				p->oid_refcnt--;
			return (0);
		}
	}
	return (ENOENT);
}

void
sysctl_unregister_oid(struct sysctl_oid *oidp)
{
	pthread_rwlock_wrlock(&tree_lock);
	if (unregister_locked(oidp) != 0)
		kprintf("sysctl: failed to unregister sysctl %s\n",
		    oidp->oid_name);
	pthread_rwlock_unlock(&tree_lock);
}

void
hk_sysctl_boot(void)
{
	size_t i;

	pthread_rwlock_wrlock(&tree_lock);
	SLIST_INIT(&sysctl__children);
	for (i = 0; i < nitems(top_oids); i++) {
		SLIST_INIT((struct sysctl_oid_list *)top_oids[i]->oid_arg1);
		top_oids[i]->oid_number = OID_AUTO;
		register_locked(top_oids[i]);
	}
	snprintf(osrelease_buf, sizeof(osrelease_buf), "%d.%d-HOST",
	    hk_osreldate / 100000, (hk_osreldate / 100) % 1000);
	sysctl___kern_osreldate.oid_number = OID_AUTO;
	sysctl___kern_osrelease.oid_number = OID_AUTO;
	sysctl___hw_ncpu.oid_number = OID_AUTO;
	register_locked(&sysctl___kern_osreldate);
	register_locked(&sysctl___kern_osrelease);
	register_locked(&sysctl___hw_ncpu);
	pthread_rwlock_unlock(&tree_lock);
}

void
hk_sysctl_shutdown(void)
{
	pthread_rwlock_wrlock(&tree_lock);
	SLIST_INIT(&sysctl__children);
	pthread_rwlock_unlock(&tree_lock);
}

/* ------------------------------------------------------------------------ */
/* Dynamic oids and contexts                                                */

int
sysctl_ctx_init(struct sysctl_ctx_list *c)
{
	if (c == NULL)
		return (EINVAL);
	TAILQ_INIT(c);
	return (0);
}

static void
free_dyn_oid(struct sysctl_oid *oidp)
{
	if ((oidp->oid_kind & CTLTYPE) == CTLTYPE_NODE)
		kfree(oidp->oid_arg1, M_SYSCTLOID);
	kfree(__DECONST(char *, oidp->oid_name), M_SYSCTLOID);
	if (oidp->oid_descr)
		kfree(__DECONST(char *, oidp->oid_descr), M_SYSCTLOID);
	kfree(oidp, M_SYSCTLOID);
}

int
sysctl_remove_oid(struct sysctl_oid *oidp, int del, int recurse)
{
	int error;

	if (oidp == NULL)
		return (EINVAL);
	if ((oidp->oid_kind & CTLFLAG_DYN) == 0) {
		kprintf("can't remove non-dynamic nodes!\n");
		return (EINVAL);
	}
	pthread_rwlock_wrlock(&tree_lock);
	if ((oidp->oid_kind & CTLTYPE) == CTLTYPE_NODE &&
	    oidp->oid_refcnt == 1 &&
	    !SLIST_EMPTY((struct sysctl_oid_list *)oidp->oid_arg1) &&
	    !recurse) {
		pthread_rwlock_unlock(&tree_lock);
		return (ENOTEMPTY);
	}
	if (oidp->oid_refcnt > 1) {
		oidp->oid_refcnt--;
		pthread_rwlock_unlock(&tree_lock);
		return (0);
	}
	error = unregister_locked(oidp);
	pthread_rwlock_unlock(&tree_lock);
	if (error == 0 && del)
		free_dyn_oid(oidp);
	return (error);
}

int
sysctl_ctx_free(struct sysctl_ctx_list *clist)
{
	struct sysctl_ctx_entry *e;

	if (clist == NULL)
		return (EINVAL);
	while ((e = TAILQ_FIRST(clist)) != NULL) {
		TAILQ_REMOVE(clist, e, link);
		sysctl_remove_oid(e->entry, 1, 0);
		kfree(e, M_SYSCTLOID);
	}
	return (0);
}

struct sysctl_oid *
sysctl_add_oid(struct sysctl_ctx_list *clist, struct sysctl_oid_list *parent,
    int number, const char *name, int kind, void *arg1, int arg2,
    int (*handler)(SYSCTL_HANDLER_ARGS), const char *fmt, const char *descr)
{
	struct sysctl_oid *oidp, *p;
	struct sysctl_ctx_entry *e;

	if (parent == NULL || name == NULL)
		return (NULL);
	pthread_rwlock_wrlock(&tree_lock);
	SLIST_FOREACH(p, parent, oid_link) {
		if (strcmp(p->oid_name, name) == 0) {
			if ((p->oid_kind & CTLTYPE) == CTLTYPE_NODE &&
			    (kind & CTLTYPE) == CTLTYPE_NODE) {
				p->oid_refcnt++;
				pthread_rwlock_unlock(&tree_lock);
				if (clist != NULL) {
					e = kmalloc(sizeof(*e), M_SYSCTLOID,
					    M_WAITOK);
					e->entry = p;
					TAILQ_INSERT_HEAD(clist, e, link);
				}
				return (p);
			}
			pthread_rwlock_unlock(&tree_lock);
			kprintf("can't re-use a leaf (%s)!\n", name);
			return (NULL);
		}
	}
	pthread_rwlock_unlock(&tree_lock);
	oidp = kmalloc(sizeof(*oidp), M_SYSCTLOID, M_WAITOK | M_ZERO);
	oidp->oid_parent = parent;
	oidp->oid_number = number;
	oidp->oid_name = kstrdup(name, M_SYSCTLOID);
	oidp->oid_handler = handler;
	oidp->oid_kind = CTLFLAG_DYN | kind;
	if ((kind & CTLTYPE) == CTLTYPE_NODE) {
		struct sysctl_oid_list *l = kmalloc(sizeof(*l), M_SYSCTLOID,
		    M_WAITOK);
		SLIST_INIT(l);
		oidp->oid_arg1 = l;
	} else {
		oidp->oid_arg1 = arg1;
		oidp->oid_arg2 = arg2;
	}
	oidp->oid_fmt = fmt;
	if (descr != NULL)
		oidp->oid_descr = kstrdup(descr, M_SYSCTLOID);
	sysctl_register_oid(oidp);
	if (clist != NULL) {
		e = kmalloc(sizeof(*e), M_SYSCTLOID, M_WAITOK);
		e->entry = oidp;
		TAILQ_INSERT_HEAD(clist, e, link);
	}
	return (oidp);
}

/* ------------------------------------------------------------------------ */
/* Handlers                                                                 */

int
sysctl_handle_int(SYSCTL_HANDLER_ARGS)
{
	int error = 0, tmpout;

	/* An aligned int load is atomic on x86: say so to TSan (the module
	 * updates its counters with atomic ops, or under its own lock). */
	tmpout = arg1 ? __atomic_load_n((int *)arg1, __ATOMIC_RELAXED) : arg2;
	error = SYSCTL_OUT(req, &tmpout, sizeof(int));
	if (error || !req->newptr)
		return (error);
	if (!arg1)
		return (EPERM);
	error = SYSCTL_IN(req, &tmpout, sizeof(int));
	if (error == 0)
		__atomic_store_n((int *)arg1, tmpout, __ATOMIC_RELAXED);
	return (error);
}

int
sysctl_handle_32(SYSCTL_HANDLER_ARGS)
{
	return (sysctl_handle_int(oidp, arg1, arg2, req));
}

int
sysctl_handle_long(SYSCTL_HANDLER_ARGS)
{
	int error = 0;
	long tmp;

	if (!arg1)
		return (EINVAL);
	tmp = __atomic_load_n((long *)arg1, __ATOMIC_RELAXED);
	error = SYSCTL_OUT(req, &tmp, sizeof(long));
	if (error || !req->newptr)
		return (error);
	error = SYSCTL_IN(req, &tmp, sizeof(long));
	if (error == 0)
		__atomic_store_n((long *)arg1, tmp, __ATOMIC_RELAXED);
	return (error);
}

int
sysctl_handle_quad(SYSCTL_HANDLER_ARGS)
{
	int error = 0;
	int64_t tmp;

	tmp = arg1 ? __atomic_load_n((int64_t *)arg1, __ATOMIC_RELAXED) : arg2;
	error = SYSCTL_OUT(req, &tmp, sizeof(int64_t));
	if (error || !req->newptr)
		return (error);
	if (!arg1)
		return (EPERM);
	error = SYSCTL_IN(req, &tmp, sizeof(int64_t));
	if (error == 0)
		__atomic_store_n((int64_t *)arg1, tmp, __ATOMIC_RELAXED);
	return (error);
}

int
sysctl_handle_64(SYSCTL_HANDLER_ARGS)
{
	return (sysctl_handle_quad(oidp, arg1, arg2, req));
}

int
sysctl_handle_intptr(SYSCTL_HANDLER_ARGS)
{
	return (sysctl_handle_long(oidp, arg1, arg2, req));
}

int
sysctl_handle_string(SYSCTL_HANDLER_ARGS)
{
	int error = 0;

	error = SYSCTL_OUT(req, arg1, strlen((char *)arg1) + 1);
	if (error || !req->newptr)
		return (error);
	if ((req->newlen - req->newidx) >= (size_t)arg2) {
		error = EINVAL;
	} else {
		arg2 = (req->newlen - req->newidx);
		error = SYSCTL_IN(req, arg1, arg2);
		((char *)arg1)[arg2] = '\0';
	}
	return (error);
}

int
sysctl_handle_opaque(SYSCTL_HANDLER_ARGS)
{
	int error;

	error = SYSCTL_OUT(req, arg1, arg2);
	if (error || !req->newptr)
		return (error);
	return (SYSCTL_IN(req, arg1, arg2));
}

/* sysctl_old_kernel / sysctl_new_kernel */
static int
old_kernel(struct sysctl_req *req, const void *p, size_t l)
{
	size_t i = 0;

	if (req->oldptr) {
		i = l;
		if (req->oldlen <= req->oldidx)
			i = 0;
		else if (i > req->oldlen - req->oldidx)
			i = req->oldlen - req->oldidx;
		if (i > 0)
			memcpy((char *)req->oldptr + req->oldidx, p, i);
	}
	req->oldidx += l;
	if (req->oldptr && i != l)
		return (ENOMEM);
	return (0);
}

static int
new_kernel(struct sysctl_req *req, void *p, size_t l)
{
	if (!req->newptr)
		return (0);
	if (req->newlen - req->newidx < l)
		return (EINVAL);
	memcpy(p, (char *)req->newptr + req->newidx, l);
	req->newidx += l;
	return (0);
}

/* Find an oid by dotted name; tree_lock held (read). */
static struct sysctl_oid *
find_locked(const char *name)
{
	struct sysctl_oid_list *list = &sysctl__children;
	struct sysctl_oid *oidp = NULL;
	char part[128];
	const char *s = name, *dot;
	size_t len;

	while (*s != '\0') {
		dot = strchr(s, '.');
		len = dot ? (size_t)(dot - s) : strlen(s);
		if (len >= sizeof(part) || list == NULL)
			return (NULL);
		memcpy(part, s, len);
		part[len] = '\0';
		SLIST_FOREACH(oidp, list, oid_link)
			if (strcmp(oidp->oid_name, part) == 0)
				break;
		if (oidp == NULL)
			return (NULL);
		s += len;
		if (*s == '.') {
			s++;
			if ((oidp->oid_kind & CTLTYPE) != CTLTYPE_NODE ||
			    oidp->oid_handler != NULL)
				return (NULL);
			list = oidp->oid_arg1;
		}
	}
	return (oidp);
}

/*
 * sysctl_old_user / sysctl_new_user: sysctl(2)'s buffers are user memory,
 * which 5.8 reaches with copyout/copyin; a handler calling SYSCTL_OUT or
 * SYSCTL_IN under a spinlock risks a fault there.  The bytes are the
 * caller's own (hk_sysctl's callers pass host memory).
 */
static int
old_user(struct sysctl_req *req, const void *p, size_t l)
{
	if (req->oldptr != NULL && l > 0)
		hk_assert_sleepable("sysctl_old_user (copyout: a fault under a "
		    "spinlock panics 5.8)");
	return (old_kernel(req, p, l));
}

static int
new_user(struct sysctl_req *req, void *p, size_t l)
{
	if (req->newptr != NULL && l > 0)
		hk_assert_sleepable("sysctl_new_user (copyin: a fault under a "
		    "spinlock panics 5.8)");
	return (new_kernel(req, p, l));
}

static int
sysctlbyname_req(char *name, void *old, size_t *oldlenp, void *new,
    size_t newlen, size_t *retval, int user)
{
	struct sysctl_oid *oidp;
	struct sysctl_req req;
	int error;

	memset(&req, 0, sizeof(req));
	req.td = curthread;
	req.oldptr = old;
	req.oldlen = oldlenp ? *oldlenp : 0;
	req.newptr = new;
	req.newlen = newlen;
	req.oldfunc = user ? old_user : old_kernel;
	req.newfunc = user ? new_user : new_kernel;
	pthread_rwlock_rdlock(&tree_lock);
	oidp = find_locked(name);
	if (oidp == NULL) {
		error = ENOENT;
	} else if ((oidp->oid_kind & CTLTYPE) == CTLTYPE_NODE &&
	    oidp->oid_handler == NULL) {
		error = EISDIR;
	} else if (new != NULL && (oidp->oid_kind & CTLFLAG_WR) == 0) {
		error = EPERM;
	} else if (new != NULL && (oidp->oid_kind & CTLFLAG_ANYBODY) == 0 &&
	    priv_check(curthread, PRIV_ROOT) != 0) {
		error = EPERM;		/* sysctl_root: writes need root */
	} else if (oidp->oid_handler == NULL) {
		error = EINVAL;
	} else {
		__atomic_fetch_add(&oidp->oid_running, 1, __ATOMIC_SEQ_CST);
		error = oidp->oid_handler(oidp, oidp->oid_arg1,
		    oidp->oid_arg2, &req);
		__atomic_fetch_sub(&oidp->oid_running, 1, __ATOMIC_SEQ_CST);
	}
	pthread_rwlock_unlock(&tree_lock);
	if (error == 0 || error == ENOMEM) {
		if (oldlenp)
			*oldlenp = req.oldidx;
		if (retval)
			*retval = req.oldidx;
	}
	return (error);
}

int
kernel_sysctlbyname(char *name, void *old, size_t *oldlenp, void *new,
    size_t newlen, size_t *retval)
{
	return (sysctlbyname_req(name, old, oldlenp, new, newlen, retval, 0));
}

int
hk_sysctl(const char *name, void *oldp, size_t *lenp, const void *newp,
    size_t newlen)
{
	struct hk_sysmark mark;
	char buf[256];
	size_t zero = 0;
	int error;

	if (!hk_booted)
		return (ENXIO);
	strlcpy(buf, name, sizeof(buf));
	hk_syscall_mark(&mark);
	error = sysctlbyname_req(buf, oldp, lenp ? lenp : &zero,
	    __DECONST(void *, newp), newlen, NULL, 1);
	hk_syscall_check(&mark, "sysctl");
	return (error);
}

int
hk_sysctl_int(const char *name, long long *value)
{
	union {
		int32_t	i;
		int64_t	q;
		char	b[8];
	} u;
	size_t len = sizeof(u);
	int error;

	memset(&u, 0, sizeof(u));
	error = hk_sysctl(name, &u, &len, NULL, 0);
	if (error)
		return (error);
	if (len == sizeof(int32_t))
		*value = u.i;
	else if (len == sizeof(int64_t))
		*value = u.q;
	else
		return (EINVAL);
	return (0);
}
