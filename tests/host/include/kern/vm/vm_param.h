/*
 * vm/vm_param.h (host shadow): the KERN_* results vm_map functions return
 * (DragonFly sys/vm/vm_param.h), and the VM types.
 */
#ifndef _HK_VM_VM_PARAM_H_
#define _HK_VM_VM_PARAM_H_
#include <vm/vm.h>
#define KERN_SUCCESS		0
#define KERN_INVALID_ADDRESS	1
#define KERN_PROTECTION_FAILURE	2
#define KERN_NO_SPACE		3
#define KERN_INVALID_ARGUMENT	4
#define KERN_FAILURE		5
#endif
