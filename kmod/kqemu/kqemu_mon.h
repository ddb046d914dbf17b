/*
 * kqemu_mon.h - between the `kqemu` engine (kqemu_engine_kqemu.cc, hermetic
 * C++) and the C glue that drives kqemu 1.4's monitor and gives it its host
 * services (kqemu_mon.c, kqemu_mon_mem.c).
 *
 * Why a separate interface: the glue includes the monitor's own API header
 * (kqemu-kernel.h from the KQEMU_SRC tree, which includes the vendor's
 * kqemu.h), and the engine includes ours (include/kqemu.h): the two
 * declare the same structures and cannot meet in one file.  So the ABI
 * structures cross this interface as untyped pointers, and both sides check
 * at compile time that their sizes are the kqemu 1.4 ones.
 *
 * Built only when the monitor is linked (KQEMU_SRC given; the host tests
 * link a stand-in monitor instead, tests/kqemu/monstub.c).
 *
 * Locking: kqemu_mon_load/unload run at MOD_LOAD/MOD_UNLOAD, nothing else
 * at the same time.  The per-VM calls of one VM are serialized by the
 * caller (the core's instance lock); calls on different VMs run
 * concurrently.  kqemu_mon_stats may run concurrently with any call but
 * destroy (it reads atomic counters).  Every call may sleep.
 *
 * Usable from C and C++; includes nothing.
 *
 * Design: docs/design.md §9.
 */
#ifndef KQEMU_MON_H
#define KQEMU_MON_H

#ifdef __cplusplus
extern "C" {
#endif

/* The kqemu 1.4 sizes both sides check. */
#define KQEMU_MON_INIT_SIZE	48	/* struct kqemu_init */
#define KQEMU_MON_CPU_SIZE	584	/* struct kqemu_cpu_state */
#define KQEMU_MON_PHYS_SIZE	32	/* struct kqemu_phys_mem */

struct kqemu_mon_vm;		/* one monitor instance (opaque) */

/* What the glue counts per VM (hw.kqemu.list). */
struct kqemu_mon_stats {
	unsigned long	user_pages;	/* user pages locked now */
	unsigned long	user_locks;	/* kqemu_lock_user_page successes */
	unsigned long	lock_failures;	/* ... refusals */
	unsigned long	kernel_pages;	/* zeroed kernel pages held now */
	unsigned long	vmalloc_bytes;	/* page-granular kernel memory now */
	unsigned long	schedules;	/* kqemu_schedule calls */
	unsigned long	yields;		/* ... that gave the CPU to another process */
	unsigned long	slices;		/* EXECs ended (INTR) by their time slice */
};

/* MOD_LOAD: the monitor's global state, budget max_locked_pages.  0, or
 * ENOMEM. */
int	kqemu_mon_load(unsigned long max_locked_pages);
/* MOD_UNLOAD, after every VM is destroyed. */
void	kqemu_mon_unload(void);

/* INIT: init points at a validated struct kqemu_init (KQEMU_MON_INIT_SIZE
 * bytes) whose pointers are the calling process's.  0; EFAULT when a user
 * page it names cannot be locked; else ENOMEM when the monitor refuses (its
 * own checks, its budget, memory). */
int	kqemu_mon_create(const void *init, struct kqemu_mon_vm **vmp);
/* The monitor's own CPU state buffer (KQEMU_MON_CPU_SIZE bytes): EXEC
 * copies the caller's state in before kqemu_mon_exec and out after. */
void	*kqemu_mon_cpu_state(struct kqemu_mon_vm *vm);
/* EXEC: run the guest; the exit reason is in the state's retval. */
void	kqemu_mon_exec(struct kqemu_mon_vm *vm);
/* SET_PHYS_MEM: pm points at a struct kqemu_phys_mem.  0 or EINVAL. */
int	kqemu_mon_set_phys_mem(struct kqemu_mon_vm *vm, const void *pm);
/* Last close: every locked page unlocked, every page freed. */
void	kqemu_mon_destroy(struct kqemu_mon_vm *vm);
void	kqemu_mon_stats(struct kqemu_mon_vm *vm, struct kqemu_mon_stats *st);

/* What the linked monitor is and its license, for the load message and
 * sysctl hw.kqemu.license. */
extern const char kqemu_mon_license[];

#ifdef __cplusplus
}
#endif

#endif /* KQEMU_MON_H */
