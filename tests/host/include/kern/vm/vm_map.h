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
/* vm/vm_inherit.h */
typedef char vm_inherit_t;
#define VM_INHERIT_SHARE	((vm_inherit_t) 0)
#define VM_INHERIT_COPY		((vm_inherit_t) 1)
#define VM_INHERIT_NONE		((vm_inherit_t) 2)
/* An entry as vm_map_lookup_entry returns it (host: only inheritance,
 * from the user range holding the address; valid until the map lock is
 * dropped). */
struct vm_map_entry {
	vm_offset_t	start;
	vm_offset_t	end;
	vm_inherit_t	inheritance;
};
typedef struct vm_map_entry *vm_map_entry_t;
typedef enum {
	VM_SUBSYS_UNKNOWN,
	VM_SUBSYS_KMALLOC,
	VM_SUBSYS_LIMIT
} vm_subsys_t;
void	vmspace_ref(struct vmspace *vm);
void	vmspace_rel(struct vmspace *vm);
/* vm_fault's fault_flags (vm/vm_map.h). */
#define VM_FAULT_NORMAL		0x00

int	vm_map_wire(vm_map_t map, vm_offset_t start, vm_offset_t end, int kmflags);
/* The map lock (lockmgr on DragonFly; the host checks it is held). */
void	hk_vm_map_lock_read(vm_map_t map);
void	hk_vm_map_unlock_read(vm_map_t map);
#define vm_map_lock_read(map)	hk_vm_map_lock_read(map)
#define vm_map_unlock_read(map)	hk_vm_map_unlock_read(map)
int	vm_map_lookup_entry(vm_map_t map, vm_offset_t va, vm_map_entry_t *entryp);
#endif
