/*
 * kqemu_core.cc - kqemu's instance and ioctl logic (hermetic C++).
 *
 * Owns: the driver object (created at MOD_LOAD, freed at MOD_UNLOAD: no
 * global object with a constructor exists), every VM instance, the
 * instance state machine NEW -> READY, the ioctl dispatcher and the global
 * locked-pages budget.  The types are in kqemu_core_impl.h; the statistics
 * and the listing are kqemu_core_stats.cc, the engine table and the
 * built-in `decline` engine kqemu_decline.cc, the `conform` engine
 * kqemu_conform.cc.
 *
 * The core never sees a cdev: the glue hands it the cdev's name at create
 * and keeps the instance pointer in si_drv1.  One instance per cdev is the
 * glue's rule; the core would run any number.
 *
 * Locking (kqemu_core_impl.h has the whole of it): create and destroy
 * take the driver lock to link and unlink; every ioctl but GET_VERSION
 * holds the instance lock across its engine op; the budget is kept under
 * the driver lock, which an engine takes with its instance lock held
 * (instance lock, then driver lock).
 *
 * Design: docs/design.md §8, §12.
 */
#include "kqemu_core_impl.h"

namespace kqemu_detail {

Driver *g_driver;

} // namespace kqemu_detail

using kqemu_detail::Driver;
using kqemu_detail::g_driver;
using kqemu_detail::LockGuard;
using kqemu_detail::OsLock;
using kqemu_detail::stat_add;

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
	kqemu_detail::decline_rearm();
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

/* --- what every engine's INIT checks ------------------------------------- */

extern "C" int
kqemu_core_check_init(const kqemu_init *d)
{
	const auto aligned = [](kqemu_u64 v) {
		return (v & (KQEMU_PAGE_SIZE - 1)) == 0;
	};
	const auto addr = [](const void *p) {
		return static_cast<kqemu_u64>(reinterpret_cast<kcxx::uintptr_t>(p));
	};
	if (!aligned(addr(d->ram_base)) || !aligned(addr(d->ram_dirty)) ||
	    !aligned(addr(d->pages_to_flush)) ||
	    !aligned(addr(d->ram_pages_to_update)) ||
	    !aligned(addr(d->modified_ram_pages)))
		return KQEMU_EINVAL;
	if (d->ram_size == 0 || !aligned(d->ram_size) ||
	    d->ram_size >= KQEMU_MAX_RAM_SIZE)
		return KQEMU_EINVAL;
	return 0;
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
