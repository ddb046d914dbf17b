/*
 * sys/param.h (host shadow): glibc's param.h plus DragonFly's constants.
 *
 * __DragonFly_version is a constant on a real kernel; on the host it is a
 * variable that follows the kernel profile chosen at hk_boot, so one build
 * runs under every profile (MODERN 500800, NOCDEVPRIV 300700,
 * DEVFS24 200400, LEGACY 100800).
 */
#ifndef _HK_SYS_PARAM_H_
#define _HK_SYS_PARAM_H_
#include <sys/types.h>
#include_next <sys/param.h>
/* glibc's param.h pulls in <signal.h>, whose siginfo field macros would
 * rename struct cdev's si_uid. */
#undef si_uid

extern int hk_osreldate;
#define __DragonFly_version	hk_osreldate

#ifndef PAGE_SHIFT
#define PAGE_SHIFT	12
#endif
#ifndef PAGE_SIZE
#define PAGE_SIZE	(1 << PAGE_SHIFT)
#endif
#ifndef PAGE_MASK
#define PAGE_MASK	(PAGE_SIZE - 1)
#endif
#define trunc_page(x)	((unsigned long)(x) & ~(unsigned long)PAGE_MASK)
#define round_page(x)	(((unsigned long)(x) + PAGE_MASK) & ~(unsigned long)PAGE_MASK)
#define atop(x)		((unsigned long)(x) >> PAGE_SHIFT)
#define ptoa(x)		((unsigned long)(x) << PAGE_SHIFT)
#ifndef SPECNAMELEN
#define SPECNAMELEN	63
#endif
#ifndef MAXCOMLEN
#define MAXCOMLEN	16
#endif
#ifndef MAXPHYS
#define MAXPHYS		(128 * 1024)
#endif
#ifndef nitems
#define nitems(x)	(sizeof((x)) / sizeof((x)[0]))
#endif
#ifndef rounddown
#define rounddown(x, y)	(((x) / (y)) * (y))
#endif
#ifndef NOCPU
#define NOCPU		(-1)
#endif
#endif /* _HK_SYS_PARAM_H_ */
