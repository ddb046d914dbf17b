/*
 * kqemu_engine_kqemu.cc - the `kqemu` engine: kqemu 1.4's own monitor runs
 * the guest natively (docs/design.md §9).
 *
 * Owns: one KqemuVm per READY instance -- its share of the locked-pages
 * budget and its monitor VM (kqemu_mon.h) -- and the monitor's global state
 * for the module's lifetime (load/unload).  Linked only when KQEMU_SRC
 * names the monitor's source; then it is the default engine and the module
 * carries the monitor's GPL (kqemu_module_license).
 *
 * What it adds to the monitor: INIT parameters are checked here first so a
 * malformed INIT gets EINVAL (the monitor would only say "no"); each
 * instance is charged KQEMU_MIN_LOCKED_PAGES of the core's budget, the
 * monitor's own per-instance minimum, so the core refuses with ENOMEM
 * before the monitor does; EXEC copies the caller's state into the
 * monitor's own buffer and back, the exit reason in retval; MODIFY_RAM_PAGES
 * has no monitor call in 1.4 (its glues answer nothing), so a valid count
 * is accepted and ignored.
 *
 * Locking: every op but stats runs under the instance lock (kqemu_core.cc);
 * stats reads the glue's atomic counters.
 */
#include "cxx/kcxx.h"
#include "kqemu_engine.h"
#include "kqemu_mon.h"
#include "kqemu_os.h"

static_assert(sizeof(kqemu_init) == KQEMU_MON_INIT_SIZE, "kqemu_init");
static_assert(sizeof(kqemu_cpu_state) == KQEMU_MON_CPU_SIZE, "kqemu_cpu_state");
static_assert(sizeof(kqemu_phys_mem) == KQEMU_MON_PHYS_SIZE, "kqemu_phys_mem");

namespace {

using kcxx::uint64_t;

constexpr uint64_t kPage = KQEMU_PAGE_SIZE;

struct KqemuVm {
	kqemu_mon_vm *mon;
	uint64_t ram_size;
	uint64_t charged;	/* pages reserved in the core's budget */
};

void
copy_bytes(void *dst, const void *src, kcxx::size_t n)
{
	unsigned char *d = static_cast<unsigned char *>(dst);
	const unsigned char *s = static_cast<const unsigned char *>(src);
	for (kcxx::size_t i = 0; i < n; i++)
		d[i] = s[i];
}

int
kqemu_load(unsigned long max_locked_pages)
{
	return kqemu_mon_load(max_locked_pages);
}

void
kqemu_unload()
{
	kqemu_mon_unload();
}

int
kqemu_eng_init(const kqemu_init *d, void **statep)
{
	int error = kqemu_core_check_init(d);
	if (error != 0)
		return error;

	const uint64_t pages = KQEMU_MIN_LOCKED_PAGES;
	error = kqemu_core_reserve_pages(pages);
	if (error != 0)
		return error;
	void *mem = kqemu_os_alloc(sizeof(KqemuVm));
	if (mem == nullptr) {
		kqemu_core_release_pages(pages);
		return KQEMU_ENOMEM;
	}
	KqemuVm *vm = new (mem) KqemuVm{ nullptr, d->ram_size, pages };
	error = kqemu_mon_create(d, &vm->mon);
	if (error != 0) {
		vm->~KqemuVm();
		kqemu_os_free(vm);
		kqemu_core_release_pages(pages);
		return error;
	}
	*statep = vm;
	return 0;
}

int
kqemu_eng_exec(void *state, kqemu_cpu_state *cs)
{
	KqemuVm *vm = static_cast<KqemuVm *>(state);
	void *buf = kqemu_mon_cpu_state(vm->mon);

	copy_bytes(buf, cs, sizeof(*cs));
	kqemu_mon_exec(vm->mon);
	copy_bytes(cs, buf, sizeof(*cs));
	return 0;
}

int
kqemu_eng_set_phys_mem(void *state, const kqemu_phys_mem *pm)
{
	KqemuVm *vm = static_cast<KqemuVm *>(state);
	return kqemu_mon_set_phys_mem(vm->mon, pm);
}

int
kqemu_eng_modify_ram_pages(void *, int count)
{
	if (count < 0 || count > KQEMU_MAX_MODIFIED_RAM_PAGES + 1)
		return KQEMU_EINVAL;
	return 0;
}

void
kqemu_eng_destroy(void *state)
{
	KqemuVm *vm = static_cast<KqemuVm *>(state);
	const uint64_t pages = vm->charged;
	kqemu_mon_destroy(vm->mon);
	vm->~KqemuVm();
	kqemu_os_free(vm);
	kqemu_core_release_pages(pages);
}

void
kqemu_eng_stats(void *state, kqemu_engine_stats *st)
{
	const KqemuVm *vm = static_cast<const KqemuVm *>(state);
	struct kqemu_mon_stats ms{};
	kqemu_mon_stats(vm->mon, &ms);
	st->ram_size = vm->ram_size;
	st->locked_pages = vm->charged;
	st->user_pages = ms.user_pages;
	st->kernel_pages = ms.kernel_pages + ms.vmalloc_bytes / kPage;
	st->lock_failures = ms.lock_failures;
	st->schedules = ms.schedules;
	st->yields = ms.yields;
	st->slices = ms.slices;
}

} // namespace

extern "C" const kqemu_engine_ops kqemu_engine_kqemu = {
	"kqemu",
	kqemu_eng_init,
	kqemu_eng_exec,
	kqemu_eng_set_phys_mem,
	kqemu_eng_modify_ram_pages,
	kqemu_eng_destroy,
	kqemu_eng_stats,
	kqemu_load,
	kqemu_unload,
};

extern "C" const kqemu_engine_ops *const kqemu_engine_linked = &kqemu_engine_kqemu;
extern "C" const char *const kqemu_module_license = kqemu_mon_license;
