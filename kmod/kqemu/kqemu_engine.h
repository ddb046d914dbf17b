/*
 * kqemu_engine.h - the engine interface: what runs a VM instance once the
 * driver's core has checked the instance state and the ioctl.
 *
 * Owns: struct kqemu_engine_ops, the services the core offers an engine
 * (the locked-pages budget), and the two built-in engines:
 *   decline  GET_VERSION works (the core answers it), INIT fails with ENXIO,
 *            logged once.  QEMU then disables its acceleration layer and runs
 *            in software at full speed.  The default.
 *   conform  the whole kqemu 1.4 contract without acceleration: INIT
 *            validation and user-array probes, the locked-pages budget, the
 *            guest physical map, page-list bookkeeping, a faithful EXEC state
 *            round trip answered with SOFTMMU (or INTR on a pending signal).
 *
 * Linking the real kqemu monitor (GPL, not part of this project): write a C
 * file kqemu_engine_kqemu.c with a `const struct kqemu_engine_ops
 * kqemu_engine_kqemu` whose init calls the monitor's kqemu_init() with the
 * validated struct kqemu_init and a max_locked_pages share obtained through
 * kqemu_core_reserve_pages(), exec calls kqemu_exec() on the instance's
 * monitor state, set_phys_mem kqemu_set_phys_mem(), modify_ram_pages
 * kqemu_modify_ram_pages() and destroy kqemu_delete() plus
 * kqemu_core_release_pages(); add it and the monitor's objects to SRCS and
 * to the table in kqemu_engine_find() (kqemu_core.cc).  The module then
 * carries the GPL's terms; this driver's own files stay BSD licensed.
 *
 * Calling rules: every op runs with the instance lock held (a sleepable
 * lock: an op may copyin/copyout, allocate with M_WAITOK|M_NULLOK and sleep;
 * ops of one instance never run concurrently).  Ops return 0 or a DragonFly
 * errno.  init runs once per successful INIT; destroy once for every
 * successful init, at the instance's last close.  Exception: stats may run
 * without the instance lock, concurrently with any op but destroy (the core
 * unlists an instance before destroying it), so an engine keeps the counters
 * it reports in words it updates and reads atomically.
 *
 * Usable from C and C++; includes only kqemu.h (hermetic).
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
};

extern const struct kqemu_engine_ops kqemu_engine_decline;
extern const struct kqemu_engine_ops kqemu_engine_conform;

/* The engine named name, or NULL. */
const struct kqemu_engine_ops *kqemu_engine_find(const char *name);

/* The global locked-pages budget (max_locked_pages, physmem/2 by default):
 * reserve returns ENOMEM when pages more would pass it. */
int	kqemu_core_reserve_pages(kqemu_u64 pages);
void	kqemu_core_release_pages(kqemu_u64 pages);

#ifdef __cplusplus
}
#endif

#endif /* KQEMU_ENGINE_H */
