/*
 * kqemu_mon.c - DragonFly host glue of kqemu 1.4's monitor: the twelve host
 * services its kqemu-kernel.h asks for, and the calls into it behind
 * kqemu_mon.h.  Built only when KQEMU_SRC names the monitor's source (then
 * kqemu.ko links GPL code: see README.md); this file itself is ours, BSD.
 *
 * Owns: the monitor's global state (one per module load), each VM's
 * bookkeeping (struct kqemu_mon_vm: its monitor state and counters), a
 * record for every user page, kernel page and page-granular allocation the
 * monitor holds, and the list of calls in progress that tells a service
 * which VM it works for.
 *
 * The services, each checked against DragonFly 5.8.1's vm and kern code:
 *  - lock_user_page: the page is held (vm_fault_page_quick with
 *    READ|WRITE, which also breaks copy-on-write) and a reference on the
 *    vmspace is kept.  If its map entry would be copied at fork() (not
 *    VM_INHERIT_SHARE: private memory; QEMU allocates its page arrays
 *    privately), the page is also wired in the caller's map (vm_map_wire,
 *    as FreeBSD's kqemu glue does): vm_map_copy_entry() copies a wired
 *    entry into the child instead of marking both sides copy-on-write, so
 *    the parent's pages never part from those the monitor maps.  Shared
 *    entries (MAP_SHARED, as QEMU maps guest RAM) are never copied at
 *    fork, and must not be wired: 5.8.1's pmap cannot unwire a page mapped
 *    through a shared page table (pmap_unwire: "we cannot wire shared
 *    pages"), so the page would stay wired after its object dies
 *    (vm_object_terminate warns "Encountered wired page").  Held, because
 *    munmap() of a wired range unwires it: the hold keeps the page from
 *    being freed while the monitor still maps it.  Unlock marks the page
 *    dirty (the monitor wrote it through its own page tables, which the
 *    pmap's modified bits never see), drops the hold, unwires the range if
 *    it wired it, in the vmspace that wired it (which fails harmlessly once
 *    that vmspace is torn down), and drops the vmspace reference.
 *  - alloc_zeroed_page / vmalloc: kmem_alloc(&kernel_map): wired, zeroed,
 *    mapped VM_PROT_ALL (the monitor's switch code runs from its state);
 *    physical page numbers from pmap_kextract; kmem_free with the size
 *    remembered here.
 *  - io_map: pmap_mapdev_uncacheable (the monitor maps only the local APIC;
 *    plain pmap_mapdev is write-back on 5.8) / pmap_unmapdev.
 *  - schedule: see kqemu_schedule below (fairness; a signal or the end of
 *    an EXEC's time slice -> INTR).
 *  - log: kvprintf with a "kqemu: " prefix.
 *
 * Locking: kqmon_spin (a spinlock) guards the call list, the vmalloc
 * records and nothing else; nothing sleeps under it.  A VM's calls are
 * serialized by the core's instance lock; its counters are atomic words
 * (read unlocked by kqemu_mon_stats).  The monitor's global state has its
 * own internal lock.  Design: docs/design.md §9.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/errno.h>
#include <sys/ioccom.h>
#include <sys/malloc.h>
#include <sys/proc.h>
#include <sys/queue.h>
#include <sys/signal2.h>
#include <sys/spinlock.h>
#include <sys/spinlock2.h>
#include <sys/thread.h>
#include <sys/thread2.h>
#include <sys/usched.h>

#include <vm/vm.h>
#include <vm/vm_param.h>
#include <vm/vm_extern.h>
#include <vm/vm_kern.h>
#include <vm/vm_map.h>
#include <vm/vm_page.h>
#include <vm/pmap.h>

#include <machine/cpu.h>
#include <machine/vmparam.h>
#include <machine/stdarg.h>

/*
 * The monitor's API, from the KQEMU_SRC tree.  Its CDECL is regparm(0),
 * which gcc ignores on x86_64 with a warning our -Werror would make fatal.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wattributes"
#include "kqemu-kernel.h"
#pragma GCC diagnostic pop

#include "kqemu_mon.h"

_Static_assert(KQEMU_VERSION == 0x010400, "kqemu-kernel.h is not kqemu 1.4");
_Static_assert(sizeof(struct kqemu_init) == KQEMU_MON_INIT_SIZE, "kqemu_init");
_Static_assert(sizeof(struct kqemu_cpu_state) == KQEMU_MON_CPU_SIZE,
    "kqemu_cpu_state");
_Static_assert(sizeof(struct kqemu_phys_mem) == KQEMU_MON_PHYS_SIZE,
    "kqemu_phys_mem");

#ifndef KQEMU_MON_LICENSE
#define KQEMU_MON_LICENSE \
	"GPL-2.0: links the kqemu-1.4.0pre1 monitor (Fabrice Bellard)"
#endif
const char kqemu_mon_license[] = KQEMU_MON_LICENSE;

MALLOC_DEFINE(M_KQEMUMON, "KQEMUMON", "kqemu monitor host pages");

struct kqemu_mon_vm {
	struct kqemu_state	*state;
	struct kqemu_mon_stats	st;	/* atomic words */
};

/* A call into the monitor in progress: which VM the services serve. */
struct kqmon_call {
	TAILQ_ENTRY(kqmon_call)	link;
	struct thread		*td;
	struct kqemu_mon_vm	*vm;
	int			start;		/* ticks at entry */
};

/*
 * The longest a guest runs in one EXEC before kqemu_schedule asks the
 * monitor to return (INTR) although no signal is pending.  Without it an
 * EXEC whose guest never traps lasts until a signal comes, and anything
 * that waits for the ioctls in flight to return -- a wrapping module
 * being unloaded (kqemu_clone drains its calls), a debugger -- waits as
 * long.  QEMU treats INTR as "check for events, EXEC again"; its own
 * SIGALRM timer makes EXEC return far more often than this.
 */
#define KQMON_EXEC_SLICE_MS	100

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

static struct spinlock kqmon_spin = SPINLOCK_INITIALIZER(kqmon_spin, "kqmon");
static TAILQ_HEAD(, kqmon_call) kqmon_calls = TAILQ_HEAD_INITIALIZER(kqmon_calls);
static TAILQ_HEAD(, kqmon_valloc) kqmon_vallocs =
    TAILQ_HEAD_INITIALIZER(kqmon_vallocs);
static struct kqemu_global_state *kqmon_global;

static __inline void
kqmon_count(unsigned long *p, long v)
{
	if (p != NULL)
		atomic_add_long(p, v);
}

#define KQMON_STAT(vm, f)	((vm) != NULL ? &(vm)->st.f : NULL)

static void
kqmon_call_enter(struct kqmon_call *c, struct kqemu_mon_vm *vm)
{
	c->td = curthread;
	c->vm = vm;
	c->start = ticks;
	spin_lock(&kqmon_spin);
	TAILQ_INSERT_TAIL(&kqmon_calls, c, link);
	spin_unlock(&kqmon_spin);
}

static void
kqmon_call_leave(struct kqmon_call *c)
{
	spin_lock(&kqmon_spin);
	TAILQ_REMOVE(&kqmon_calls, c, link);
	spin_unlock(&kqmon_spin);
}

/* The calling thread's call in progress (NULL outside any VM call); it
 * lives on that thread's stack until kqmon_call_leave. */
static struct kqmon_call *
kqmon_current_call(void)
{
	struct kqmon_call *c;

	spin_lock(&kqmon_spin);
	TAILQ_FOREACH(c, &kqmon_calls, link) {
		if (c->td == curthread)
			break;
	}
	spin_unlock(&kqmon_spin);
	return (c);
}

/* The VM the calling thread is working for (NULL outside any VM call). */
static struct kqemu_mon_vm *
kqmon_current_vm(void)
{
	struct kqmon_call *c = kqmon_current_call();

	return (c != NULL ? c->vm : NULL);
}

/* --- the host services (kqemu-kernel.h) ---------------------------------- */

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
	/* KERN_INVALID_ADDRESS once the vmspace's entries are gone (its
	 * process exited before the last close): nothing left to unwire. */
	if (up->wired)
		(void)vm_map_wire(&up->vmspace->vm_map, up->va,
		    up->va + PAGE_SIZE, KM_PAGEABLE);
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
	spin_lock(&kqmon_spin);
	TAILQ_INSERT_TAIL(&kqmon_vallocs, a, link);
	spin_unlock(&kqmon_spin);
	kqmon_count(KQMON_STAT(vm, vmalloc_bytes), (long)a->size);
	return ((void *)a->va);
}

void
kqemu_vfree(void *ptr)
{
	struct kqmon_valloc *a;

	if (ptr == NULL)
		return;
	spin_lock(&kqmon_spin);
	TAILQ_FOREACH(a, &kqmon_vallocs, link) {
		if (a->va == (vm_offset_t)ptr) {
			TAILQ_REMOVE(&kqmon_vallocs, a, link);
			break;
		}
	}
	spin_unlock(&kqmon_spin);
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

/*
 * Called by kqemu_exec after a host interrupt stopped guest code running at
 * CPL 3 (the monitor re-raised it through our IDT first).  Non-zero means
 * "return to the caller": EXEC then answers KQEMU_RET_INTR.
 *
 * Fairness.  A user thread inside a system call stays its CPU's current
 * user process (the usched's uschedcp) until it returns to user mode or
 * blocks: lwkt_user_yield() switches only among LWKT threads, and the
 * other user processes of that CPU are not LWKT-runnable -- they wait on
 * the usched run queue for the designation we keep.  So a long EXEC that
 * only called lwkt_user_yield() starved them (33-35 s on a 2-CPU 5.8.1
 * kernel).  When the scheduler clock has asked for a user reschedule on
 * this CPU (user_resched_wanted(): our round-robin quantum is used up and
 * another process waits), do what the return to user mode does (trap.c
 * userexit): lower our LWKT priority back to user level if a block raised
 * it (lwkt_passive_recover), then acquire_curproc(), which releases the
 * designation to the best waiting process, queues us and switches away
 * until the usched picks us again.  Back here we are the current user
 * process again and restore what userenter() set on kernel entry
 * (td_release = lwkt_passive_release), so a later block still releases
 * the designation.  lwkt_user_yield() (pending interrupts, other kernel
 * threads) only when no user reschedule is asked for: it would switch
 * with td_release still set, which releases the designation passively and
 * leaves this thread running on at kernel priority, ahead of the very
 * processes the reschedule was for.  For the same reason a thread that
 * finds itself released (td_release NULL: an lwkt switch or a sleep in a
 * host service gave the designation away) acquires it again before the
 * guest runs on -- what the disabled block at the end of 5.8.1's
 * lwkt_user_yield() describes -- so guest code never runs at kernel
 * priority for longer than until the next host interrupt.
 */
int
kqemu_schedule(void)
{
	struct thread *td = curthread;
	struct lwp *lp = td->td_lwp;
	struct kqmon_call *c = kqmon_current_call();
	struct kqemu_mon_vm *vm = c != NULL ? c->vm : NULL;
	int slice;

	kqmon_count(KQMON_STAT(vm, schedules), 1);
	if (lp == NULL)
		return (0);
	if (user_resched_wanted() || td->td_release == NULL) {
		lwkt_passive_recover(td);
		lp->lwp_proc->p_usched->acquire_curproc(lp);
		td->td_release = lwkt_passive_release;
		kqmon_count(KQMON_STAT(vm, yields), 1);
	} else {
		lwkt_user_yield();
	}
	/* A signal to deliver, or the process is exiting. */
	if (CURSIG_NOBLOCK(lp) != 0 || (lp->lwp_mpflags & LWP_MP_WEXIT) != 0)
		return (1);
	slice = hz * KQMON_EXEC_SLICE_MS / 1000;
	if (c != NULL && ticks - c->start >= (slice > 0 ? slice : 1)) {
		kqmon_count(KQMON_STAT(vm, slices), 1);
		return (1);
	}
	return (0);
}

void
kqemu_log(const char *fmt, ...)
{
	__va_list ap;

	kprintf("kqemu: ");
	__va_start(ap, fmt);
	kvprintf(fmt, ap);
	__va_end(ap);
}

/* --- kqemu_mon.h ------------------------------------------------------- */

int
kqemu_mon_load(unsigned long max_locked_pages)
{
	if (max_locked_pages > 0x7fffffffUL)
		max_locked_pages = 0x7fffffffUL;	/* the monitor's int */
	kqmon_global = kqemu_global_init((int)max_locked_pages);
	return (kqmon_global == NULL ? ENOMEM : 0);
}

void
kqemu_mon_unload(void)
{
	if (kqmon_global != NULL)
		kqemu_global_delete(kqmon_global);
	kqmon_global = NULL;
	if (!TAILQ_EMPTY(&kqmon_vallocs))
		panic("kqemu: monitor memory outlives the module");
}

int
kqemu_mon_create(const void *init, struct kqemu_mon_vm **vmp)
{
	struct kqemu_init d;
	struct kqemu_mon_vm *vm;
	struct kqmon_call c;
	int error;

	vm = kmalloc(sizeof(*vm), M_KQEMUMON, M_WAITOK | M_NULLOK | M_ZERO);
	if (vm == NULL)
		return (ENOMEM);
	bcopy(init, &d, sizeof(d));	/* kqemu_init takes it writable */
	kqmon_call_enter(&c, vm);
	vm->state = kqemu_init(&d, kqmon_global);
	kqmon_call_leave(&c);
	if (vm->state == NULL) {
		/* kqemu_init unlocks and frees what it took on failure.  A
		 * user page it could not lock is the caller's bad pointer. */
		error = vm->st.lock_failures != 0 ? EFAULT : ENOMEM;
		kfree(vm, M_KQEMUMON);
		return (error);
	}
	*vmp = vm;
	return (0);
}

void *
kqemu_mon_cpu_state(struct kqemu_mon_vm *vm)
{
	return (kqemu_get_cpu_state(vm->state));
}

void
kqemu_mon_exec(struct kqemu_mon_vm *vm)
{
	struct kqmon_call c;

	kqmon_call_enter(&c, vm);
	(void)kqemu_exec(vm->state);
	kqmon_call_leave(&c);
}

int
kqemu_mon_set_phys_mem(struct kqemu_mon_vm *vm, const void *pm)
{
	struct kqemu_phys_mem p;
	struct kqmon_call c;
	int ret;

	bcopy(pm, &p, sizeof(p));
	kqmon_call_enter(&c, vm);
	ret = kqemu_set_phys_mem(vm->state, &p);
	kqmon_call_leave(&c);
	return (ret == 0 ? 0 : EINVAL);
}

void
kqemu_mon_destroy(struct kqemu_mon_vm *vm)
{
	struct kqmon_call c;

	kqmon_call_enter(&c, vm);
	kqemu_delete(vm->state);
	kqmon_call_leave(&c);
	if (vm->st.user_pages != 0 || vm->st.kernel_pages != 0 ||
	    vm->st.vmalloc_bytes != 0)
		panic("kqemu: monitor VM %p deleted with %lu user pages, "
		    "%lu kernel pages, %lu bytes still held", vm,
		    vm->st.user_pages, vm->st.kernel_pages,
		    vm->st.vmalloc_bytes);
	kfree(vm, M_KQEMUMON);
}

void
kqemu_mon_stats(struct kqemu_mon_vm *vm, struct kqemu_mon_stats *st)
{
	st->user_pages = atomic_load_acq_long(&vm->st.user_pages);
	st->user_locks = atomic_load_acq_long(&vm->st.user_locks);
	st->lock_failures = atomic_load_acq_long(&vm->st.lock_failures);
	st->kernel_pages = atomic_load_acq_long(&vm->st.kernel_pages);
	st->vmalloc_bytes = atomic_load_acq_long(&vm->st.vmalloc_bytes);
	st->schedules = atomic_load_acq_long(&vm->st.schedules);
	st->yields = atomic_load_acq_long(&vm->st.yields);
	st->slices = atomic_load_acq_long(&vm->st.slices);
}
