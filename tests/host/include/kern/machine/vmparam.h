/* machine/vmparam.h (host shadow): the top of user space on x86_64. */
#ifndef _HK_MACHINE_VMPARAM_H_
#define _HK_MACHINE_VMPARAM_H_
#define VM_MAX_USER_ADDRESS	0x0000800000000000UL
#endif
