/*
 * kqemu-kernel.h (test stand-in) - the API between a host glue and kqemu
 * 1.4's monitor, declared in our own words from docs/design.md §9, so
 * that kmod/kqemu/kqemu_mon*.c compile on the host kernel without the GPL
 * tree.  The real header comes from KQEMU_SRC; this one must declare the
 * same functions with the same types (the glue is built against both).
 * The monitor behind it in the host tests is tests/kqemu/monstub.c.
 *
 * Locking: none (declarations only).
 */
#ifndef KQEMU_KERNEL_H
#define KQEMU_KERNEL_H

#include "kqemu.h"	/* ours: the same kqemu 1.4 structures */

/* regparm(0) in the real header; meaningless on x86_64. */
#define CDECL

struct kqemu_state;		/* one VM of the monitor */
struct kqemu_global_state;	/* the monitor's module-wide state */

/* The monitor's entry points. */
struct kqemu_global_state *CDECL kqemu_global_init(int max_locked_pages);
void CDECL kqemu_global_delete(struct kqemu_global_state *g);
struct kqemu_state *CDECL kqemu_init(struct kqemu_init *d,
    struct kqemu_global_state *g);
struct kqemu_cpu_state *CDECL kqemu_get_cpu_state(struct kqemu_state *s);
long CDECL kqemu_exec(struct kqemu_state *s);
int CDECL kqemu_set_phys_mem(struct kqemu_state *s,
    const struct kqemu_phys_mem *kphys_mem);
void CDECL kqemu_delete(struct kqemu_state *s);

/* The twelve host services the glue provides. */
struct kqemu_page;		/* the glue's handle of a kernel page */
struct kqemu_user_page;		/* ... of a locked user page */

struct kqemu_user_page *CDECL kqemu_lock_user_page(unsigned long *ppage_index,
    unsigned long user_addr);
void CDECL kqemu_unlock_user_page(struct kqemu_user_page *page);
struct kqemu_page *CDECL kqemu_alloc_zeroed_page(unsigned long *ppage_index);
void CDECL kqemu_free_page(struct kqemu_page *page);
void *CDECL kqemu_page_kaddr(struct kqemu_page *page);
void *CDECL kqemu_vmalloc(unsigned int size);
void CDECL kqemu_vfree(void *ptr);
unsigned long CDECL kqemu_vmalloc_to_phys(const void *vaddr);
void *CDECL kqemu_io_map(unsigned long page_index, unsigned int size);
void CDECL kqemu_io_unmap(void *ptr, unsigned int size);
int CDECL kqemu_schedule(void);
void CDECL kqemu_log(const char *fmt, ...);

#endif /* KQEMU_KERNEL_H */
