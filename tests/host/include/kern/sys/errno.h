/*
 * sys/errno.h (host shadow): the host libc's errno values under their
 * DragonFly names (numbers are Linux's; that is fine for the host), plus
 * DragonFly's kernel-internal pseudo errors.
 */
#ifndef _HK_SYS_ERRNO_H_
#define _HK_SYS_ERRNO_H_
#include_next <errno.h>
/* DragonFly's: syscall2 backs the thread up to run the syscall again. */
#undef ERESTART
#define ERESTART	(-1)
#ifndef EJUSTRETURN
#define EJUSTRETURN	(-2)
#endif
#ifndef ENOIOCTL
#define ENOIOCTL	(-3)
#endif
#ifndef EOPNOTSUPP
#define EOPNOTSUPP	ENOTSUP
#endif
#ifndef EFTYPE
#define EFTYPE		EINVAL
#endif
#endif
