/*
 * kqemu_core.cc - kqemu's instance and ioctl logic (hermetic C++).
 *
 * Owns: the driver object (created at MOD_LOAD, freed at MOD_UNLOAD: no
 * global object with a constructor exists), every VM instance, the
 * instance state machine NEW -> READY, the ioctl dispatcher, the global
 * locked-pages budget, the statistics, the engine table and the built-in
 * `decline` engine.  The `conform` engine lives in kqemu_conform.cc.
 *
 * The core never sees a cdev: the glue hands it the cdev's name at create
 * and keeps the instance pointer in si_drv1.  One instance per cdev is the
 * glue's rule; the core would run any number.
 *
 * Locking (see also kqemu_core.h):
 *  - Driver::lock (sleepable) guards the instance list and locked_pages.
 *    Under it: list walks, budget arithmetic.  Never an engine op.
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
#include "cxx/kcxx.h"
#include "kqemu_core.h"
#include "kqemu_os.h"

namespace {

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

} // namespace

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
	OsLock lock;
	/* NEW while null, READY once INIT set it.  Written under lock with a
	 * release store; the listing reads it with an acquire load. */
	void *estate GUARDED_BY(lock) = nullptr;
	const kqemu_engine_ops *const engine;
	char name[32] = {};
	const int pid;
	InstanceStats st = {};
};

namespace {

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
Driver *g_driver;

/* decline's one log line per module load. */
int g_decline_logged;

} // namespace

/* --- the instance state machine ----------------------------------------- */

int
kqemu_instance::init_locked(const kqemu_init *d)
{
	if (ready_locked())
		return KQEMU_EIO;		/* INIT twice */
	void *es = nullptr;
	int error = engine->init(d, &es);
	g_driver->note_init(error == 0);
	if (error != 0)
		return error;
	__atomic_store_n(&estate, es, __ATOMIC_RELEASE);
	return 0;
}

int
kqemu_instance::exec_locked(kqemu_cpu_state *cs)
{
	if (!ready_locked())
		return KQEMU_EIO;
	int error = engine->exec(estate, cs);
	if (error != 0)
		return error;
	stat_add(&st.execs);
	const kqemu_i32 r = cs->retval;
	if (r == KQEMU_RET_SOFTMMU)
		stat_add(&st.exec_softmmu);
	else if (r == KQEMU_RET_INTR)
		stat_add(&st.exec_intr);
	else if (r == KQEMU_RET_ABORT)
		stat_add(&st.exec_abort);
	else if (r == KQEMU_RET_SYSCALL)
		stat_add(&st.exec_syscall);
	else if ((r & ~0xff) == KQEMU_RET_EXCEPTION)
		stat_add(&st.exec_exception);
	else if ((r & ~0xff) == KQEMU_RET_INT)
		stat_add(&st.exec_int);
	else
		stat_add(&st.exec_other);
	return 0;
}

int
kqemu_instance::set_phys_mem_locked(const kqemu_phys_mem *pm)
{
	if (!ready_locked())
		return KQEMU_EIO;
	int error = engine->set_phys_mem(estate, pm);
	if (error == 0)
		stat_add(&st.set_phys_mem);
	return error;
}

int
kqemu_instance::modify_ram_pages_locked(int count)
{
	if (!ready_locked())
		return KQEMU_EIO;
	int error = engine->modify_ram_pages(estate, count);
	if (error == 0)
		stat_add(&st.modify_ram_pages);
	return error;
}

/* --- entry points from the glue ----------------------------------------- */

extern "C" int
kqemu_core_load(const kqemu_engine_ops *engine, unsigned long max_locked_pages)
{
	if (g_driver != nullptr)
		kqemu_os_panic("kqemu: core loaded twice");
	kqemu_os_lock *lk = kqemu_os_lock_create("kqemudrv");
	if (lk == nullptr)
		return KQEMU_ENOMEM;
	void *mem = kqemu_os_alloc(sizeof(Driver));
	if (mem == nullptr) {
		kqemu_os_lock_destroy(lk);
		return KQEMU_ENOMEM;
	}
	if (engine->load != nullptr) {
		int error = engine->load(max_locked_pages);
		if (error != 0) {
			kqemu_os_free(mem);
			kqemu_os_lock_destroy(lk);
			return error;
		}
	}
	g_driver = new (mem) Driver(lk, engine, max_locked_pages);
	g_decline_logged = 0;
	return 0;
}

extern "C" int
kqemu_core_unload(void)
{
	Driver *d = g_driver;
	if (d == nullptr)
		return 0;
	{
		LockGuard<OsLock> g(d->lock);
		if (!d->instances.empty())
			return KQEMU_EBUSY;
		if (d->locked_pages != 0)
			kqemu_os_panic("kqemu: locked pages outlive every instance");
	}
	g_driver = nullptr;
	if (d->engine->unload != nullptr)
		d->engine->unload();
	kqemu_os_lock *lk = d->lock.raw();
	d->~Driver();
	kqemu_os_free(d);
	kqemu_os_lock_destroy(lk);
	return 0;
}

extern "C" int
kqemu_core_live(void)
{
	Driver *d = g_driver;
	if (d == nullptr)
		return 0;
	LockGuard<OsLock> g(d->lock);
	return static_cast<int>(d->instances.size());
}

extern "C" int
kqemu_core_create(const char *name, kqemu_instance **ip)
{
	Driver *d = g_driver;
	kqemu_os_lock *lk = kqemu_os_lock_create("kqemuvm");
	if (lk == nullptr)
		return KQEMU_ENOMEM;
	void *mem = kqemu_os_alloc(sizeof(kqemu_instance));
	if (mem == nullptr) {
		kqemu_os_lock_destroy(lk);
		return KQEMU_ENOMEM;
	}
	kqemu_instance *inst = new (mem) kqemu_instance(lk, d->engine, name,
	    kqemu_os_pid());
	{
		LockGuard<OsLock> g(d->lock);
		d->instances.push_back(inst);
		d->totals.opens++;
	}
	*ip = inst;
	return 0;
}

extern "C" void
kqemu_core_destroy(kqemu_instance *inst)
{
	Driver *d = g_driver;
	{
		/* Off the list first: the listing must not see it die.  No
		 * ioctl runs on it any more (the glue's close comes after
		 * the last), so its counts are final. */
		LockGuard<OsLock> g(d->lock);
		d->instances.remove(inst);
		inst->st.fold_into(&d->totals);
	}
	{
		/* Waits out an op still running (the glue's close normally
		 * comes after every ioctl has returned). */
		LockGuard<OsLock> g(inst->lock);
		if (inst->ready_locked()) {
			inst->engine->destroy(inst->estate);
			__atomic_store_n(&inst->estate, nullptr, __ATOMIC_RELEASE);
		}
	}
	kqemu_os_lock *lk = inst->lock.raw();
	inst->~kqemu_instance();
	kqemu_os_free(inst);
	kqemu_os_lock_destroy(lk);
}

extern "C" int
kqemu_core_ioctl(kqemu_instance *inst, unsigned long cmd, void *data)
{
	int error;

	stat_add(&inst->st.ioctls);
	switch (cmd) {
	case KQEMU_IOC_GET_VERSION:
		/* Any state, any engine, no lock: a constant. */
		*static_cast<int *>(data) = KQEMU_VERSION;
		return 0;
	case KQEMU_IOC_INIT: {
		LockGuard<OsLock> g(inst->lock);
		error = inst->init_locked(static_cast<const kqemu_init *>(data));
		break;
	}
	case KQEMU_IOC_EXEC: {
		LockGuard<OsLock> g(inst->lock);
		error = inst->exec_locked(static_cast<kqemu_cpu_state *>(data));
		break;
	}
	case KQEMU_IOC_SET_PHYS_MEM: {
		LockGuard<OsLock> g(inst->lock);
		error = inst->set_phys_mem_locked(
		    static_cast<const kqemu_phys_mem *>(data));
		break;
	}
	case KQEMU_IOC_MODIFY_RAM_PAGES: {
		LockGuard<OsLock> g(inst->lock);
		error = inst->modify_ram_pages_locked(*static_cast<const int *>(data));
		break;
	}
	default:
		error = KQEMU_ENOTTY;
		break;
	}
	if (error != 0)
		stat_add(&inst->st.errors);
	return error;
}

extern "C" void
kqemu_core_stats(kqemu_stats *out)
{
	Driver *d = g_driver;
	*out = kqemu_stats{};
	if (d == nullptr)
		return;
	LockGuard<OsLock> g(d->lock);
	*out = d->totals;
	for (kqemu_instance *i = d->instances.front(); i != nullptr;
	    i = d->instances.next(i)) {
		i->st.fold_into(out);
		out->instances++;
	}
	out->locked_pages = d->locked_pages;
	out->max_locked_pages = d->max_locked_pages;
}

extern "C" int
kqemu_core_list(kqemu_instance_info *out, int max)
{
	Driver *d = g_driver;
	if (d == nullptr)
		return 0;
	LockGuard<OsLock> g(d->lock);
	int n = 0;
	for (kqemu_instance *i = d->instances.front(); i != nullptr;
	    i = d->instances.next(i), n++) {
		if (n >= max)
			continue;
		kqemu_instance_info *o = &out[n];
		*o = kqemu_instance_info{};
		for (kcxx::size_t k = 0; k < sizeof(o->name); k++)
			o->name[k] = i->name[k];
		o->pid = i->pid;
		o->engine = i->engine->name;
		o->ioctls = stat_get(&i->st.ioctls);
		o->execs = stat_get(&i->st.execs);
		o->exec_softmmu = stat_get(&i->st.exec_softmmu);
		o->exec_intr = stat_get(&i->st.exec_intr);
		o->exec_exception = stat_get(&i->st.exec_exception);
		o->exec_int = stat_get(&i->st.exec_int);
		o->exec_syscall = stat_get(&i->st.exec_syscall);
		o->exec_abort = stat_get(&i->st.exec_abort);
		o->set_phys_mem = stat_get(&i->st.set_phys_mem);
		o->modify_ram_pages = stat_get(&i->st.modify_ram_pages);
		void *es = i->estate_unlocked();
		o->ready = es != nullptr;
		if (es != nullptr && i->engine->stats != nullptr)
			i->engine->stats(es, &o->es);
	}
	return n;
}

/* --- the budget ---------------------------------------------------------- */

extern "C" int
kqemu_core_reserve_pages(kqemu_u64 pages)
{
	Driver *d = g_driver;
	LockGuard<OsLock> g(d->lock);
	if (pages > d->max_locked_pages ||
	    d->locked_pages > d->max_locked_pages - pages)
		return KQEMU_ENOMEM;
	d->locked_pages += pages;
	return 0;
}

extern "C" void
kqemu_core_release_pages(kqemu_u64 pages)
{
	Driver *d = g_driver;
	LockGuard<OsLock> g(d->lock);
	if (pages > d->locked_pages)
		kqemu_os_panic("kqemu: budget released twice");
	d->locked_pages -= pages;
}

/* --- engines ------------------------------------------------------------- */

namespace {

/*
 * decline: the honest default while no accelerating core is linked.  QEMU
 * asks GET_VERSION (answered by the core), then INIT; ENXIO makes it print
 * that it disables the acceleration layer and run in software at full
 * speed -- faster than any engine that answers every EXEC with SOFTMMU.
 */
int
decline_init(const kqemu_init *, void **)
{
	if (__atomic_exchange_n(&g_decline_logged, 1, __ATOMIC_RELAXED) == 0)
		kqemu_os_log("kqemu: engine \"decline\": no accelerating core is "
		    "linked, so INIT fails with ENXIO and QEMU runs without "
		    "kqemu at full software speed (loader tunable "
		    "hw.kqemu.engine=conform selects the contract-only engine)\n");
	return KQEMU_ENXIO;
}

/* Unreachable (INIT never succeeds); answer like a missing device. */
int decline_exec(void *, kqemu_cpu_state *) { return KQEMU_ENXIO; }
int decline_set_phys_mem(void *, const kqemu_phys_mem *) { return KQEMU_ENXIO; }
int decline_modify_ram_pages(void *, int) { return KQEMU_ENXIO; }
void decline_destroy(void *) {}

} // namespace

extern "C" const kqemu_engine_ops kqemu_engine_decline = {
	"decline",
	decline_init,
	decline_exec,
	decline_set_phys_mem,
	decline_modify_ram_pages,
	decline_destroy,
	nullptr,
	nullptr,
	nullptr,
};

extern "C" const kqemu_engine_ops *
kqemu_engine_default(void)
{
	return kqemu_engine_linked != nullptr ? kqemu_engine_linked :
	    &kqemu_engine_decline;
}

extern "C" const kqemu_engine_ops *
kqemu_engine_find(const char *name)
{
	const kqemu_engine_ops *const table[] = {
		kqemu_engine_linked,	/* kqemu, when KQEMU_SRC linked it */
		&kqemu_engine_decline,
		&kqemu_engine_conform,
	};
	for (const kqemu_engine_ops *e : table) {
		if (e == nullptr)
			continue;
		const char *a = e->name, *b = name;
		while (*a != '\0' && *a == *b) {
			a++;
			b++;
		}
		if (*a == *b)
			return e;
	}
	return nullptr;
}
