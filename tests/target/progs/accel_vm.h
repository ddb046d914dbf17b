/*
 * accel_vm.h: our own kqemu client for the accel suite and the accel bench,
 * doing for a minimal PC guest what QEMU 0.10's kqemu.c does
 * (docs/design.md §9 and §12): the guest's RAM, dirty bytes and three
 * page arrays in the process (page aligned, one mapping, as QEMU's
 * kqemu_vmalloc makes them), GET_VERSION, INIT, SET_PHYS_MEM, then an EXEC loop that handles
 * every return code.  The client never interprets a guest instruction: a
 * SOFTMMU return is a failure that names the guest's eip.
 *
 * The guest: 32-bit protected mode with paging (no PAE), a flat GDT, ring 3
 * only (user_only = 1, cpl = 3, as QEMU 0.10 hands kqemu a guest without
 * -kernel-kqemu).  Guest physical = guest linear; the system pages (GDT,
 * IDT, TSS, page directory and tables) are supervisor-only, the code page is
 * user read-only, the comm page, stack and work buffer are user RW.  The
 * workload is a loop of AVM_LOOP_INSNS instructions per iteration (an LCG,
 * a read-modify-write of a buffer word chosen by the LCG, a rotate-xor
 * checksum) that reports progress in the comm page every 65536 iterations,
 * so another process sharing the RAM can see it run.  The same loop is
 * assembled a second time as 64-bit code (avm_native) for the reference
 * result and for the plain-process bench, and written a third time in C
 * (avm_ref) to check the assembly itself.
 *
 * Locking: none; an avm belongs to one process (fork shares its memory when
 * the RAM is shared, never the struct's use).
 */
#ifndef KQT_ACCEL_VM_H
#define KQT_ACCEL_VM_H

#include "kqt.h"
#include <kqemu.h>

/* Guest physical (= linear) layout. */
#define AVM_GDT		0x1000UL
#define AVM_IDT		0x2000UL
#define AVM_TSS		0x3000UL
#define AVM_PD		0x4000UL
#define AVM_PT		0x5000UL	/* 4 page tables: 16 MiB at most */
#define AVM_CODE	0x9000UL
#define AVM_COMM	0xa000UL
#define AVM_STACK_TOP	0xc000UL	/* stack page 0xb000 */
#define AVM_HOLE	0xc000UL	/* a not-present page under a present PDE */
#define AVM_UNMAPPED	0x40000000UL	/* no page directory entry at all */
#define AVM_BUF		0x10000UL
#define AVM_MAX_RAM	(16UL << 20)
#define AVM_MIN_RAM	(AVM_BUF + 0x4000UL)

/* Selectors (GDT indexes as in kqemu's own test client). */
#define AVM_USER_CS	0x23
#define AVM_USER_DS	0x2b
#define AVM_TSS_SEL	0x80

/* The comm page: what the guest reads and reports (32-bit words). */
struct avm_comm {
	volatile uint32_t progress;	/* the loop counter, every 65536 iterations */
	uint32_t seed;
	uint32_t iterations;		/* >= 1 */
	uint32_t mask;			/* buffer words - 1 (a power of two - 1) */
	uint32_t buf;			/* guest address of the buffer */
	volatile uint32_t result;	/* written at the end */
	uint32_t int_chunks;		/* non-zero: int $0x80 at each progress point */
};

/* Guest entry points (offsets into the code page). */
enum avm_entry { AVM_E_START, AVM_E_HLT, AVM_E_CLI, AVM_E_WRITE_UNMAPPED,
	AVM_E_READ_UNMAPPED, AVM_E_WRITE_HOLE };

/* How the guest RAM (and QEMU's other kqemu_vmalloc areas) is mapped. */
enum avm_ram {
	AVM_RAM_FILE,		/* a deleted file in /tmp, MAP_SHARED (QEMU 0.10 on Linux, DragonFly) */
	AVM_RAM_SHARED_ANON,	/* MAP_ANON | MAP_SHARED (QEMU 0.10 on FreeBSD) */
	AVM_RAM_PRIVATE,	/* MAP_ANON | MAP_PRIVATE (what QEMU avoids) */
};

struct avm_stats {
	long execs, intr, int80, softmmu, exceptions, eintr;
};

struct avm {
	int fd;
	enum avm_ram kind;
	unsigned long ram_size;
	uint8_t *map;			/* the whole mapping */
	unsigned long map_len;
	uint8_t *ram;
	uint8_t *dirty;
	uint64_t *flush, *update, *modified;
	struct kqemu_init init;
	struct kqemu_cpu_state cs;
	struct avm_stats st;
	volatile long *phase;		/* if set: how far avm_start got (1..5) */
};

/* Instructions per loop iteration (for the instructions-per-second line). */
#define AVM_LOOP_INSNS	12

/* Maps the memory (ram_size bytes of RAM, a multiple of 4 KiB, in
 * [AVM_MIN_RAM, AVM_MAX_RAM]); 0 or an errno.  fd stays -1. */
int avm_alloc(struct avm *vm, unsigned long ram_size, enum avm_ram kind);
void avm_free(struct avm *vm);
/* Opens /dev/kqemu and runs QEMU's sequence up to SET_PHYS_MEM, builds the
 * guest (page tables, descriptor tables, code).  NULL or a t_fail reason. */
const char *avm_start(struct avm *vm);
/* The workload's buffer: guest words and their count. */
uint32_t *avm_buf(struct avm *vm);
uint32_t avm_buf_words(const struct avm *vm);
struct avm_comm *avm_comm(struct avm *vm);
/* Sets up a run of the workload (clears the buffer, state at the entry). */
void avm_job(struct avm *vm, uint32_t seed, uint32_t iterations, int int_chunks);
/* Runs the EXEC loop until the workload ends; *result = its checksum.
 * Fails on SOFTMMU (with eip), an exception, ABORT, SYSCALL, an unknown
 * code, an ioctl error; INTR and the chunk int $0x80 resume. */
const char *avm_run(struct avm *vm, uint32_t *result);
/* avm_job + avm_run + comparison of checksum and buffer with avm_native. */
const char *avm_check(struct avm *vm, uint32_t seed, uint32_t iterations,
    int int_chunks);
/* Points the guest at a faulting entry, runs one EXEC (INTR resumes) and
 * returns the raw retval; -2 on an ioctl error (errno set). */
int avm_exec_entry(struct avm *vm, enum avm_entry e);
uint32_t avm_entry_addr(enum avm_entry e);

/* The same loop natively (64-bit build of the same instructions); buf has
 * mask + 1 words; returns the checksum. */
uint32_t avm_native(struct avm_comm *c, uint32_t *buf);
/* The loop in C. */
uint32_t avm_ref(uint32_t seed, uint32_t iterations, uint32_t mask, uint32_t *buf);

const char *avm_retname(int retval, char *buf, size_t len);

#endif
