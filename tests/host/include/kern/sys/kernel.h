/*
 * sys/kernel.h (host shadow): SYSINIT/SYSUNINIT with DragonFly's subsystem
 * order, loader tunables (TUNABLE_INT/STR/... fetched at SI_BOOT1_TUNABLES
 * from the host kernel's kenv, hk_setenv), hz and ticks.
 */
#ifndef _HK_SYS_KERNEL_H_
#define _HK_SYS_KERNEL_H_
#include <sys/param.h>
#include <sys/linker_set.h>

extern int hz;
extern int ticks;
extern volatile time_t time_uptime;
extern volatile time_t time_second;

enum sysinit_sub_id {
	SI_SPECIAL_DUMMY	= 0x0000000,
	SI_SPECIAL_DONE		= 0x0000001,
	SI_BOOT1_TUNABLES	= 0x0700000,
	SI_BOOT1_COPYRIGHT	= 0x0800000,
	SI_BOOT1_LOCK		= 0x0900000,
	SI_BOOT1_VM		= 0x1000000,
	SI_BOOT1_ALLOCATOR	= 0x1400000,
	SI_BOOT1_KMALLOC	= 0x1600000,
	SI_BOOT1_DYNALLOC	= 0x1700000,
	SI_BOOT1_POST		= 0x1800000,
	SI_BOOT2_KLD		= 0x1e00000,
	SI_BOOT2_PROC0		= 0x1f00000,
	SI_SUB_CREATE_INIT	= 0x2300000,
	SI_SUB_PROP		= 0x2340000,
	SI_SUB_DEVFS_CORE	= 0x2380000,
	SI_SUB_PRE_DRIVERS	= 0x23C0000,
	SI_SUB_DRIVERS		= 0x2400000,
	SI_SUB_CONFIGURE	= 0x3800000,
	SI_SUB_ISWARM		= 0x3c00000,
	SI_SUB_VFS		= 0x4000000,
	SI_SUB_HELPER_THREADS	= 0x5400000,
	SI_SUB_PSEUDO		= 0x7000000,
	SI_SUB_EXEC		= 0x7400000,
	SI_SUB_PROTO_IF		= 0x8400000,
	SI_SUB_PROTO_DOMAIN	= 0x8800000,
	SI_SUB_KICK_SCHEDULER	= 0xa000000,
	SI_SUB_INT_CONFIG_HOOKS	= 0xa800000,
	SI_SUB_ROOT_CONF	= 0xb000000,
	SI_SUB_MOUNT_ROOT	= 0xb400000,
	SI_SUB_PROC0_POST	= 0xd000000,
	SI_SUB_KTHREAD_INIT	= 0xe000000,
	SI_SUB_RUN_SCHEDULER	= 0xfffffff
};
enum sysinit_elem_order {
	SI_ORDER_FIRST		= 0x0000000,
	SI_ORDER_SECOND		= 0x0000001,
	SI_ORDER_THIRD		= 0x0000002,
	SI_ORDER_FOURTH		= 0x0000003,
	SI_ORDER_EARLIER	= 0x0800000,
	SI_ORDER_MIDDLE		= 0x1000000,
	SI_ORDER_LATER		= 0x2000000,
	SI_ORDER_ANY		= 0xfffffff
};

typedef void (*sysinit_nfunc_t)(void *);
typedef void (*sysinit_cfunc_t)(const void *);
struct sysinit {
	unsigned int	subsystem;
	unsigned int	order;
	sysinit_cfunc_t	func;
	const void	*udata;
	const char	*name;
};

#define	C_SYSINIT(uniquifier, subsystem, order, func, ident)	\
	static struct sysinit uniquifier ## _sys_init = {	\
		subsystem, order, func, ident, #uniquifier	\
	};							\
	DATA_SET(sysinit_set, uniquifier ## _sys_init)
#define	SYSINIT(uniquifier, subsystem, order, func, ident)	\
	C_SYSINIT(uniquifier, subsystem, order,			\
	(sysinit_cfunc_t)(sysinit_nfunc_t)func, (void *)ident)
#define	C_SYSUNINIT(uniquifier, subsystem, order, func, ident)	\
	static struct sysinit uniquifier ## _sys_uninit = {	\
		subsystem, order, func, ident, #uniquifier	\
	};							\
	DATA_SET(sysuninit_set, uniquifier ## _sys_uninit)
#define	SYSUNINIT(uniquifier, subsystem, order, func, ident)	\
	C_SYSUNINIT(uniquifier, subsystem, order,		\
	(sysinit_cfunc_t)(sysinit_nfunc_t)func, (void *)ident)

/* Tunables (kern/kern_environment.c). */
struct tunable_int { const char *path; int *var; };
struct tunable_long { const char *path; long *var; };
struct tunable_ulong { const char *path; unsigned long *var; };
struct tunable_quad { const char *path; int64_t *var; };
struct tunable_str { const char *path; char *var; int size; };
void	tunable_int_init(void *);
void	tunable_long_init(void *);
void	tunable_ulong_init(void *);
void	tunable_quad_init(void *);
void	tunable_str_init(void *);

#define	TUNABLE_INT(path, var)	_TUNABLE_INT((path), (var), __LINE__)
#define _TUNABLE_INT(path, var, line)	__TUNABLE_INT((path), (var), line)
#define	__TUNABLE_INT(path, var, line)					\
	static struct tunable_int __tunable_int_ ## line = {		\
		path, var };						\
	SYSINIT(__Tunable_init_ ## line, SI_BOOT1_TUNABLES,		\
	    SI_ORDER_MIDDLE, tunable_int_init, &__tunable_int_ ## line)
#define	TUNABLE_LONG(path, var)	_TUNABLE_LONG((path), (var), __LINE__)
#define _TUNABLE_LONG(path, var, line)	__TUNABLE_LONG((path), (var), line)
#define	__TUNABLE_LONG(path, var, line)					\
	static struct tunable_long __tunable_long_ ## line = {		\
		path, var };						\
	SYSINIT(__Tunable_init_ ## line, SI_BOOT1_TUNABLES,		\
	    SI_ORDER_MIDDLE, tunable_long_init, &__tunable_long_ ## line)
#define	TUNABLE_ULONG(path, var) _TUNABLE_ULONG((path), (var), __LINE__)
#define _TUNABLE_ULONG(path, var, line)	__TUNABLE_ULONG((path), (var), line)
#define	__TUNABLE_ULONG(path, var, line)				\
	static struct tunable_ulong __tunable_ulong_ ## line = {	\
		path, var };						\
	SYSINIT(__Tunable_init_ ## line, SI_BOOT1_TUNABLES,		\
	    SI_ORDER_MIDDLE, tunable_ulong_init, &__tunable_ulong_ ## line)
#define	TUNABLE_QUAD(path, var)	_TUNABLE_QUAD((path), (var), __LINE__)
#define _TUNABLE_QUAD(path, var, line)	__TUNABLE_QUAD((path), (var), line)
#define	__TUNABLE_QUAD(path, var, line)					\
	static struct tunable_quad __tunable_quad_ ## line = {		\
		path, var };						\
	SYSINIT(__Tunable_init_ ## line, SI_BOOT1_TUNABLES,		\
	    SI_ORDER_MIDDLE, tunable_quad_init, &__tunable_quad_ ## line)
#define	TUNABLE_STR(path, var, size)	_TUNABLE_STR((path), (var), (size), __LINE__)
#define _TUNABLE_STR(path, var, size, line) __TUNABLE_STR((path), (var), (size), line)
#define	__TUNABLE_STR(path, var, size, line)				\
	static struct tunable_str __tunable_str_ ## line = {		\
		path, var, size };					\
	SYSINIT(__Tunable_init_ ## line, SI_BOOT1_TUNABLES,		\
	    SI_ORDER_MIDDLE, tunable_str_init, &__tunable_str_ ## line)

#define	TUNABLE_INT_FETCH(path, var)	kgetenv_int((path), (var))
#define	TUNABLE_LONG_FETCH(path, var)	kgetenv_long((path), (var))
#define	TUNABLE_ULONG_FETCH(path, var)	kgetenv_ulong((path), (var))
#define	TUNABLE_QUAD_FETCH(path, var)	kgetenv_quad((path), (var))
#define	TUNABLE_STR_FETCH(path, var, size) kgetenv_string((path), (var), (size))

int	kgetenv_int(const char *name, int *data);
int	kgetenv_long(const char *name, long *data);
int	kgetenv_ulong(const char *name, unsigned long *data);
int	kgetenv_quad(const char *name, int64_t *data);
int	kgetenv_string(const char *name, char *data, int size);
#endif
