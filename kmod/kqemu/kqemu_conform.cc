/*
 * kqemu_conform.cc - the `conform` engine: the whole kqemu 1.4 contract
 * without acceleration (docs/design.md §12).
 *
 * Owns: one ConformVm per READY instance -- a copy of the INIT parameters,
 * its share of the locked-pages budget, the guest physical map, the last
 * CPU state seen, and its counters.
 *
 * What it does: validates INIT as the kqemu core does (page-aligned
 * pointers, ram_size a multiple of 4 KiB, non-zero and below 0x7ffff000)
 * and probes that each of the five user areas is readable and writable at
 * its first and last byte (copyin of one byte, copyout of the same byte
 * back: kqemu locks these pages writable, so an area that is not gets
 * EFAULT at INIT rather than at some later EXEC); charges
 * KQEMU_MIN_LOCKED_PAGES to the global budget (ENOMEM when exhausted) and
 * returns them on destroy; keeps the guest physical map (overlapping
 * updates replace what they cover, UNASSIGNED removes); consumes the page
 * lists EXEC and MODIFY_RAM_PAGES name (copyin of each entry) and zeroes
 * the counters it consumed; hands the CPU state back exactly as it came,
 * with retval SOFTMMU, or INTR when a signal is pending for the caller.
 *
 * What it does not do: run guest code.  QEMU interprets every block
 * itself, so a guest runs correctly but slower than with no kqemu at all
 * (docs/design.md §9): this engine is for tests, the demo and conformance
 * with real QEMU, never the default.
 *
 * Locking: every op but stats runs under the instance lock (kqemu_core.cc),
 * so the VM's fields need no lock of their own; the counters stats reports
 * are written and read with atomic operations.
 */
#include "cxx/kcxx.h"
#include "kqemu_engine.h"
#include "kqemu_os.h"

namespace {

using kcxx::uint32_t;
using kcxx::uint64_t;

constexpr uint64_t kPage = KQEMU_PAGE_SIZE;
/* Ranges a guest physical map may hold; a PC guest under QEMU 0.10 uses a
 * few dozen.  More is refused with ENOMEM (the map is fixed-size). */
constexpr int kMaxRanges = 256;
/* Entries copied in per step while consuming a page list. */
constexpr int kChunk = 32;

struct PhysRange {
	uint64_t start;		/* guest physical, inclusive */
	uint64_t end;		/* exclusive */
	uint64_t ram_addr;	/* offset into QEMU's RAM at start (RAM/ROM) */
	uint32_t io_index;
};

struct Counters {
	uint64_t phys_ranges;
	uint64_t pages_flushed;
	uint64_t flush_all;
	uint64_t ram_pages_updated;
	uint64_t modified_pages;
};

struct ConformVm {
	kqemu_init d;
	uint64_t locked_pages;
	int nranges;
	PhysRange ranges[kMaxRanges];	/* sorted by start, disjoint */
	kqemu_cpu_state cpu;		/* the state as last handed in */
	Counters c;			/* atomic words */
};

inline void
count(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

inline uint64_t
get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

inline bool
page_aligned(uint64_t v)
{
	return (v & (kPage - 1)) == 0;
}

inline uint64_t
uaddr(const void *p)
{
	return reinterpret_cast<kcxx::uintptr_t>(p);
}

/* The area [p, p + len) is user memory the caller can read and write. */
int
probe(void *p, uint64_t len)
{
	/* User addresses are numbers to us: arithmetic on them as pointers
	 * is undefined when p is NULL (a bad INIT argument). */
	unsigned char *ends[2] = { static_cast<unsigned char *>(p),
	    reinterpret_cast<unsigned char *>(uaddr(p) + (len - 1)) };
	for (unsigned char *u : ends) {
		unsigned char b;
		int error = kqemu_os_copyin(u, &b, 1);
		if (error == 0)
			error = kqemu_os_copyout(&b, u, 1);
		if (error != 0)
			return KQEMU_EFAULT;
	}
	return 0;
}

/* Copy in n entries of a page list, as the monitor would read them. */
int
consume(const uint64_t *list, uint32_t n)
{
	uint64_t buf[kChunk];
	for (uint32_t i = 0; i < n; i += kChunk) {
		uint32_t k = n - i < kChunk ? n - i : kChunk;
		if (kqemu_os_copyin(list + i, buf, k * sizeof(buf[0])) != 0)
			return KQEMU_EFAULT;
	}
	return 0;
}

int
conform_init(const kqemu_init *d, void **statep)
{
	const uint64_t ram_size = d->ram_size;
	int error = kqemu_core_check_init(d);
	if (error != 0)
		return error;

	struct {
		void *p;
		uint64_t len;
	} const areas[] = {
		{ d->ram_base, ram_size },
		{ d->ram_dirty, ram_size / kPage },
		{ d->pages_to_flush, KQEMU_MAX_PAGES_TO_FLUSH * sizeof(uint64_t) },
		{ d->ram_pages_to_update, KQEMU_MAX_RAM_PAGES_TO_UPDATE * sizeof(uint64_t) },
		{ d->modified_ram_pages, KQEMU_MAX_MODIFIED_RAM_PAGES * sizeof(uint64_t) },
	};
	for (const auto &a : areas) {
		if (probe(a.p, a.len) != 0)
			return KQEMU_EFAULT;
	}

	const uint64_t pages = KQEMU_MIN_LOCKED_PAGES;
	error = kqemu_core_reserve_pages(pages);
	if (error != 0)
		return error;
	void *mem = kqemu_os_alloc(sizeof(ConformVm));
	if (mem == nullptr) {
		kqemu_core_release_pages(pages);
		return KQEMU_ENOMEM;
	}
	ConformVm *vm = new (mem) ConformVm{};
	vm->d = *d;
	vm->locked_pages = pages;
	*statep = vm;
	return 0;
}

int
conform_exec(void *state, kqemu_cpu_state *cs)
{
	ConformVm *vm = static_cast<ConformVm *>(state);

	if (cs->nb_pages_to_flush > KQEMU_FLUSH_ALL ||
	    cs->nb_ram_pages_to_update > KQEMU_RAM_PAGES_UPDATE_ALL ||
	    cs->nb_modified_ram_pages > KQEMU_MAX_MODIFIED_RAM_PAGES)
		return KQEMU_EINVAL;

	/* The page lists QEMU filled since the last EXEC. */
	int error = 0;
	if (cs->nb_pages_to_flush == KQEMU_FLUSH_ALL) {
		count(&vm->c.flush_all, 1);
	} else if ((error = consume(vm->d.pages_to_flush, cs->nb_pages_to_flush)) == 0) {
		count(&vm->c.pages_flushed, cs->nb_pages_to_flush);
	}
	if (error == 0 && cs->nb_ram_pages_to_update != KQEMU_RAM_PAGES_UPDATE_ALL &&
	    (error = consume(vm->d.ram_pages_to_update, cs->nb_ram_pages_to_update)) == 0)
		count(&vm->c.ram_pages_updated, cs->nb_ram_pages_to_update);
	if (error == 0 &&
	    (error = consume(vm->d.modified_ram_pages, cs->nb_modified_ram_pages)) == 0)
		count(&vm->c.modified_pages, cs->nb_modified_ram_pages);
	if (error != 0)
		return error;

	/*
	 * The monitor takes the state and gives it back: nothing ran, so
	 * every field returns as it came, except what the exit reports.
	 */
	vm->cpu = *cs;
	*cs = vm->cpu;
	cs->nb_pages_to_flush = 0;
	cs->nb_ram_pages_to_update = 0;	/* no ram_dirty entry changed */
	cs->nb_modified_ram_pages = 0;
	cs->retval = kqemu_os_signal_pending() ? KQEMU_RET_INTR : KQEMU_RET_SOFTMMU;
	return 0;
}

int
conform_set_phys_mem(void *state, const kqemu_phys_mem *pm)
{
	ConformVm *vm = static_cast<ConformVm *>(state);
	const uint64_t start = pm->phys_addr, size = pm->size;

	if (!page_aligned(start) || !page_aligned(size) || size == 0 ||
	    start >= KQEMU_PHYS_LIMIT || size > KQEMU_PHYS_LIMIT - start)
		return KQEMU_EINVAL;
	const uint64_t end = start + size;
	switch (pm->io_index) {
	case KQEMU_IO_MEM_RAM:
	case KQEMU_IO_MEM_ROM:
		/* Backed by QEMU's RAM: the whole range must lie inside it. */
		if (!page_aligned(pm->ram_addr) || pm->ram_addr >= vm->d.ram_size ||
		    size > vm->d.ram_size - pm->ram_addr)
			return KQEMU_EINVAL;
		break;
	case KQEMU_IO_MEM_COMM:
	case KQEMU_IO_MEM_UNASSIGNED:
		break;
	default:
		return KQEMU_EINVAL;
	}

	/* Ranges [i, j) overlap [start, end). */
	int i = 0;
	while (i < vm->nranges && vm->ranges[i].end <= start)
		i++;
	int j = i;
	while (j < vm->nranges && vm->ranges[j].start < end)
		j++;

	/* What replaces them: the uncovered left and right pieces and, unless
	 * the range becomes unassigned, the new range between them. */
	PhysRange repl[3];
	int k = 0;
	if (i < j && vm->ranges[i].start < start) {
		repl[k] = vm->ranges[i];
		repl[k].end = start;
		k++;
	}
	if (pm->io_index != KQEMU_IO_MEM_UNASSIGNED)
		repl[k++] = PhysRange{ start, end, pm->ram_addr, pm->io_index };
	if (i < j && vm->ranges[j - 1].end > end) {
		const PhysRange &r = vm->ranges[j - 1];
		repl[k] = r;
		repl[k].start = end;
		if (r.io_index == KQEMU_IO_MEM_RAM || r.io_index == KQEMU_IO_MEM_ROM)
			repl[k].ram_addr = r.ram_addr + (end - r.start);
		k++;
	}
	const int n = vm->nranges - (j - i) + k;
	if (n > kMaxRanges)
		return KQEMU_ENOMEM;

	/* Move the tail [j, nranges) to i + k, then write the replacement. */
	const int tail = vm->nranges - j;
	if (i + k > j) {
		for (int t = tail - 1; t >= 0; t--)
			vm->ranges[i + k + t] = vm->ranges[j + t];
	} else if (i + k < j) {
		for (int t = 0; t < tail; t++)
			vm->ranges[i + k + t] = vm->ranges[j + t];
	}
	for (int t = 0; t < k; t++)
		vm->ranges[i + t] = repl[t];
	vm->nranges = n;
	__atomic_store_n(&vm->c.phys_ranges, static_cast<uint64_t>(n), __ATOMIC_RELAXED);
	return 0;
}

int
conform_modify_ram_pages(void *state, int count_in)
{
	ConformVm *vm = static_cast<ConformVm *>(state);

	if (count_in < 0 || (count_in > KQEMU_MAX_MODIFIED_RAM_PAGES &&
	    count_in != KQEMU_MAX_MODIFIED_RAM_PAGES + 1))
		return KQEMU_EINVAL;
	/* In 1.4 the monitor only notes the pages; "all" names no entry. */
	if (count_in > KQEMU_MAX_MODIFIED_RAM_PAGES)
		return 0;
	int error = consume(vm->d.modified_ram_pages, static_cast<uint32_t>(count_in));
	if (error == 0)
		count(&vm->c.modified_pages, static_cast<uint64_t>(count_in));
	return error;
}

void
conform_destroy(void *state)
{
	ConformVm *vm = static_cast<ConformVm *>(state);
	const uint64_t pages = vm->locked_pages;
	vm->~ConformVm();
	kqemu_os_free(vm);
	kqemu_core_release_pages(pages);
}

void
conform_stats(void *state, kqemu_engine_stats *st)
{
	const ConformVm *vm = static_cast<const ConformVm *>(state);
	/* d and locked_pages are written once, before the state is published. */
	st->ram_size = vm->d.ram_size;
	st->locked_pages = vm->locked_pages;
	st->phys_ranges = get(&vm->c.phys_ranges);
	st->pages_flushed = get(&vm->c.pages_flushed);
	st->flush_all = get(&vm->c.flush_all);
	st->ram_pages_updated = get(&vm->c.ram_pages_updated);
	st->modified_pages = get(&vm->c.modified_pages);
}

} // namespace

extern "C" const kqemu_engine_ops kqemu_engine_conform = {
	"conform",
	conform_init,
	conform_exec,
	conform_set_phys_mem,
	conform_modify_ram_pages,
	conform_destroy,
	conform_stats,
	nullptr,
	nullptr,
};
