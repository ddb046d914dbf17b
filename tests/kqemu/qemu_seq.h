/*
 * qemu_seq.h - what QEMU 0.10/0.11 does with /dev/kqemu, as a library.
 *
 * Owns: a guest "VM" laid out as QEMU lays it out for kqemu (page-aligned
 * RAM, dirty map, the three page lists, and a page for the ioctl
 * arguments, all in one page-aligned block so a host-kernel test can
 * declare it user memory in one call), and the call sequence: GET_VERSION,
 * INIT, SET_PHYS_MEM for a PC-like map (RAM, VGA hole, ROMs, RAM above
 * 1 MiB, the BIOS at the top of 4 GiB, the kqemu communication page), then
 * an EXEC loop that fills the page lists between EXECs, checks that every
 * field of the CPU state comes back unchanged, and calls MODIFY_RAM_PAGES
 * whenever the modified-pages table fills.
 *
 * Parameterised by an ioctl callback so the same sequence runs through
 * the host kernel (hk_ioctl) and through a real process (ioctl(2) on a
 * devhost node, where the caller maps the BSD command word to Linux with
 * KQEMU_IOC_SWAP_DIR).  The callback always receives BSD command words and
 * pointers into vm->args.
 *
 * Locking: none; one VM per thread.
 */
#ifndef QEMU_SEQ_H
#define QEMU_SEQ_H

#include <stddef.h>
#include <stdint.h>

#include "kqemu.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 0 or an errno (never sets errno). */
typedef int (*kqs_ioctl_fn)(void *ctx, unsigned long bsd_cmd, void *arg);

/* The ioctl arguments: live in the VM's block (user memory). */
struct kqs_args {
	struct kqemu_cpu_state cpu;
	struct kqemu_init init;
	struct kqemu_phys_mem phys;
	int version;
	int count;
};

struct kqs_vm {
	void		*block;		/* page aligned, block_len bytes */
	size_t		block_len;
	uint8_t		*ram;
	size_t		ram_size;
	uint8_t		*ram_dirty;
	uint64_t	*pages_to_flush;
	uint64_t	*ram_pages_to_update;
	uint64_t	*modified_ram_pages;
	struct kqs_args	*args;
	unsigned int	nb_modified;	/* QEMU's pending modified pages */
};

/* Allocate a VM with ram_size bytes of RAM (a multiple of 4 KiB, at least
 * 2 MiB for the PC map).  0 or ENOMEM/EINVAL. */
int	kqs_vm_alloc(struct kqs_vm *vm, size_t ram_size);
void	kqs_vm_free(struct kqs_vm *vm);

/* Where a sequence stopped and what it saw. */
struct kqs_result {
	const char	*step;		/* "GET_VERSION", "INIT", ... or NULL */
	int		error;		/* errno, or KQS_E* below */
	int		version;
	int		phys_errors;	/* SET_PHYS_MEM refusals (QEMU prints them) */
	int		execs;
	int		softmmu;
	int		intr;
	int		modify_calls;
};
#define KQS_EVERSION	10001	/* GET_VERSION answered another version */
#define KQS_EROUNDTRIP	10002	/* EXEC changed a field it must not */
#define KQS_ERETVAL	10003	/* EXEC returned an unexpected exit reason */

/* Each step alone (the sequence calls them in order). */
int	kqs_get_version(kqs_ioctl_fn fn, void *ctx, struct kqs_vm *vm, int *version);
int	kqs_init(kqs_ioctl_fn fn, void *ctx, struct kqs_vm *vm);
int	kqs_set_phys_mem(kqs_ioctl_fn fn, void *ctx, struct kqs_vm *vm,
	    uint64_t phys, uint64_t size, uint64_t ram_addr, uint32_t io_index);
/* The PC map; returns how many ranges were refused. */
int	kqs_map_pc(kqs_ioctl_fn fn, void *ctx, struct kqs_vm *vm);
/* One EXEC with a CPU state derived from seed and page lists filled as
 * QEMU fills them; checks the round trip.  *retval gets the exit reason. */
int	kqs_exec_once(kqs_ioctl_fn fn, void *ctx, struct kqs_vm *vm,
	    unsigned int seed, int *retval, int *modify_calls);

/* The whole sequence with nexec EXECs.  0 when every step succeeded and
 * every EXEC round-tripped; else the errno or KQS_E* (also in res). */
int	kqs_run(kqs_ioctl_fn fn, void *ctx, struct kqs_vm *vm, int nexec,
	    struct kqs_result *res);

#ifdef __cplusplus
}
#endif

#endif /* QEMU_SEQ_H */
