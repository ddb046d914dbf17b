/*
 * kqemu_core_stats.cc - what kqemu's core tells the glue: the driver-wide
 * statistics (sysctl hw.kqemu.*) and the listing of live instances
 * (hw.kqemu.list).  Hermetic C++.
 *
 * Owns: nothing but the reading: the counters live in each instance (its
 * own atomic words) and in the driver's totals (kqemu_core_impl.h).
 *
 * Locking: both take the driver lock only, never an instance lock, and
 * read each instance's counters with atomic loads; a READY instance's
 * engine state is read through its acquire-published pointer, and the
 * engine's stats op may run concurrently with any op of that instance
 * but destroy (an instance leaves the list before its engine state goes).
 *
 * Design: docs/design.md §8.
 */
#include "kqemu_core_impl.h"

using kqemu_detail::Driver;
using kqemu_detail::g_driver;
using kqemu_detail::LockGuard;
using kqemu_detail::OsLock;
using kqemu_detail::stat_get;

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
