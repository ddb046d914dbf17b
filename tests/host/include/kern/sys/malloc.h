/*
 * sys/malloc.h (host shadow): kmalloc/kfree with DragonFly's flags and
 * MALLOC_DEFINE (a SYSINIT/SYSUNINIT pair, as in sys/malloc.h, so a module's
 * types register at load and report leaks at unload).
 */
#ifndef _HK_SYS_MALLOC_H_
#define _HK_SYS_MALLOC_H_
#include <sys/types.h>
#include <sys/kernel.h>

#define	M_RNOWAIT	0x0001
#define	M_WAITOK	0x0002
#define	M_ZERO		0x0100
#define	M_USE_RESERVE	0x0200
#define	M_NULLOK	0x0400
#define	M_PASSIVE_ZERO	0x0800
#define	M_USE_INTERRUPT_RESERVE 0x1000
#define	M_POWEROF2	0x2000
#define	M_CACHEALIGN	0x4000
#define	M_INTNOWAIT	(M_RNOWAIT | M_NULLOK | M_USE_RESERVE | M_USE_INTERRUPT_RESERVE)
#define	M_SYSNOWAIT	(M_RNOWAIT | M_NULLOK | M_USE_RESERVE)
#define	M_INTWAIT	(M_WAITOK | M_USE_RESERVE | M_USE_INTERRUPT_RESERVE)
#define	M_SYSWAIT	(M_WAITOK | M_USE_RESERVE)
#define	M_NOWAIT	(M_RNOWAIT | M_NULLOK | M_USE_RESERVE)
#define	M_SYSALLOC	M_SYSWAIT
#define	M_MAGIC		877983977

struct hk_malloc_priv;
struct malloc_type {
	struct malloc_type *ks_next;
	size_t		ks_loosememuse;
	size_t		ks_limit;
	uint64_t	ks_mtflags;
	uint32_t	ks_unused1;
	uint32_t	ks_magic;
	const char	*ks_shortdesc;
	struct hk_malloc_priv *hk_priv;	/* host: live list, counters */
};

void	malloc_init(void *type);
void	malloc_uninit(void *type);

#define	MALLOC_DEFINE(type, shortdesc, longdesc)			\
	struct malloc_type type[1] = {					\
	    { NULL, 0, 0, 0, 0, M_MAGIC, shortdesc, NULL }		\
	};								\
	SYSINIT(type##_init, SI_BOOT1_KMALLOC, SI_ORDER_ANY,		\
	    malloc_init, type);						\
	SYSUNINIT(type##_uninit, SI_BOOT1_KMALLOC, SI_ORDER_ANY,	\
	    malloc_uninit, type)
#define	MALLOC_DECLARE(type)	extern struct malloc_type type[1]

MALLOC_DECLARE(M_CACHE);
MALLOC_DECLARE(M_DEVBUF);
MALLOC_DECLARE(M_TEMP);

void	*kmalloc(unsigned long size, struct malloc_type *type, int flags)
	    __malloclike __heedresult __alloc_size(1);
void	*krealloc(void *addr, unsigned long size, struct malloc_type *type,
	    int flags) __heedresult __alloc_size(2);
void	kfree(void *addr, struct malloc_type *type);
char	*kstrdup(const char *str, struct malloc_type *type) __malloclike;
char	*kstrndup(const char *str, size_t maxlen, struct malloc_type *type)
	    __malloclike;
#endif
