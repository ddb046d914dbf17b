/*
 * kqemu_mon_mem.c - the memory services kqemu 1.4's monitor asks of its
 * host (kqemu-kernel.h), on DragonFly: user pages locked for the monitor,
 * zeroed kernel pages, page-granular kernel allocations (vmalloc) and the
 * uncached mapping of device memory (io_map).  Built only when KQEMU_SRC
 * names the monitor's source; this file itself is ours, BSD.
 *
 * Owns: a record for every user page, kernel page and vmalloc allocation
 * the monitor holds, each naming the VM it was taken for (the VM the
 * calling thread works for, kqmon_current_vm(): NULL outside any VM call),
 * whose counters it keeps up to date.
 *
 * The services, each checked against DragonFly 5.8.1's vm code:
 *  - lock_user_page: the page is held (vm_fault_page_quick with
 *    READ|WRITE, which also breaks copy-on-write) and a reference on the
 *    vmspace is kept.  If its map entry would be copied at fork() (not
 *    VM_INHERIT_SHARE: private memory; QEMU allocates its page arrays
 *    privately), the page is also wired in the caller's map (vm_map_wire,
 *    as FreeBSD's kqemu glue does): vm_map_copy_entry() copies a wired
 *    entry into the child instead of marking both sides copy-on-write, so
 *    the parent's pages never part from those the monitor maps.  Shared
 *    entries (MAP_SHARED, as QEMU maps guest RAM) are never copied at
 *    fork and are only held: nothing needs them wired (the wired-page
 *    warnings seen when they were wired came from the PTE loss below,
 *    not from the pmap's shared page tables).  Held, because munmap() of a wired range
 *    unwires it: the hold keeps the page from being freed while the
 *    monitor still maps it.  Unlock marks the page dirty (the monitor
 *    wrote it through its own page tables, which the pmap's modified bits
 *    never see), drops the hold, unwires the range if it wired it, in the
 *    vmspace that wired it, and drops the vmspace reference.
 *
 *    The wired page's page-table entry.  5.8.1 unwires a map entry's pages
 *    only through the pmap: vm_fault_unwire() asks pmap_unwire() for the
 *    page mapped at each address and unwires what it finds, so a wired
 *    page with no PTE stays wired for good -- through munmap, exit and
 *    vm_object_terminate(), which warns "Encountered wired page" and drops
 *    it from its object still wired (counted in v_wire_count forever).
 *    And 5.8.1's vm_fault_page() -- behind vm_fault_page_quick when the
 *    quick pmap lookup fails -- ends with a pmap_remove() of the address
 *    whenever it succeeds (its "did COW" test ORs the flag in instead of
 *    testing it), wired or not.  So the hold taken after vm_map_wire took
 *    the PTE the wiring had just entered: every page the process did not
 *    touch again before the unlock (the page arrays, the guest's
 *    descriptor and page tables, its code; all of them if it never looks
 *    at guest RAM again) leaked one wiring per lock, 8 to 137 pages per
 *    guest of the accel suite's client.  Hence kqmon_map_wired(): a
 *    plain fault at the address (vm_fault, VM_FAULT_NORMAL) after the
 *    hold and again before the unwire puts the PTE back -- a fault on a
 *    wired entry enters a wired PTE for the entry's page, the one held --
 *    so pmap_unwire finds the page, whoever took the PTE meanwhile.
 *
 *    A process that ends with a live instance: exit1() closes its files
 *    (fdfree) before it releases its vmspace (vmspace_relexit), and each
 *    locked page holds a vmspace reference besides, so the map and its
 *    wired entries are still there when the last close unlocks -- also
 *    when that close is a forked child's, after the process itself is
 *    gone.  The unwire runs in that map from whichever thread closes.
 *  - alloc_zeroed_page / vmalloc: kmem_alloc(&kernel_map): wired, zeroed,
 *    mapped VM_PROT_ALL (the monitor's switch code runs from its state);
 *    physical page numbers from pmap_kextract; kmem_free with the size
 *    remembered here.
 *  - io_map: pmap_mapdev_uncacheable (the monitor maps only the local APIC;
 *    plain pmap_mapdev is write-back on 5.8) / pmap_unmapdev.
 *
 * Locking: kqmon_mem_spin (a spinlock) guards the list of vmalloc records
 * and nothing else; nothing sleeps under it.  User and kernel page records
 * belong to the monitor between lock/alloc and unlock/free and need no
 * lock.  A VM's counters are atomic words.  The services that take
 * memory may sleep (M_WAITOK, kmem_alloc, vm_map_wire, vm_fault), and so
 * may unlock (vm_fault, vm_map_wire).
 * Design: docs/design.md §9 (and §10 for the DragonFly facts used here).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/ioccom.h>
#include <sys/malloc.h>
#include <sys/proc.h>
#include <sys/queue.h>
#include <sys/spinlock.h>
#include <sys/spinlock2.h>
#include <sys/thread.h>

#include <vm/vm.h>
#include <vm/vm_param.h>
#include <vm/vm_extern.h>
#include <vm/vm_kern.h>
#include <vm/vm_map.h>
#include <vm/vm_page.h>
#include <vm/pmap.h>

#include <machine/vmparam.h>

#include "kqemu_mon_priv.h"

/* A user page the monitor locked. */
struct kqmon_upage {
	vm_page_t		m;
	struct vmspace		*vmspace;	/* referenced; where it is wired */
	vm_offset_t		va;
	int			wired;		/* we wired it in vmspace */
	struct kqemu_mon_vm	*vm;		/* NULL: outside any VM call */
};

/* A zeroed kernel page. */
struct kqmon_kpage {
	vm_offset_t		va;
	struct kqemu_mon_vm	*vm;
};

/* A kqemu_vmalloc allocation (its size, for kmem_free). */
struct kqmon_valloc {
	TAILQ_ENTRY(kqmon_valloc) link;
	vm_offset_t		va;
	vm_size_t		size;
	struct kqemu_mon_vm	*vm;
};

static struct spinlock kqmon_mem_spin =
    SPINLOCK_INITIALIZER(kqmon_mem_spin, "kqmonmem");
static TAILQ_HEAD(, kqmon_valloc) kqmon_vallocs =
    TAILQ_HEAD_INITIALIZER(kqmon_vallocs);

/* --- the memory services (kqemu-kernel.h) ------------------------------ */

/* Would fork() copy (rather than share) the map entry holding va? */
static int
kqmon_copied_on_fork(vm_map_t map, vm_offset_t va)
{
	vm_map_entry_t entry;
	int copied = 1;

	vm_map_lock_read(map);
	if (vm_map_lookup_entry(map, va, &entry))
		copied = entry->inheritance != VM_INHERIT_SHARE;
	vm_map_unlock_read(map);
	return (copied);
}

/*
 * Puts back the page-table entry of the wired page at va if something took
 * it out (see the top of this file): a fault on a wired entry enters a
 * wired PTE for the entry's page.  Nothing when no entry maps va any more
 * (munmap already unwired it) or when the calling thread has no lwp (the
 * fault path expects one).
 */
static void
kqmon_map_wired(vm_map_t map, vm_offset_t va)
{
	vm_map_entry_t entry;
	int mapped;

	if (curthread->td_lwp == NULL)
		return;
	vm_map_lock_read(map);
	mapped = vm_map_lookup_entry(map, va, &entry);
	vm_map_unlock_read(map);
	if (mapped)
		(void)vm_fault(map, va, VM_PROT_READ, VM_FAULT_NORMAL);
}

struct kqemu_user_page *
kqemu_lock_user_page(unsigned long *ppage_index, unsigned long user_addr)
{
	struct kqemu_mon_vm *vm = kqmon_current_vm();
	struct lwp *lp = curthread->td_lwp;
	struct kqmon_upage *up;
	struct vmspace *vms;
	vm_offset_t va = trunc_page((vm_offset_t)user_addr);
	vm_page_t m;
	int error;

	if (lp == NULL || va >= VM_MAX_USER_ADDRESS)
		goto fail;
	up = kmalloc(sizeof(*up), M_KQEMUMON, M_WAITOK | M_NULLOK | M_ZERO);
	if (up == NULL)
		goto fail;
	vms = lp->lwp_vmspace;
	up->wired = kqmon_copied_on_fork(&vms->vm_map, va);
	if (up->wired &&
	    vm_map_wire(&vms->vm_map, va, va + PAGE_SIZE, 0) != KERN_SUCCESS) {
		kfree(up, M_KQEMUMON);
		goto fail;
	}
	m = vm_fault_page_quick(va, VM_PROT_READ | VM_PROT_WRITE, &error, NULL);
	if (m == NULL) {
		if (up->wired)
			(void)vm_map_wire(&vms->vm_map, va, va + PAGE_SIZE,
			    KM_PAGEABLE);
		kfree(up, M_KQEMUMON);
		goto fail;
	}
	if (up->wired)
		kqmon_map_wired(&vms->vm_map, va);
	vmspace_ref(vms);
	up->m = m;
	up->vmspace = vms;
	up->va = va;
	up->vm = vm;
	*ppage_index = (unsigned long)(VM_PAGE_TO_PHYS(m) >> PAGE_SHIFT);
	kqmon_count(KQMON_STAT(vm, user_pages), 1);
	kqmon_count(KQMON_STAT(vm, user_locks), 1);
	return ((struct kqemu_user_page *)up);
fail:
	kqmon_count(KQMON_STAT(vm, lock_failures), 1);
	return (NULL);
}

void
kqemu_unlock_user_page(struct kqemu_user_page *page)
{
	struct kqmon_upage *up = (struct kqmon_upage *)page;

	vm_page_dirty(up->m);
	vm_page_unhold(up->m);
	/* KERN_INVALID_ADDRESS when munmap took the range (and unwired it). */
	if (up->wired) {
		kqmon_map_wired(&up->vmspace->vm_map, up->va);
		(void)vm_map_wire(&up->vmspace->vm_map, up->va,
		    up->va + PAGE_SIZE, KM_PAGEABLE);
	}
	vmspace_rel(up->vmspace);
	kqmon_count(KQMON_STAT(up->vm, user_pages), -1);
	kfree(up, M_KQEMUMON);
}

struct kqemu_page *
kqemu_alloc_zeroed_page(unsigned long *ppage_index)
{
	struct kqemu_mon_vm *vm = kqmon_current_vm();
	struct kqmon_kpage *kp;

	kp = kmalloc(sizeof(*kp), M_KQEMUMON, M_WAITOK | M_NULLOK | M_ZERO);
	if (kp == NULL)
		return (NULL);
	/* Wired and zero-filled (kmem_alloc3: VM_ALLOC_FORCE_ZERO). */
	kp->va = kmem_alloc(&kernel_map, PAGE_SIZE, VM_SUBSYS_UNKNOWN);
	if (kp->va == 0) {
		kfree(kp, M_KQEMUMON);
		return (NULL);
	}
	kp->vm = vm;
	*ppage_index = (unsigned long)(pmap_kextract(kp->va) >> PAGE_SHIFT);
	kqmon_count(KQMON_STAT(vm, kernel_pages), 1);
	return ((struct kqemu_page *)kp);
}

void
kqemu_free_page(struct kqemu_page *page)
{
	struct kqmon_kpage *kp = (struct kqmon_kpage *)page;

	kmem_free(&kernel_map, kp->va, PAGE_SIZE);
	kqmon_count(KQMON_STAT(kp->vm, kernel_pages), -1);
	kfree(kp, M_KQEMUMON);
}

void *
kqemu_page_kaddr(struct kqemu_page *page)
{
	return ((void *)((struct kqmon_kpage *)page)->va);
}

void *
kqemu_vmalloc(unsigned int size)
{
	struct kqemu_mon_vm *vm = kqmon_current_vm();
	struct kqmon_valloc *a;

	a = kmalloc(sizeof(*a), M_KQEMUMON, M_WAITOK | M_NULLOK | M_ZERO);
	if (a == NULL)
		return (NULL);
	a->size = round_page((vm_size_t)size);
	a->va = kmem_alloc(&kernel_map, a->size, VM_SUBSYS_UNKNOWN);
	if (a->va == 0) {
		kfree(a, M_KQEMUMON);
		return (NULL);
	}
	a->vm = vm;
	spin_lock(&kqmon_mem_spin);
	TAILQ_INSERT_TAIL(&kqmon_vallocs, a, link);
	spin_unlock(&kqmon_mem_spin);
	kqmon_count(KQMON_STAT(vm, vmalloc_bytes), (long)a->size);
	return ((void *)a->va);
}

void
kqemu_vfree(void *ptr)
{
	struct kqmon_valloc *a;

	if (ptr == NULL)
		return;
	spin_lock(&kqmon_mem_spin);
	TAILQ_FOREACH(a, &kqmon_vallocs, link) {
		if (a->va == (vm_offset_t)ptr) {
			TAILQ_REMOVE(&kqmon_vallocs, a, link);
			break;
		}
	}
	spin_unlock(&kqmon_mem_spin);
	if (a == NULL)
		panic("kqemu_vfree: %p was not allocated by kqemu_vmalloc", ptr);
	kmem_free(&kernel_map, a->va, a->size);
	kqmon_count(KQMON_STAT(a->vm, vmalloc_bytes), -(long)a->size);
	kfree(a, M_KQEMUMON);
}

unsigned long
kqemu_vmalloc_to_phys(const void *vaddr)
{
	vm_paddr_t pa = pmap_kextract((vm_offset_t)vaddr);

	return (pa == 0 ? (unsigned long)-1 : (unsigned long)(pa >> PAGE_SHIFT));
}

void *
kqemu_io_map(unsigned long page_index, unsigned int size)
{
	return (pmap_mapdev_uncacheable((vm_paddr_t)page_index << PAGE_SHIFT,
	    (vm_size_t)size));
}

void
kqemu_io_unmap(void *ptr, unsigned int size)
{
	pmap_unmapdev((vm_offset_t)ptr, (vm_size_t)size);
}

int
kqmon_vallocs_empty(void)
{
	return (TAILQ_EMPTY(&kqmon_vallocs));
}
