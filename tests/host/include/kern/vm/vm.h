/* vm/vm.h (host shadow): the VM types dev_mmap* args name. */
#ifndef _HK_VM_VM_H_
#define _HK_VM_VM_H_
#include <sys/types.h>
struct vm_object;
struct vm_page;
typedef struct vm_object *vm_object_t;
typedef struct vm_page *vm_page_t;
#define VM_PROT_NONE	((vm_prot_t) 0x00)
#define VM_PROT_READ	((vm_prot_t) 0x01)
#define VM_PROT_WRITE	((vm_prot_t) 0x02)
#define VM_PROT_EXECUTE	((vm_prot_t) 0x04)
#define VM_PROT_ALL	(VM_PROT_READ|VM_PROT_WRITE|VM_PROT_EXECUTE)
#endif
