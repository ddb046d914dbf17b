/*
 * kqemu_core.h - between kqemu's C glue (kqemu_dev.c, kqemu_module.c,
 * kqemu_sysctl.c) and its C++ core (kqemu_core.cc, kqemu_core_stats.cc,
 * kqemu_decline.cc).
 *
 * Owns: the core's entry points (load/unload, instance create/destroy, the
 * ioctl dispatcher, the instance listing) and the driver-wide statistics the
 * glue exports as sysctl hw.kqemu.*.
 *
 * Locking: the core has one driver lock (a kqemu_os_lock) guarding the
 * instance list and the budget, and one sleepable lock per instance that
 * serializes that instance's ioctls and engine ops.  Order: the glue's
 * device lock, then the driver lock; an instance lock is never held while
 * taking the driver lock except through kqemu_core_reserve/release_pages
 * (instance lock -> driver lock is the only nesting).  Per-instance
 * counters are atomic words of that instance; driver-wide ones are kept
 * under the driver lock (kqemu_core_stats).
 *
 * Usable from C and C++; includes only kqemu headers (hermetic).
 *
 * Design: docs/design.md §8.
 */
#ifndef KQEMU_CORE_H
#define KQEMU_CORE_H

#include "kqemu.h"
#include "kqemu_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

struct kqemu_instance;		/* opaque to the glue */

/*
 * Driver-wide counters, as sysctl hw.kqemu.* shows them.  No ioctl writes a
 * shared word: the hot counters live in each instance and are summed here
 * with those of deleted instances.
 */
struct kqemu_stats {
	unsigned long	instances;	/* live instances */
	unsigned long	opens;		/* instances created */
	unsigned long	inits;		/* successful INITs */
	unsigned long	init_errors;	/* refused INITs */
	unsigned long	execs;		/* successful EXECs */
	unsigned long	exec_softmmu;	/* ... that returned KQEMU_RET_SOFTMMU */
	unsigned long	exec_intr;	/* ... KQEMU_RET_INTR */
	unsigned long	exec_exception;	/* ... KQEMU_RET_EXCEPTION | n */
	unsigned long	exec_int;	/* ... KQEMU_RET_INT | n */
	unsigned long	exec_syscall;	/* ... KQEMU_RET_SYSCALL */
	unsigned long	exec_abort;	/* ... KQEMU_RET_ABORT */
	unsigned long	exec_other;	/* ... any other exit reason */
	unsigned long	set_phys_mem;	/* successful SET_PHYS_MEMs */
	unsigned long	modify_ram_pages;	/* successful MODIFY_RAM_PAGES */
	unsigned long	ioctl_errors;	/* ioctls answered with an errno */
	unsigned long	locked_pages;	/* budget in use */
	unsigned long	max_locked_pages;	/* budget */
};
/* A consistent snapshot (taken under the driver lock). */
void	kqemu_core_stats(struct kqemu_stats *out);

/* MOD_LOAD: engine for new instances, budget in pages; runs the engine's
 * load.  0, ENOMEM or the engine's errno. */
int	kqemu_core_load(const struct kqemu_engine_ops *engine,
	    unsigned long max_locked_pages);
/* MOD_UNLOAD: EBUSY while an instance lives; else frees the core. */
int	kqemu_core_unload(void);
/* Instances alive now. */
int	kqemu_core_live(void);

/* d_open: a NEW instance for the cdev named name; 0 or ENOMEM. */
int	kqemu_core_create(const char *name, struct kqemu_instance **ip);
/* d_close: delete it (engine destroy, budget returned, memory freed). */
void	kqemu_core_destroy(struct kqemu_instance *inst);
/* d_ioctl: cmd is the BSD command word; data the kernel copy. */
int	kqemu_core_ioctl(struct kqemu_instance *inst, unsigned long cmd,
	    void *data);

/* One instance, as hw.kqemu.list prints it. */
struct kqemu_instance_info {
	char		name[32];	/* its cdev */
	int		pid;		/* process that opened it */
	int		ready;		/* 0 NEW, 1 READY */
	const char	*engine;
	unsigned long	ioctls;
	unsigned long	execs;
	unsigned long	exec_softmmu;
	unsigned long	exec_intr;
	unsigned long	exec_exception;
	unsigned long	exec_int;
	unsigned long	exec_syscall;
	unsigned long	exec_abort;
	unsigned long	set_phys_mem;
	unsigned long	modify_ram_pages;
	struct kqemu_engine_stats es;
};
/* Fill at most max entries; returns how many instances live. */
int	kqemu_core_list(struct kqemu_instance_info *out, int max);

#ifdef __cplusplus
}
#endif

#endif /* KQEMU_CORE_H */
