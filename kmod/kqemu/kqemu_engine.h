/*
 * kqemu_engine.h - the engine interface: what runs a VM instance once the
 * driver's core has checked the instance state and the ioctl.
 *
 * Owns: struct kqemu_engine_ops, the services the core offers an engine
 * (the locked-pages budget), and the two built-in engines:
 *   decline  GET_VERSION works (the core answers it), INIT fails with ENXIO,
 *            logged once.  QEMU then disables its acceleration layer and runs
 *            in software at full speed.  The default without kqemu.
 *   conform  the whole kqemu 1.4 contract without acceleration: INIT
 *            validation and user-array probes, the locked-pages budget, the
 *            guest physical map, page-list bookkeeping, a faithful EXEC state
 *            round trip answered with SOFTMMU (or INTR on a pending signal).
 *
 *   kqemu    kqemu 1.4's own monitor running guests natively
 *            (kqemu_engine_kqemu.cc, kqemu_mon*.c): linked only when the
 *            monitor's GPL source is given at build time (KQEMU_SRC); then
 *            it is the default and the module carries the GPL's terms
 *            (kqemu_module_license); this driver's own files stay BSD.
 *
 * Calling rules: every op runs with the instance lock held (a sleepable
 * lock: an op may copyin/copyout, allocate with M_WAITOK|M_NULLOK and sleep;
 * ops of one instance never run concurrently).  Ops return 0 or a DragonFly
 * errno.  init runs once per successful INIT; destroy once for every
 * successful init, at the instance's last close.  Exception: stats may run
 * without the instance lock, concurrently with any op but destroy (the core
 * unlists an instance before destroying it), so an engine keeps the counters
 * it reports in words it updates and reads atomically.  load and unload
 * (either may be NULL) run once, at MOD_LOAD before any instance exists
 * and at MOD_UNLOAD after the last is destroyed, and only for the engine
 * the module was loaded with.
 *
 * Usable from C and C++; includes only kqemu.h (hermetic).
 *
 * Design: docs/design.md §9.
 */
#ifndef KQEMU_ENGINE_H
#define KQEMU_ENGINE_H

#include "kqemu.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What an engine reports about one instance (sysctl hw.kqemu.list). */
struct kqemu_engine_stats {
	kqemu_u64 ram_size;
	kqemu_u64 locked_pages;		/* charged to the global budget */
	kqemu_u64 phys_ranges;		/* ranges in the guest physical map */
	kqemu_u64 pages_flushed;	/* pages_to_flush entries consumed */
	kqemu_u64 flush_all;		/* EXECs asking for a full flush */
	kqemu_u64 ram_pages_updated;	/* ram_pages_to_update entries consumed */
	kqemu_u64 modified_pages;	/* modified_ram_pages entries consumed */
	/* Engine kqemu: what its monitor holds now and how it scheduled. */
	kqemu_u64 user_pages;		/* user pages locked (wired, held) */
	kqemu_u64 kernel_pages;		/* kernel pages allocated */
	kqemu_u64 lock_failures;	/* user pages it could not lock */
	kqemu_u64 schedules;		/* kqemu_schedule calls */
	kqemu_u64 yields;		/* ... that gave the CPU away */
	kqemu_u64 slices;		/* EXECs ended by their time slice */
};

struct kqemu_engine_ops {
	const char *name;
	/* INIT: validate d (user pointers inside are the caller's), set up,
	 * return the engine's state in *statep. */
	int	(*init)(const struct kqemu_init *d, void **statep);
	/* EXEC: cs is a kernel copy the caller copies back out on success;
	 * the exit reason goes in cs->retval. */
	int	(*exec)(void *state, struct kqemu_cpu_state *cs);
	int	(*set_phys_mem)(void *state, const struct kqemu_phys_mem *pm);
	int	(*modify_ram_pages)(void *state, int count);
	void	(*destroy)(void *state);
	void	(*stats)(void *state, struct kqemu_engine_stats *st);
	/* Module-wide state: budget in pages; 0 or an errno. */
	int	(*load)(unsigned long max_locked_pages);
	void	(*unload)(void);
};

extern const struct kqemu_engine_ops kqemu_engine_decline;
extern const struct kqemu_engine_ops kqemu_engine_conform;

/* The accelerating engine linked into this module (kqemu), or NULL; and the
 * module's license, which is the GPL exactly when one is linked. */
extern const struct kqemu_engine_ops *const kqemu_engine_linked;
extern const char *const kqemu_module_license;

/* The engine named name, or NULL.  kqemu_engine_default() is the linked
 * engine if there is one, else decline. */
const struct kqemu_engine_ops *kqemu_engine_default(void);
const struct kqemu_engine_ops *kqemu_engine_find(const char *name);

/* The global locked-pages budget (max_locked_pages, physmem/2 by default):
 * reserve returns ENOMEM when pages more would pass it. */
int	kqemu_core_reserve_pages(kqemu_u64 pages);
void	kqemu_core_release_pages(kqemu_u64 pages);

/* INIT's shape as kqemu 1.4 checks it, for every engine that runs one:
 * the five user areas page aligned, ram_size a non-zero multiple of the
 * page size below KQEMU_MAX_RAM_SIZE.  0 or EINVAL; reads no user memory. */
int	kqemu_core_check_init(const struct kqemu_init *d);

#ifdef __cplusplus
}
#endif

#endif /* KQEMU_ENGINE_H */
