/*
 * kqemu_mon.c - DragonFly host glue of kqemu 1.4's monitor: the calls into
 * it behind kqemu_mon.h, the list of calls in progress, and the host
 * services of its kqemu-kernel.h that are not about memory (schedule, log;
 * the memory services are kqemu_mon_mem.c's, what both share is
 * kqemu_mon_priv.h).  Built only when KQEMU_SRC names the monitor's source
 * (then kqemu.ko links GPL code: see README.md); this file itself is ours,
 * BSD.
 *
 * Owns: the monitor's global state (one per module load), each VM's
 * bookkeeping (struct kqemu_mon_vm: its monitor state and counters), and
 * the list of calls in progress that tells a service which VM it works for.
 *
 * The services here, checked against DragonFly 5.8.1's kern code:
 *  - schedule: see kqemu_schedule below (fairness; a signal or the end of
 *    an EXEC's time slice -> INTR).
 *  - log: kvprintf with a "kqemu: " prefix.
 *
 * Locking: kqmon_spin (a spinlock) guards the call list and nothing else;
 * nothing sleeps under it.  A VM's calls are serialized by the core's
 * instance lock; its counters are atomic words (read unlocked by
 * kqemu_mon_stats).  The monitor's global state has its own internal
 * lock.  Design: docs/design.md §9.
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

#include <machine/cpu.h>
#include <machine/stdarg.h>

#include "kqemu_mon_priv.h"

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

static struct spinlock kqmon_spin = SPINLOCK_INITIALIZER(kqmon_spin, "kqmon");
static TAILQ_HEAD(, kqmon_call) kqmon_calls = TAILQ_HEAD_INITIALIZER(kqmon_calls);
static struct kqemu_global_state *kqmon_global;

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
struct kqemu_mon_vm *
kqmon_current_vm(void)
{
	struct kqmon_call *c = kqmon_current_call();

	return (c != NULL ? c->vm : NULL);
}

/* --- the host services not about memory (kqemu-kernel.h) ------------- */

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
	if (!kqmon_vallocs_empty())
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
