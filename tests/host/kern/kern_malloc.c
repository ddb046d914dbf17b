/*
 * kern_malloc.c - kmalloc/kfree (kern/kern_slaballoc.c semantics) with
 * per-type accounting, leak reports and failure injection.
 *
 *  - M_WAITOK never returns NULL unless M_NULLOK; M_NOWAIT (= M_RNOWAIT |
 *    M_NULLOK | ...) may.  Only allocations allowed to fail (M_NULLOK or
 *    M_RNOWAIT) count as "failable" and can be failed by injection.
 *  - kmalloc without M_RNOWAIT while holding a spinlock is a lock violation.
 *  - kfree fills the memory with 0xdeadc0de first, like an INVARIANTS
 *    kernel, so a use after free calls through 0xdeadc0dedeadc0de.
 *  - MALLOC_DEFINE registers its type at module load (malloc_init) and
 *    malloc_uninit reports what is still allocated at unload.
 *
 * Locking: every allocation has a header linking it into its type's live
 * list under the type's mutex (leaf).  types_mtx guards the type list and
 * the injection state.
 */
#include "hk_impl.h"

#include <stdlib.h>
#include <string.h>

struct hk_malloc_priv {
	pthread_mutex_t	mtx;
	size_t		bytes;
	size_t		count;
	struct hk_mhdr	*live;
	int		registered;
};

#define HK_MHDR_MAGIC	0x6b6d616cUL
struct hk_mhdr {
	unsigned long	magic;
	struct malloc_type *type;
	size_t		size;
	struct hk_mhdr	*prev, *next;
	unsigned long	pad;	/* keep the user pointer 16-byte aligned */
};

MALLOC_DEFINE(M_DEVFS, "devfs", "devfs");
MALLOC_DEFINE(M_LINKER, "linker", "kernel linker");
MALLOC_DEFINE(M_SYSCTLOID, "sysctloid", "dynamic sysctl oids");
MALLOC_DEFINE(M_KENV, "kenv", "kernel environment");
MALLOC_DEFINE(M_MODULE, "module", "module data");
MALLOC_DEFINE(M_ATEXIT, "atexit", "exit/fork callbacks");
MALLOC_DEFINE(M_TEMP, "temp", "misc temporary data buffers");
MALLOC_DEFINE(M_DEVBUF, "devbuf", "device driver memory");
MALLOC_DEFINE(M_CACHE, "namecache", "cache");

static pthread_mutex_t types_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct malloc_type *types;
static long failable;			/* failable calls since boot */
static long fail_at;			/* fail when failable reaches this */
static char fail_type[64];		/* "" = any type */
static char fail_all[64];		/* fail every failable of this type */
static struct malloc_type *orphans;	/* allocations of unloaded types */

static struct malloc_type *const kernel_types[] = {
	M_DEVFS, M_LINKER, M_SYSCTLOID, M_KENV, M_MODULE, M_ATEXIT, M_TEMP,
	M_DEVBUF, M_CACHE,
};

static struct hk_malloc_priv *
type_priv(struct malloc_type *type)
{
	struct hk_malloc_priv *mp;

	if (type->ks_magic != M_MAGIC)
		panic("kmalloc: bad malloc type %p (magic %#x)", type,
		    type->ks_magic);
	mp = __atomic_load_n(&type->hk_priv, __ATOMIC_ACQUIRE);
	if (mp != NULL)
		return (mp);
	pthread_mutex_lock(&types_mtx);
	if ((mp = type->hk_priv) == NULL) {
		mp = calloc(1, sizeof(*mp));
		pthread_mutex_init(&mp->mtx, NULL);
		__atomic_store_n(&type->hk_priv, mp, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&types_mtx);
	return (mp);
}

void
malloc_init(void *data)
{
	struct malloc_type *type = data;
	struct hk_malloc_priv *mp = type_priv(type);

	pthread_mutex_lock(&types_mtx);
	if (!mp->registered) {
		mp->registered = 1;
		type->ks_next = types;
		types = type;
	}
	pthread_mutex_unlock(&types_mtx);
}

/*
 * kern_slaballoc.c malloc_uninit: a type going away with memory still
 * allocated is a leak ("malloc_uninit: N bytes of 'X' still allocated").
 * The live allocations move to an orphan type so shutdown still counts
 * and frees them.
 */
void
malloc_uninit(void *data)
{
	struct malloc_type *type = data, **tp;
	struct hk_malloc_priv *mp = type_priv(type), *op;
	struct hk_mhdr *h;

	pthread_mutex_lock(&types_mtx);
	for (tp = &types; *tp != NULL; tp = &(*tp)->ks_next) {
		if (*tp == type) {
			*tp = type->ks_next;
			break;
		}
	}
	mp->registered = 0;
	pthread_mutex_unlock(&types_mtx);

	pthread_mutex_lock(&mp->mtx);
	if (mp->count != 0) {
		hk_report("malloc_uninit: %zu bytes of '%s' still allocated "
		    "in %zu allocations", mp->bytes, type->ks_shortdesc,
		    mp->count);
		op = type_priv(orphans);
		pthread_mutex_lock(&op->mtx);
		while ((h = mp->live) != NULL) {
			mp->live = h->next;
			h->type = orphans;
			h->prev = NULL;
			h->next = op->live;
			if (op->live)
				op->live->prev = h;
			op->live = h;
			op->bytes += h->size;
			op->count++;
		}
		pthread_mutex_unlock(&op->mtx);
		mp->bytes = mp->count = 0;
	}
	pthread_mutex_unlock(&mp->mtx);
	type->hk_priv = NULL;
	pthread_mutex_destroy(&mp->mtx);
	free(mp);
}

static struct malloc_type orphan_type[1] = {
	{ NULL, 0, 0, 0, 0, M_MAGIC, "orphaned", NULL }
};

void
hk_malloc_boot(void)
{
	size_t i;

	orphans = orphan_type;
	for (i = 0; i < nitems(kernel_types); i++)
		malloc_init(kernel_types[i]);
	malloc_init(orphans);
	pthread_mutex_lock(&types_mtx);
	failable = 0;
	fail_at = 0;
	fail_type[0] = '\0';
	fail_all[0] = '\0';
	pthread_mutex_unlock(&types_mtx);
}

static void
free_all(struct malloc_type *type, size_t *bytes, size_t *count)
{
	struct hk_malloc_priv *mp = type->hk_priv;
	struct hk_mhdr *h;

	if (mp == NULL)
		return;
	pthread_mutex_lock(&mp->mtx);
	*bytes += mp->bytes;
	*count += mp->count;
	if (mp->count != 0 && type != orphans)
		fprintf(stderr, "hostkern: leak: %zu bytes of '%s' in %zu "
		    "allocations\n", mp->bytes, type->ks_shortdesc, mp->count);
	while ((h = mp->live) != NULL) {
		mp->live = h->next;
		h->magic = 0;
		free(h);
	}
	mp->bytes = mp->count = 0;
	pthread_mutex_unlock(&mp->mtx);
}

void
hk_malloc_shutdown(size_t *bytes, size_t *count)
{
	struct malloc_type *type;

	*bytes = *count = 0;
	pthread_mutex_lock(&types_mtx);
	type = types;
	pthread_mutex_unlock(&types_mtx);
	for (; type != NULL; type = type->ks_next)
		free_all(type, bytes, count);
	if (orphans->hk_priv && orphans->hk_priv->count)
		fprintf(stderr, "hostkern: leak: %zu bytes in %zu allocations "
		    "of unloaded malloc types\n", orphans->hk_priv->bytes,
		    orphans->hk_priv->count);
	/* Module types still registered belong to vetoed modules; keep
	 * only the kernel's own registered for the next boot. */
	pthread_mutex_lock(&types_mtx);
	types = NULL;
	pthread_mutex_unlock(&types_mtx);
	{
		size_t i;
		for (i = 0; i < nitems(kernel_types); i++)
			kernel_types[i]->hk_priv->registered = 0;
		orphans->hk_priv->registered = 0;
	}
}

/* Should this failable allocation fail (injection)? */
static int
inject_failure(struct malloc_type *type)
{
	int fail = 0;

	pthread_mutex_lock(&types_mtx);
	if (fail_all[0] != '\0' && strcmp(fail_all, type->ks_shortdesc) == 0)
		fail = 1;
	if (fail_type[0] == '\0' ||
	    strcmp(fail_type, type->ks_shortdesc) == 0) {
		failable++;
		if (fail_at != 0 && failable == fail_at) {
			fail = 1;
			fail_at = 0;
		}
	}
	pthread_mutex_unlock(&types_mtx);
	return (fail);
}

int
hk_fail_kmalloc_nth(const char *type, int nth)
{
	if (nth < 0)
		return (EINVAL);
	pthread_mutex_lock(&types_mtx);
	strlcpy(fail_type, type ? type : "", sizeof(fail_type));
	fail_at = nth == 0 ? 0 : failable + nth;
	pthread_mutex_unlock(&types_mtx);
	return (0);
}

int
hk_fail_kmalloc_type(const char *type, int on)
{
	if (on && (type == NULL || type[0] == '\0'))
		return (EINVAL);
	pthread_mutex_lock(&types_mtx);
	strlcpy(fail_all, on ? type : "", sizeof(fail_all));
	pthread_mutex_unlock(&types_mtx);
	return (0);
}

long
hk_kmalloc_failable_count(void)
{
	long n;

	pthread_mutex_lock(&types_mtx);
	n = failable;
	pthread_mutex_unlock(&types_mtx);
	return (n);
}

int
hk_kmalloc_stats(const char *name, size_t *bytes, size_t *count)
{
	struct malloc_type *type;
	int error = ENOENT;

	pthread_mutex_lock(&types_mtx);
	for (type = types; type != NULL; type = type->ks_next) {
		if (strcmp(type->ks_shortdesc, name) == 0) {
			struct hk_malloc_priv *mp = type->hk_priv;
			pthread_mutex_lock(&mp->mtx);
			if (bytes)
				*bytes = mp->bytes;
			if (count)
				*count = mp->count;
			pthread_mutex_unlock(&mp->mtx);
			error = 0;
			break;
		}
	}
	pthread_mutex_unlock(&types_mtx);
	return (error);
}

void *
kmalloc(unsigned long size, struct malloc_type *type, int flags)
{
	struct hk_malloc_priv *mp = type_priv(type);
	struct hk_mhdr *h;

	if ((flags & M_RNOWAIT) == 0) {
		struct hk_tls *t = hk_tls();
		if (t->nspin > 0)
			hk_violation("kmalloc(M_WAITOK) of type '%s' while "
			    "holding spinlock \"%s\" (taken in %s)",
			    type->ks_shortdesc,
			    t->spin[t->nspin - 1].spin->hk_descr ?
			    t->spin[t->nspin - 1].spin->hk_descr : "?",
			    t->spin[t->nspin - 1].ident);
	}
	if ((flags & (M_NULLOK | M_RNOWAIT)) && inject_failure(type))
		return (NULL);
	h = malloc(sizeof(*h) + (size ? size : 1));
	if (h == NULL) {
		if (flags & (M_NULLOK | M_RNOWAIT))
			return (NULL);
		panic("kmalloc: out of memory (%lu bytes, type %s)", size,
		    type->ks_shortdesc);
	}
	h->magic = HK_MHDR_MAGIC;
	h->type = type;
	h->size = size;
	if (flags & M_ZERO)
		memset(h + 1, 0, size);
	else
		memset(h + 1, 0xc1, size);	/* uninitialised, visibly */
	pthread_mutex_lock(&mp->mtx);
	h->prev = NULL;
	h->next = mp->live;
	if (mp->live)
		mp->live->prev = h;
	mp->live = h;
	mp->bytes += size;
	mp->count++;
	pthread_mutex_unlock(&mp->mtx);
	return (h + 1);
}

void
kfree(void *addr, struct malloc_type *type)
{
	struct hk_mhdr *h;
	struct hk_malloc_priv *mp;
	size_t i;

	if (addr == NULL)
		panic("kfree: NULL pointer (type %s)", type->ks_shortdesc);
	h = (struct hk_mhdr *)addr - 1;
	if (h->magic != HK_MHDR_MAGIC)
		panic("kfree: %p was not kmalloc'ed (or freed twice), type %s",
		    addr, type->ks_shortdesc);
	if (h->type != type && h->type != orphans)
		panic("kfree: %p allocated as '%s' freed as '%s'", addr,
		    h->type->ks_shortdesc, type->ks_shortdesc);
	mp = type_priv(h->type);
	pthread_mutex_lock(&mp->mtx);
	if (h->prev)
		h->prev->next = h->next;
	else
		mp->live = h->next;
	if (h->next)
		h->next->prev = h->prev;
	mp->bytes -= h->size;
	mp->count--;
	pthread_mutex_unlock(&mp->mtx);
	h->magic = 0;
	for (i = 0; i + sizeof(uint32_t) <= h->size; i += sizeof(uint32_t))
		*(uint32_t *)((char *)addr + i) = 0xdeadc0de;
	free(h);
}

void *
krealloc(void *addr, unsigned long size, struct malloc_type *type, int flags)
{
	struct hk_mhdr *h;
	void *n;

	if (addr == NULL)
		return (kmalloc(size, type, flags));
	h = (struct hk_mhdr *)addr - 1;
	n = kmalloc(size, type, flags & ~M_ZERO);
	if (n == NULL)
		return (NULL);
	memcpy(n, addr, h->size < size ? h->size : size);
	kfree(addr, type);
	return (n);
}

char *
kstrdup(const char *str, struct malloc_type *type)
{
	size_t len = strlen(str) + 1;
	char *s = kmalloc(len, type, M_WAITOK);

	memcpy(s, str, len);
	return (s);
}

char *
kstrndup(const char *str, size_t maxlen, struct malloc_type *type)
{
	size_t len = strnlen(str, maxlen);
	char *s = kmalloc(len + 1, type, M_WAITOK);

	memcpy(s, str, len);
	s[len] = '\0';
	return (s);
}
