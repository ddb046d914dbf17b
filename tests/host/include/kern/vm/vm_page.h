/*
 * vm/vm_page.h (host shadow): the vm_page calls kqemu's monitor glue uses
 * (DragonFly sys/vm/vm_page.h).  Modelled in tests/host/kern/vm_model.c:
 * a page of a process's user memory, its "physical address" being the
 * host address of that page.
 */
#ifndef _HK_VM_VM_PAGE_H_
#define _HK_VM_VM_PAGE_H_
#include <vm/vm.h>
struct vm_page {
	vm_paddr_t	phys_addr;
	int		hold_count;	/* host: guarded by the model's lock */
	int		dirty;
	struct vm_page	*hk_next;
};
#define VM_PAGE_TO_PHYS(m)	((m)->phys_addr)
void	vm_page_hold(vm_page_t m);
void	vm_page_unhold(vm_page_t m);
void	vm_page_dirty(vm_page_t m);
#endif
