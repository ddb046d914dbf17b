/*
 * vm/vm_extern.h (host shadow): vm_fault_page_quick (DragonFly
 * sys/vm/vm_extern.h, vm/vm_fault.c), modelled in
 * tests/host/kern/vm_model.c.
 */
#ifndef _HK_VM_VM_EXTERN_H_
#define _HK_VM_VM_EXTERN_H_
#include <vm/vm.h>
/* Fault in the current process's page at va and return it held (NULL and
 * *errorp = EFAULT when va is not user memory allowing fault_type). */
vm_page_t vm_fault_page_quick(vm_offset_t va, vm_prot_t fault_type,
	    int *errorp, int *busyp);
/* A fault at va of map (vm/vm_fault.c; fault_flags: VM_FAULT_NORMAL). */
struct vm_map;
int	vm_fault(struct vm_map *map, vm_offset_t va, vm_prot_t fault_type,
	    int fault_flags);

#endif
