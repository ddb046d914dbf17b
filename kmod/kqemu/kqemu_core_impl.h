/*
 * kqemu_core_impl.h - the types of kqemu's hermetic C++ core, shared by
 * kqemu_core.cc (the driver object, instances, the state machine, the
 * ioctl dispatcher, the budget), kqemu_core_stats.cc (the statistics and
 * the listing) and kqemu_decline.cc (the engine table, engine decline).
 * Nothing outside the core includes it; the glue sees kqemu_core.h only.
 *
 * Owns: struct kqemu_instance (opaque to the glue), its per-instance
 * counters, the driver object (kqemu_detail::Driver) and the pointer to
 * the one that exists between MOD_LOAD and MOD_UNLOAD (g_driver).
 *
 * Locking (see also kqemu_core.h; clang's -Wthread-safety checks the
 * GUARDED_BY/REQUIRES below):
 *  - Driver::lock (sleepable) guards the instance list, locked_pages and
 *    the totals.  Under it: list walks, budget arithmetic.  Never an
 *    engine op.
 *  - kqemu_instance::lock (sleepable) guards the instance's state and its
 *    engine state; every ioctl but GET_VERSION holds it across the engine
 *    op, which may copyin/copyout and allocate.
 *  - Order: instance lock, then driver lock (an engine reserving or
 *    releasing budget).  The listing takes only the driver lock and reads
 *    per-instance counters atomically; an instance leaves the list before
 *    its engine state is destroyed, so the listing never sees freed state.
 *  - Statistics: each instance counts its own ioctls in atomic words (no
 *    ioctl writes a shared cache line); the driver keeps rare events and
 *    the totals of deleted instances under its lock, and kqemu_core_stats
 *    sums the two.
 *
 * Design: docs/design.md §8, §12.
 */
#ifndef KQEMU_CORE_IMPL_H
#define KQEMU_CORE_IMPL_H

#include "cxx/kcxx.h"
#include "kqemu_core.h"
#include "kqemu_os.h"

namespace kqemu_detail {

using kcxx::LockGuard;

/* A kqemu_os_lock as a thread-safety-analysis capability. */
class CAPABILITY("mutex") OsLock {
public:
	explicit OsLock(kqemu_os_lock *lk) : lk_(lk) {}
	OsLock(const OsLock &) = delete;
	OsLock &operator=(const OsLock &) = delete;
	void lock() ACQUIRE() { kqemu_os_lock_acquire(lk_); }
	void unlock() RELEASE() { kqemu_os_lock_release(lk_); }
	kqemu_os_lock *raw() const { return lk_; }

private:
	kqemu_os_lock *const lk_;
};

inline void
stat_add(unsigned long *p, unsigned long v = 1)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

inline unsigned long
stat_get(const unsigned long *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Per-instance counters: atomic words (the listing reads them unlocked). */
struct InstanceStats {
	unsigned long ioctls;
	unsigned long errors;
	unsigned long execs;
	unsigned long exec_softmmu;
	unsigned long exec_intr;
	unsigned long exec_exception;
	unsigned long exec_int;
	unsigned long exec_syscall;
	unsigned long exec_abort;
	unsigned long exec_other;
	unsigned long set_phys_mem;
	unsigned long modify_ram_pages;

	/* Add this instance's counts to the driver totals t. */
	void fold_into(kqemu_stats *t) const
	{
		t->execs += stat_get(&execs);
		t->exec_softmmu += stat_get(&exec_softmmu);
		t->exec_intr += stat_get(&exec_intr);
		t->exec_exception += stat_get(&exec_exception);
		t->exec_int += stat_get(&exec_int);
		t->exec_syscall += stat_get(&exec_syscall);
		t->exec_abort += stat_get(&exec_abort);
		t->exec_other += stat_get(&exec_other);
		t->set_phys_mem += stat_get(&set_phys_mem);
		t->modify_ram_pages += stat_get(&modify_ram_pages);
		t->ioctl_errors += stat_get(&errors);
	}
};

} // namespace kqemu_detail

struct kqemu_instance {
	kqemu_instance(kqemu_os_lock *lk, const kqemu_engine_ops *eng,
	    const char *nm, int opener)
	    : lock(lk), engine(eng), pid(opener)
	{
		kcxx::size_t i = 0;
		for (; nm != nullptr && nm[i] != '\0' && i + 1 < sizeof(name); i++)
			name[i] = nm[i];
		name[i] = '\0';
	}
	kqemu_instance(const kqemu_instance &) = delete;
	kqemu_instance &operator=(const kqemu_instance &) = delete;

	int init_locked(const kqemu_init *d) REQUIRES(lock);
	int exec_locked(kqemu_cpu_state *cs) REQUIRES(lock);
	int set_phys_mem_locked(const kqemu_phys_mem *pm) REQUIRES(lock);
	int modify_ram_pages_locked(int count) REQUIRES(lock);

	/* READY (after INIT) exactly when the engine has a state. */
	bool ready_locked() const REQUIRES(lock) { return estate != nullptr; }
	/* The engine state, published for the unlocked listing. */
	void *estate_unlocked() const NO_THREAD_SAFETY_ANALYSIS
	{
		return __atomic_load_n(&estate, __ATOMIC_ACQUIRE);
	}

	kcxx::ListNode node;		/* Driver::instances (driver lock) */
	kqemu_detail::OsLock lock;
	/* NEW while null, READY once INIT set it.  Written under lock with a
	 * release store; the listing reads it with an acquire load. */
	void *estate GUARDED_BY(lock) = nullptr;
	const kqemu_engine_ops *const engine;
	char name[32] = {};
	const int pid;
	kqemu_detail::InstanceStats st = {};
};

namespace kqemu_detail {

struct Driver {
	Driver(kqemu_os_lock *lk, const kqemu_engine_ops *eng, unsigned long max)
	    : lock(lk), engine(eng), max_locked_pages(max)
	{
	}
	Driver(const Driver &) = delete;
	Driver &operator=(const Driver &) = delete;

	OsLock lock;
	kcxx::List<kqemu_instance, &kqemu_instance::node> instances GUARDED_BY(lock);
	const kqemu_engine_ops *const engine;
	const unsigned long max_locked_pages;
	unsigned long locked_pages GUARDED_BY(lock) = 0;
	/* Rare events, and the counters of deleted instances. */
	kqemu_stats totals GUARDED_BY(lock) = {};

	void note_init(bool ok) EXCLUDES(lock)
	{
		LockGuard<OsLock> g(lock);
		if (ok)
			totals.inits++;
		else
			totals.init_errors++;
	}
};

/*
 * Set at MOD_LOAD before the device exists, cleared at MOD_UNLOAD after it
 * is gone and no instance lives: every other entry point runs in between
 * (the kernel orders device creation/destruction against opens).
 */
extern Driver *g_driver;

/* kqemu_decline.cc: decline logs once per module load; MOD_LOAD re-arms
 * it. */
void decline_rearm();

} // namespace kqemu_detail

#endif /* KQEMU_CORE_IMPL_H */
