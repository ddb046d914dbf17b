/*
 * vm/vm_map.h (host shadow): vm_map, vmspace and the calls kqemu's monitor
 * glue uses (DragonFly sys/vm/vm_map.h).  Modelled in
 * tests/host/kern/vm_model.c; a process's vmspace is its registered user
 * ranges (hk_proc_map_user).
 */
#ifndef _HK_VM_VM_MAP_H_
#define _HK_VM_VM_MAP_H_
#include <vm/vm.h>
#include <vm/vm_param.h>
struct hk_proc;
struct vm_map {
	struct vmspace	*hk_vmspace;
};
typedef struct vm_map *vm_map_t;
struct hk_wired;
struct vmspace {
	struct vm_map	vm_map;
	int		vm_refcnt;	/* host: atomic */
	struct hk_proc	*hk_proc;	/* NULL once its process exited */
	struct hk_wired	*hk_wired;	/* wired pages (model lock) */
};
typedef enum {
	VM_SUBSYS_UNKNOWN,
	VM_SUBSYS_KMALLOC,
	VM_SUBSYS_LIMIT
} vm_subsys_t;
void	vmspace_ref(struct vmspace *vm);
void	vmspace_rel(struct vmspace *vm);
int	vm_map_wire(vm_map_t map, vm_offset_t start, vm_offset_t end, int kmflags);
#endif
