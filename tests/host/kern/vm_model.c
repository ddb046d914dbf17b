/*
 * vm_model.c - the host kernel's model of the DragonFly 5.8 VM, pmap and
 * scheduler calls kqemu's monitor glue (kmod/kqemu/kqemu_mon*.c) uses.
 *
 * Owns: the held user pages (struct vm_page records, "physical address" =
 * the host address of the page), each process's vmspace (its wired pages
 * and reference count), the kmem_alloc and pmap_mapdev allocations, the
 * user-reschedule flag, failure injection for these calls and their
 * statistics (hk_vm_stats).
 *
 * Models (DragonFly v5.8.1):
 *   vm_fault_page_quick   vm/vm_fault.c: the page at va of curproc's map,
 *                         held; NULL + EFAULT if va is not user memory
 *                         allowing the access.  It removes the PTE at va
 *                         (5.8.1's vm_fault_page ends with a pmap_remove
 *                         of the address whenever it succeeds), wired or not
 *   vm_page_hold/unhold   vm/vm_page.c (unhold of an unheld page panics)
 *   vm_page_dirty         vm/vm_page.c (host: the page must be held)
 *   vm_map_lookup_entry   vm/vm_map.c: the entry's inheritance (SHARE for a
 *                         range hk_proc_share_user marked, else COPY);
 *                         the map lock must be held (lock_read/unlock_read)
 *   vm_map_wire           vm/vm_map.c: wire (count per page) or, with
 *                         KM_PAGEABLE, unwire (KERN_INVALID_ARGUMENT when
 *                         not wired); KERN_INVALID_ADDRESS once the map's
 *                         process exited (its entries are gone).  Each
 *                         wired page has a PTE flag: wiring enters the PTE;
 *                         unwiring (and the exit teardown) finds the page
 *                         only through it (vm_fault_unwire -> pmap_unwire),
 *                         so dropping the last wiring of a page whose PTE
 *                         is gone aborts: on 5.8.1 the page stays wired
 *                         for good ("Encountered wired page")
 *   vm_fault              vm/vm_fault.c: a fault at va of map; on a wired
 *                         page it enters the PTE again
 *   vmspace_ref/rel       vm/vm_map.c: the vmspace lives until the last
 *                         reference (its process holds one until exit1)
 *   kmem_alloc3/kmem_free vm/vm_kern.c: page-granular, zeroed; kmem_free
 *                         must name exactly what kmem_alloc returned
 *   pmap_kextract         platform/pc64/x86_64/pmap.c (kmem memory only)
 *   pmap_mapdev_uncacheable / pmap_unmapdev   same file
 *   lwkt_user_yield       kern/lwkt_thread.c (host: sched_yield)
 *   lwkt_passive_release  kern/lwkt_thread.c
 *   lwkt_setpri_self      kern/lwkt_thread.c
 *   acquire_curproc / release_curproc   kern/usched_dfly.c (host: a
 *                         pending user reschedule is cleared and the
 *                         thread yields)
 *   user_resched_wanted   cpu/x86_64/include/cpu.h (one flag)
 *
 * Stricter than the real kernel: a leaked hold, wiring, kmem or mapdev
 * allocation, or vmspace fails hk_shutdown_clean.
 *
 * Locking: vm_mtx (a host mutex, never held across a call out) guards
 * every list and count here.
 */
#include "hk_impl.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <sys/proc.h>
#include <sys/thread.h>
#include <sys/usched.h>
#include <machine/cpu.h>
#include <vm/vm.h>
#include <vm/vm_extern.h>
#include <vm/vm_kern.h>
#include <vm/vm_map.h>
#include <vm/vm_page.h>
#include <vm/pmap.h>

#include "hk.h"

struct hk_wired {
	vm_offset_t	va;
	int		count;
	int		mapped;		/* its PTE is present */
	struct hk_wired	*next;
};

struct hk_kmem {
	vm_offset_t	va;
	vm_size_t	size;
	int		dev;		/* pmap_mapdev, not kmem_alloc */
	struct hk_kmem	*next;
};

static pthread_mutex_t vm_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct vm_page *held;		/* pages with hold_count > 0 */
static struct hk_kmem *kmems;
static long n_vmspaces;
static struct hk_vm_stats vm_st;
static int user_resched;
/* Failure injection: the nth call from now fails (0: off). */
static int fail_fault, fail_wire, fail_kmem, fail_mapdev;

struct vm_map kernel_map;

static int
take_failure(int *nth)
{
	int fail = 0;

	if (*nth > 0 && --*nth == 0)
		fail = 1;
	return (fail);
}

/* --- test API (hk.h) ------------------------------------------------------ */

int
hk_vm_stats(struct hk_vm_stats *st)
{
	pthread_mutex_lock(&vm_mtx);
	*st = vm_st;
	st->vmspaces = n_vmspaces;
	pthread_mutex_unlock(&vm_mtx);
	return (0);
}

int
hk_vm_fail_nth(const char *fn, int nth)
{
	int *p;

	if (strcmp(fn, "vm_fault_page_quick") == 0)
		p = &fail_fault;
	else if (strcmp(fn, "vm_map_wire") == 0)
		p = &fail_wire;
	else if (strcmp(fn, "kmem_alloc") == 0)
		p = &fail_kmem;
	else if (strcmp(fn, "pmap_mapdev") == 0)
		p = &fail_mapdev;
	else
		return (EINVAL);
	pthread_mutex_lock(&vm_mtx);
	*p = nth;
	pthread_mutex_unlock(&vm_mtx);
	return (0);
}

void
hk_sched_want_user_resched(int on)
{
	__atomic_store_n(&user_resched, on, __ATOMIC_SEQ_CST);
}

/* --- boot, shutdown, processes (hk_impl.h) ------------------------------- */

void
hk_vm_boot(void)
{
	pthread_mutex_lock(&vm_mtx);
	memset(&vm_st, 0, sizeof(vm_st));
	fail_fault = fail_wire = fail_kmem = fail_mapdev = 0;
	user_resched = 0;
	pthread_mutex_unlock(&vm_mtx);
}

int
hk_vm_shutdown(void)
{
	int leaks = 0;
	struct hk_kmem *k;
	struct vm_page *m;

	pthread_mutex_lock(&vm_mtx);
	for (m = held; m != NULL; m = m->hk_next) {
		fprintf(stderr, "hostkern: vm page %#lx still held (%d)\n",
		    (unsigned long)m->phys_addr, m->hold_count);
		leaks++;
	}
	for (k = kmems; k != NULL; k = k->next) {
		fprintf(stderr, "hostkern: %s %#lx (%lu bytes) never freed\n",
		    k->dev ? "pmap_mapdev" : "kmem_alloc",
		    (unsigned long)k->va, (unsigned long)k->size);
		leaks++;
	}
	if (n_vmspaces != 0) {
		fprintf(stderr, "hostkern: %ld vmspaces still referenced\n",
		    n_vmspaces);
		leaks += (int)n_vmspaces;
	}
	pthread_mutex_unlock(&vm_mtx);
	return (leaks);
}

struct vmspace *
hk_vmspace_new(struct hk_proc *p)
{
	struct vmspace *vm = calloc(1, sizeof(*vm));

	vm->vm_map.hk_vmspace = vm;
	vm->vm_refcnt = 1;		/* the process's */
	vm->hk_proc = p;
	pthread_mutex_lock(&vm_mtx);
	n_vmspaces++;
	pthread_mutex_unlock(&vm_mtx);
	return (vm);
}

/* exit1 after fdfree (vmspace_exit): the map's entries go -- wirings too --
 * and the process drops its reference. */
void
hk_vmspace_exit(struct hk_proc *p)
{
	struct vmspace *vm = p->p.p_vmspace;
	struct hk_wired *w;

	if (vm == NULL)
		return;
	pthread_mutex_lock(&vm_mtx);
	while ((w = vm->hk_wired) != NULL) {
		if (!w->mapped)
			HK_ABORT("exit of a process whose wired page %#lx has no "
			    "PTE: vm_map_remove cannot unwire it (5.8.1: wired "
			    "for good)", (unsigned long)w->va);
		vm->hk_wired = w->next;
		vm_st.wired_pages -= w->count;
		free(w);
	}
	vm->hk_proc = NULL;
	pthread_mutex_unlock(&vm_mtx);
	p->p.p_vmspace = NULL;
	vmspace_rel(vm);
}

/* --- vm/vm_map.c ---------------------------------------------------------- */

void
vmspace_ref(struct vmspace *vm)
{
	if (__atomic_fetch_add(&vm->vm_refcnt, 1, __ATOMIC_SEQ_CST) <= 0)
		panic("vmspace_ref: vmspace %p already terminated", vm);
}

void
vmspace_rel(struct vmspace *vm)
{
	int n = __atomic_sub_fetch(&vm->vm_refcnt, 1, __ATOMIC_SEQ_CST);

	if (n < 0)
		panic("vmspace_rel: vmspace %p released twice", vm);
	if (n > 0)
		return;
	pthread_mutex_lock(&vm_mtx);
	if (vm->hk_wired != NULL)
		HK_ABORT("vmspace %p terminated with wired pages", vm);
	n_vmspaces--;
	pthread_mutex_unlock(&vm_mtx);
	free(vm);
}

int
vm_map_wire(vm_map_t map, vm_offset_t start, vm_offset_t end, int kmflags)
{
	struct vmspace *vm = map->hk_vmspace;
	struct hk_wired **wp, *w;
	vm_offset_t va;
	int rv = KERN_SUCCESS;

	hk_assert_sleepable("vm_map_wire");
	if (vm == NULL || (start & PAGE_MASK) != 0 || (end & PAGE_MASK) != 0 ||
	    end <= start)
		return (KERN_INVALID_ARGUMENT);
	if (end - start != PAGE_SIZE)
		HK_ABORT("vm_map_wire: the host model wires one page at a time");
	va = start;
	pthread_mutex_lock(&vm_mtx);
	if (vm->hk_proc == NULL) {
		rv = KERN_INVALID_ADDRESS;
		goto out;
	}
	for (wp = &vm->hk_wired; *wp != NULL && (*wp)->va != va; wp = &(*wp)->next)
		;
	if (kmflags & KM_PAGEABLE) {
		if (*wp == NULL) {
			rv = KERN_INVALID_ARGUMENT;
			goto out;
		}
		w = *wp;
		if (--w->count == 0) {
			if (!w->mapped)
				HK_ABORT("vm_map_wire: unwiring %#lx, whose PTE is "
				    "gone: vm_fault_unwire finds pages through the "
				    "pmap, the page stays wired for good",
				    (unsigned long)va);
			*wp = w->next;
			free(w);
		}
		vm_st.wired_pages--;
		goto out;
	}
	if (take_failure(&fail_wire)) {
		rv = KERN_FAILURE;
		goto out;
	}
	pthread_mutex_unlock(&vm_mtx);
	/* Wiring faults the page in: the range must be user memory. */
	if (!hk_user_range_ok(vm->hk_proc, va, PAGE_SIZE, 0))
		return (KERN_INVALID_ADDRESS);
	pthread_mutex_lock(&vm_mtx);
	if (vm->hk_proc == NULL) {
		rv = KERN_INVALID_ADDRESS;
		goto out;
	}
	for (wp = &vm->hk_wired; *wp != NULL && (*wp)->va != va; wp = &(*wp)->next)
		;
	if (*wp == NULL) {
		w = calloc(1, sizeof(*w));
		w->va = va;
		w->mapped = 1;		/* vm_fault_wire enters it */
		*wp = w;
	}
	(*wp)->count++;
	vm_st.wired_pages++;
out:
	pthread_mutex_unlock(&vm_mtx);
	return (rv);
}

/* The map lock: the host keeps a per-thread count (lookup must hold it). */
static __thread int map_read_locks;

void
hk_vm_map_lock_read(vm_map_t map)
{
	hk_assert_sleepable("vm_map_lock_read");
	map_read_locks++;
}

void
hk_vm_map_unlock_read(vm_map_t map)
{
	if (map_read_locks <= 0)
		HK_ABORT("vm_map_unlock_read: map not locked");
	map_read_locks--;
}

/* vm_map.c vm_map_lookup_entry: the entry containing va (the user range). */
int
vm_map_lookup_entry(vm_map_t map, vm_offset_t va, vm_map_entry_t *entryp)
{
	static __thread struct vm_map_entry entry;
	struct vmspace *vm = map->hk_vmspace;
	uintptr_t start;
	size_t len;
	int shared;

	if (map_read_locks <= 0)
		HK_ABORT("vm_map_lookup_entry without the map lock");
	if (vm == NULL || vm->hk_proc == NULL ||
	    hk_user_range_find(vm->hk_proc, va, &start, &len, &shared) != 0)
		return (0);
	entry.start = start;
	entry.end = start + len;
	entry.inheritance = shared ? VM_INHERIT_SHARE : VM_INHERIT_COPY;
	*entryp = &entry;
	return (1);
}

/* --- vm/vm_fault.c, vm/vm_page.c ----------------------------------------- */

/* The PTE flag of the wired page at va of vm, if it is wired (vm_mtx). */
static void
hk_pte_set(struct vmspace *vm, vm_offset_t va, int mapped)
{
	struct hk_wired *w;

	if (vm == NULL)
		return;
	for (w = vm->hk_wired; w != NULL; w = w->next)
		if (w->va == va)
			w->mapped = mapped;
}

vm_page_t
vm_fault_page_quick(vm_offset_t va, vm_prot_t fault_type, int *errorp,
    int *busyp)
{
	struct thread *td = curthread;
	struct hk_proc *p;
	struct vm_page *m;
	vm_paddr_t pa = trunc_page(va);

	hk_assert_sleepable("vm_fault_page_quick");
	if (busyp != NULL)
		*busyp = 0;
	*errorp = EFAULT;
	if (td->td_lwp == NULL || td->td_lwp->lwp_vmspace == NULL)
		return (NULL);
	p = td->td_lwp->lwp_vmspace->hk_proc;
	if (p == NULL ||
	    !hk_user_range_ok(p, pa, PAGE_SIZE, (fault_type & VM_PROT_WRITE) != 0))
		return (NULL);
	pthread_mutex_lock(&vm_mtx);
	if (take_failure(&fail_fault)) {
		pthread_mutex_unlock(&vm_mtx);
		return (NULL);
	}
	for (m = held; m != NULL && m->phys_addr != pa; m = m->hk_next)
		;
	if (m == NULL) {
		m = calloc(1, sizeof(*m));
		m->phys_addr = pa;
		m->hk_next = held;
		held = m;
	}
	m->hold_count++;
	vm_st.held_pages++;
	hk_pte_set(td->td_lwp->lwp_vmspace, pa, 0);
	pthread_mutex_unlock(&vm_mtx);
	*errorp = 0;
	return (m);
}

/* vm_fault.c vm_fault: a fault at va of map (any process's); a wired
 * page gets its PTE back. */
int
vm_fault(vm_map_t map, vm_offset_t va, vm_prot_t fault_type, int fault_flags)
{
	struct vmspace *vm = map->hk_vmspace;

	hk_assert_sleepable("vm_fault");
	if (vm == NULL || vm->hk_proc == NULL ||
	    !hk_user_range_ok(vm->hk_proc, trunc_page(va), PAGE_SIZE,
	    (fault_type & VM_PROT_WRITE) != 0))
		return (KERN_FAILURE);
	pthread_mutex_lock(&vm_mtx);
	vm_st.faults++;
	hk_pte_set(vm, trunc_page(va), 1);
	pthread_mutex_unlock(&vm_mtx);
	return (KERN_SUCCESS);
}

void
vm_page_hold(vm_page_t m)
{
	pthread_mutex_lock(&vm_mtx);
	if (m->hold_count <= 0)
		HK_ABORT("vm_page_hold: page %#lx is not a live page",
		    (unsigned long)m->phys_addr);
	m->hold_count++;
	vm_st.held_pages++;
	pthread_mutex_unlock(&vm_mtx);
}

void
vm_page_unhold(vm_page_t m)
{
	struct vm_page **mp;

	pthread_mutex_lock(&vm_mtx);
	if (m->hold_count <= 0)
		panic("vm_page_unhold: page %#lx not held",
		    (unsigned long)m->phys_addr);
	vm_st.held_pages--;
	if (--m->hold_count == 0) {
		for (mp = &held; *mp != m; mp = &(*mp)->hk_next)
			;
		*mp = m->hk_next;
		free(m);
	}
	pthread_mutex_unlock(&vm_mtx);
}

void
vm_page_dirty(vm_page_t m)
{
	pthread_mutex_lock(&vm_mtx);
	if (m->hold_count <= 0)
		HK_ABORT("vm_page_dirty: page %#lx is neither held nor busied",
		    (unsigned long)m->phys_addr);
	if (!m->dirty)
		vm_st.dirtied++;
	m->dirty = 1;
	pthread_mutex_unlock(&vm_mtx);
}

/* --- vm/vm_kern.c, pmap ----------------------------------------------------- */

static vm_offset_t
kmem_new(vm_size_t size, int dev, int *failp)
{
	struct hk_kmem *k;
	void *mem;

	size = round_page(size);
	pthread_mutex_lock(&vm_mtx);
	if (take_failure(failp)) {
		pthread_mutex_unlock(&vm_mtx);
		return (0);
	}
	pthread_mutex_unlock(&vm_mtx);
	if (size == 0 || posix_memalign(&mem, PAGE_SIZE, size) != 0)
		return (0);
	memset(mem, 0, size);
	k = calloc(1, sizeof(*k));
	k->va = (vm_offset_t)mem;
	k->size = size;
	k->dev = dev;
	pthread_mutex_lock(&vm_mtx);
	k->next = kmems;
	kmems = k;
	if (dev)
		vm_st.mapdevs++;
	else
		vm_st.kmem_pages += (long)(size / PAGE_SIZE);
	pthread_mutex_unlock(&vm_mtx);
	return (k->va);
}

static void
kmem_gone(vm_offset_t va, vm_size_t size, int dev, const char *who)
{
	struct hk_kmem **kp, *k;

	pthread_mutex_lock(&vm_mtx);
	for (kp = &kmems; *kp != NULL; kp = &(*kp)->next) {
		if ((*kp)->va == va)
			break;
	}
	k = *kp;
	if (k == NULL || k->dev != dev || k->size != round_page(size))
		HK_ABORT("%s(%#lx, %lu): not what was allocated there", who,
		    (unsigned long)va, (unsigned long)size);
	*kp = k->next;
	if (dev)
		vm_st.mapdevs--;
	else
		vm_st.kmem_pages -= (long)(k->size / PAGE_SIZE);
	pthread_mutex_unlock(&vm_mtx);
	free((void *)k->va);
	free(k);
}

vm_offset_t
kmem_alloc3(struct vm_map *map, vm_size_t size, vm_subsys_t id, int kmflags)
{
	if (map != &kernel_map)
		HK_ABORT("kmem_alloc3: the host model has only kernel_map");
	hk_assert_sleepable("kmem_alloc3");
	return (kmem_new(size, 0, &fail_kmem));
}

void
kmem_free(struct vm_map *map, vm_offset_t addr, vm_size_t size)
{
	kmem_gone(addr, size, 0, "kmem_free");
}

vm_paddr_t
pmap_kextract(vm_offset_t va)
{
	struct hk_kmem *k;
	vm_paddr_t pa = 0;

	pthread_mutex_lock(&vm_mtx);
	for (k = kmems; k != NULL; k = k->next) {
		if (!k->dev && va >= k->va && va < k->va + k->size) {
			pa = va;
			break;
		}
	}
	pthread_mutex_unlock(&vm_mtx);
	return (pa);
}

void *
pmap_mapdev_uncacheable(vm_paddr_t pa, vm_size_t size)
{
	return ((void *)kmem_new(size, 1, &fail_mapdev));
}

void
pmap_unmapdev(vm_offset_t va, vm_size_t size)
{
	kmem_gone(va, size, 1, "pmap_unmapdev");
}

/* --- scheduling: kern/lwkt_thread.c, kern/usched_dfly.c -------------------- */

int
hk_user_resched_wanted(void)
{
	return (__atomic_load_n(&user_resched, __ATOMIC_SEQ_CST));
}

void
hk_clear_user_resched(void)
{
	__atomic_store_n(&user_resched, 0, __ATOMIC_SEQ_CST);
}

void
lwkt_user_yield(void)
{
	if (mycpu->gd_spinlocks != 0)
		return;		/* as the real one: never with a spinlock */
	pthread_mutex_lock(&vm_mtx);
	vm_st.user_yields++;
	pthread_mutex_unlock(&vm_mtx);
	sched_yield();
}

void
lwkt_setpri_self(int pri)
{
	curthread->td_pri = pri;
}

void
lwkt_passive_release(struct thread *td)
{
	td->td_release = NULL;
	lwkt_setpri_self(TDPRI_KERN_USER);
	td->td_proc->p_usched->release_curproc(td->td_lwp);
}

static void
hk_acquire_curproc(struct lwp *lp)
{
	hk_assert_sleepable("acquire_curproc");
	if (lp->lwp_thread->td_release != NULL)
		HK_ABORT("acquire_curproc with td_release still set "
		    "(lwkt_passive_recover first, as userexit does)");
	pthread_mutex_lock(&vm_mtx);
	vm_st.acquires++;
	pthread_mutex_unlock(&vm_mtx);
	if (user_resched_wanted()) {
		clear_user_resched();
		sched_yield();		/* another process runs */
	}
}

static void
hk_release_curproc(struct lwp *lp)
{
}

struct usched hk_usched = {
	"hk",
	hk_acquire_curproc,
	hk_release_curproc,
};
