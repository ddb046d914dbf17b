/*
 * sys/types.h (host shadow): glibc's types plus DragonFly's kernel types.
 */
#ifndef _HK_SYS_TYPES_H_
#define _HK_SYS_TYPES_H_
#include <sys/cdefs.h>
#include_next <sys/types.h>
#include <stdint.h>

#ifndef _HK_KERN_TYPES_DEFINED
#define _HK_KERN_TYPES_DEFINED
struct cdev;
typedef struct cdev		*cdev_t;
typedef unsigned long		vm_offset_t;
typedef long			vm_ooffset_t;
typedef unsigned long		vm_size_t;
typedef unsigned long		vm_pindex_t;
typedef unsigned long		vm_paddr_t;
typedef unsigned char		vm_prot_t;
typedef int			boolean_t;
typedef uint32_t		udev_t;
typedef long			register_t;
typedef unsigned long		u_register_t;
typedef int			lwpid_t;
typedef int64_t			sysclock_t;
typedef struct globaldata	*globaldata_t;
typedef struct thread		*thread_t;
typedef uint64_t		__uint64_t_hk;
#endif
#endif /* _HK_SYS_TYPES_H_ */
