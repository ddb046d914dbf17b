/*
 * kqemu_decline.cc - the built-in engine `decline` and the engine table
 * (kqemu_engine_default, kqemu_engine_find: the names hw.kqemu.engine
 * accepts).  Hermetic C++.
 *
 * Owns: decline's once-per-load log flag (re-armed by kqemu_core_load
 * through decline_rearm).
 *
 * Locking: none.  decline holds no state; its flag is an atomic word, and
 * the table is constant.
 *
 * Design: docs/design.md §9.
 */
#include "kqemu_core_impl.h"

namespace {

/* decline's one log line per module load. */
int g_decline_logged;

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

void
kqemu_detail::decline_rearm()
{
	__atomic_store_n(&g_decline_logged, 0, __ATOMIC_RELAXED);
}

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
