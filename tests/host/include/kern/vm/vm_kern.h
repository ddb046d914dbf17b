/*
 * vm/vm_kern.h (host shadow): kernel_map and kmem_alloc/kmem_free
 * (DragonFly sys/vm/vm_kern.h, vm_extern.h).  Modelled in
 * tests/host/kern/vm_model.c.
 */
#ifndef _HK_VM_VM_KERN_H_
#define _HK_VM_VM_KERN_H_
#include <vm/vm_map.h>
#define KM_PAGEABLE	0x00000001
extern struct vm_map kernel_map;
/* Wired, zeroed, page-granular kernel memory; 0 when none is left. */
vm_offset_t	kmem_alloc3(struct vm_map *map, vm_size_t size, vm_subsys_t id,
		    int kmflags);
void		kmem_free(struct vm_map *map, vm_offset_t addr, vm_size_t size);
static __inline vm_offset_t
kmem_alloc(struct vm_map *map, vm_size_t size, vm_subsys_t id)
{
	return (kmem_alloc3(map, size, id, 0));
}
#endif
