/*
 * abi_check.c - compile-time check of include/kqemu.h on the ABI it is
 * compiled for.  Built twice by mk/kqemu.mk: natively (LP64) and with -m32
 * -ffreestanding -fsyntax-only (ILP32, no 32-bit libc needed), so a layout
 * that differs between i386 and amd64 breaks the build.  Offsets are the
 * kqemu 1.4 ones (docs/design.md §12).  Nothing runs: if it compiles, the
 * ABI holds.
 *
 * Locking: none.
 */
#include "kqemu.h"

#define OFF(t, f)	__builtin_offsetof(struct t, f)
#define CHECK(e)	_Static_assert(e, #e)

CHECK(sizeof(kqemu_u64) == 8);
CHECK(sizeof(struct kqemu_segment_cache) == 24);
CHECK(OFF(kqemu_segment_cache, flags) == 4);
CHECK(OFF(kqemu_segment_cache, base) == 8);
CHECK(OFF(kqemu_segment_cache, limit) == 16);

CHECK(sizeof(struct kqemu_cpu_state) == 584);
CHECK(OFF(kqemu_cpu_state, eip) == 128);
CHECK(OFF(kqemu_cpu_state, eflags) == 136);
CHECK(OFF(kqemu_cpu_state, segs) == 144);
CHECK(OFF(kqemu_cpu_state, ldt) == 288);
CHECK(OFF(kqemu_cpu_state, idt) == 360);
CHECK(OFF(kqemu_cpu_state, cr0) == 384);
CHECK(OFF(kqemu_cpu_state, a20_mask) == 416);
CHECK(OFF(kqemu_cpu_state, sysenter_cs) == 424);
CHECK(OFF(kqemu_cpu_state, tsc_offset) == 496);
CHECK(OFF(kqemu_cpu_state, dr0) == 504);
CHECK(OFF(kqemu_cpu_state, dr7) == 544);
CHECK(OFF(kqemu_cpu_state, cpl) == 552);
CHECK(OFF(kqemu_cpu_state, user_only) == 553);
CHECK(OFF(kqemu_cpu_state, error_code) == 556);
CHECK(OFF(kqemu_cpu_state, next_eip) == 560);
CHECK(OFF(kqemu_cpu_state, nb_pages_to_flush) == 568);
CHECK(OFF(kqemu_cpu_state, retval) == 572);
CHECK(OFF(kqemu_cpu_state, nb_ram_pages_to_update) == 576);
CHECK(OFF(kqemu_cpu_state, nb_modified_ram_pages) == 580);

CHECK(sizeof(struct kqemu_init) == 48);
CHECK(OFF(kqemu_init, ram_size) == 8);
CHECK(OFF(kqemu_init, ram_dirty) == 16);
CHECK(OFF(kqemu_init, pages_to_flush) == 24);
CHECK(OFF(kqemu_init, ram_pages_to_update) == 32);
CHECK(OFF(kqemu_init, modified_ram_pages) == 40);

CHECK(sizeof(struct kqemu_phys_mem) == 32);
CHECK(OFF(kqemu_phys_mem, size) == 8);
CHECK(OFF(kqemu_phys_mem, ram_addr) == 16);
CHECK(OFF(kqemu_phys_mem, io_index) == 24);

CHECK(KQEMU_IOC_EXEC == 0xc2487101U);
CHECK(KQEMU_IOC_INIT == 0x80307102U);
CHECK(KQEMU_IOC_GET_VERSION == 0x40047103U);
CHECK(KQEMU_IOC_MODIFY_RAM_PAGES == 0x80047104U);
CHECK(KQEMU_IOC_SET_PHYS_MEM == 0x80207105U);
CHECK(KQEMU_IOC_SWAP_DIR(KQEMU_LINUX_IOC_INIT) == KQEMU_IOC_INIT);
CHECK(KQEMU_IOC_SWAP_DIR(KQEMU_IOC_GET_VERSION) == KQEMU_LINUX_IOC_GET_VERSION);
CHECK(KQEMU_IOC_SWAP_DIR(KQEMU_IOC_EXEC) == KQEMU_LINUX_IOC_EXEC);
CHECK(KQEMU_RET_SOFTMMU == 0x200 && KQEMU_RET_INTR == 0x201);
CHECK(KQEMU_FLUSH_ALL == 513 && KQEMU_RAM_PAGES_UPDATE_ALL == 513);

/* A translation unit must declare something. */
int kqemu_abi_check_ptr_bytes = (int)sizeof(void *);
