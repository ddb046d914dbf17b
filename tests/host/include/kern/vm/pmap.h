/*
 * vm/pmap.h (host shadow): the kernel pmap calls kqemu's monitor glue uses
 * (DragonFly sys/vm/pmap.h and platform/pc64/include/pmap.h).  Modelled in
 * tests/host/kern/vm_model.c.
 */
#ifndef _HK_VM_PMAP_H_
#define _HK_VM_PMAP_H_
#include <vm/vm.h>
/* platform/pc64/x86_64/pmap.c: the physical address behind a kernel
 * virtual address (host: kmem_alloc memory only; 0 elsewhere). */
vm_paddr_t	pmap_kextract(vm_offset_t va);
/* Device memory mapped uncached (host: a zeroed stand-in page). */
void		*pmap_mapdev_uncacheable(vm_paddr_t pa, vm_size_t size);
void		pmap_unmapdev(vm_offset_t va, vm_size_t size);
#endif
