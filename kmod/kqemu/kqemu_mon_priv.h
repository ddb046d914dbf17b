/*
 * kqemu_mon_priv.h - what the two halves of the DragonFly glue of kqemu
 * 1.4's monitor share: kqemu_mon.c (the calls into the monitor, the list of
 * calls in progress, kqemu_schedule, kqemu_log) and kqemu_mon_mem.c (the
 * memory services).  Private to those two files; the engine sees only
 * kqemu_mon.h.
 *
 * Brings in the monitor's API (kqemu-kernel.h from the KQEMU_SRC tree, or
 * the host tests' stand-in) and our kqemu_mon.h.  Include it after
 * <sys/param.h>, <sys/malloc.h> and <machine/atomic.h> (via <sys/systm.h>).
 *
 * Locking: a VM's calls are serialized by the core's instance lock; its
 * counters (struct kqemu_mon_vm's st) are atomic words, changed only
 * through kqmon_count and read unlocked by kqemu_mon_stats.
 *
 * Design: docs/design.md §9.
 */
#ifndef KQEMU_MON_PRIV_H
#define KQEMU_MON_PRIV_H

/*
 * The monitor's API, from the KQEMU_SRC tree.  Its CDECL is regparm(0),
 * which gcc ignores on x86_64 with a warning our -Werror would make fatal.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wattributes"
#include "kqemu-kernel.h"
#pragma GCC diagnostic pop

#include "kqemu_mon.h"

MALLOC_DECLARE(M_KQEMUMON);

/* One monitor instance: its state and what the services count for it. */
struct kqemu_mon_vm {
	struct kqemu_state	*state;
	struct kqemu_mon_stats	st;	/* atomic words */
};

/* Add v to one of a VM's counters (p NULL: outside any VM, not counted). */
static __inline void
kqmon_count(unsigned long *p, long v)
{
	if (p != NULL)
		atomic_add_long(p, v);
}

#define KQMON_STAT(vm, f)	((vm) != NULL ? &(vm)->st.f : NULL)

/* The VM the calling thread is working for (NULL outside any VM call). */
struct kqemu_mon_vm *kqmon_current_vm(void);

/* Whether no kqemu_vmalloc allocation is outstanding (checked at unload). */
int kqmon_vallocs_empty(void);

#endif /* !KQEMU_MON_PRIV_H */
