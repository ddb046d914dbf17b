/*
 * sys/cdefs.h (host shadow): glibc's cdefs plus the BSD/DragonFly macros
 * kernel sources use.  Owns no state.
 */
#ifndef _HK_SYS_CDEFS_H_
#define _HK_SYS_CDEFS_H_
#include_next <sys/cdefs.h>

#ifndef __printflike
#define __printflike(fmtarg, firstvararg) \
	__attribute__((__format__(__printf__, fmtarg, firstvararg)))
#endif
#ifndef __predict_true
#define __predict_true(exp)	__builtin_expect(!!(exp), 1)
#define __predict_false(exp)	__builtin_expect(!!(exp), 0)
#endif
#ifndef __unused
#define __unused		__attribute__((__unused__))
#endif
#ifndef __used
#define __used			__attribute__((__used__))
#endif
#ifndef __dead2
#define __dead2			__attribute__((__noreturn__))
#endif
#ifndef __aligned
#define __aligned(x)		__attribute__((__aligned__(x)))
#endif
#ifndef __packed
#define __packed		__attribute__((__packed__))
#endif
#ifndef __cachealign
#define __cachealign		__attribute__((__aligned__(64)))
#endif
#ifndef __offsetof
#define __offsetof(type, field)	__builtin_offsetof(type, field)
#endif
#ifndef __DECONST
#define __DECONST(type, var)	((type)(unsigned long)(const void *)(var))
#endif
#ifndef __DEVOLATILE
#define __DEVOLATILE(type, var)	((type)(unsigned long)(volatile void *)(var))
#endif
#ifndef __containerof
#define __containerof(x, s, m)	((s *)((char *)(x) - __offsetof(s, m)))
#endif
#ifndef __heedresult
#define __heedresult		__attribute__((__warn_unused_result__))
#endif
#ifndef __malloclike
#define __malloclike		__attribute__((__malloc__))
#endif
#ifndef __alloc_size
#define __alloc_size(x)		__attribute__((__alloc_size__(x)))
#endif
#ifndef __section
#define __section(x)		__attribute__((__section__(x)))
#endif
#ifndef __STRING
#define __STRING(x)		#x
#endif
#ifndef __XSTRING
#define __XSTRING(x)		__STRING(x)
#endif
#ifndef __CONCAT
#define __CONCAT1(x, y)		x ## y
#define __CONCAT(x, y)		__CONCAT1(x, y)
#endif
#endif /* _HK_SYS_CDEFS_H_ */
