/*
 * kqemu.h - the kqemu 1.4 user/kernel ABI, as QEMU 0.10/0.11 speaks it.
 *
 * Owns: the structures passed through /dev/kqemu ioctls, the ioctl command
 * words (BSD encoding, which DragonFly's kernel and the host kernel use, and
 * Linux encoding, which a QEMU built on Linux sends through devhost), the
 * EXEC exit reasons, the guest physical memory kinds and the page-list
 * limits.  Written in our own words; docs/design.md §12.
 *
 * Usable from C and C++, from user space and from the kernel.  In the kernel
 * (and in the freestanding C++ cores) it includes nothing: fixed-width types
 * come from the compiler's __UINT64_TYPE__ and friends.
 *
 * Layout: every structure has the same size and field offsets on ILP32
 * (i386) and LP64 (amd64).  A user pointer is followed, on ILP32 only, by 32
 * bits of padding so that it occupies 8 bytes either way.  The sizes and
 * command words are checked at compile time below; tests/kqemu/abi_check.c
 * repeats the checks with field offsets and is compiled with -m32 too.
 *
 * Locking: none (declarations only).
 */
#ifndef KQEMU_H
#define KQEMU_H

typedef __UINT8_TYPE__ kqemu_u8;
typedef __UINT16_TYPE__ kqemu_u16;
typedef __UINT32_TYPE__ kqemu_u32;
typedef __INT32_TYPE__ kqemu_i32;
typedef __UINT64_TYPE__ kqemu_u64;

/* QEMU compares the driver's answer to GET_VERSION for exact equality. */
#define KQEMU_VERSION		0x010400

/* The device QEMU opens, O_RDWR. */
#define KQEMU_DEVICE_NAME	"kqemu"
#define KQEMU_DEVICE_PATH	"/dev/kqemu"

/*
 * A user pointer stored in 8 bytes on every ABI: the pointer, then (ILP32
 * only) an explicit pad that the kernel ignores.
 */
#if __SIZEOF_POINTER__ == 4
#define KQEMU_UPTR(type, name)	type *name; kqemu_u32 name##_pad
#elif __SIZEOF_POINTER__ == 8
#define KQEMU_UPTR(type, name)	type *name
#else
#error "kqemu.h: unsupported pointer size"
#endif

/* A segment register's hidden cache (24 bytes). */
struct kqemu_segment_cache {
	kqemu_u16 selector;
	kqemu_u16 pad1;
	kqemu_u32 flags;
	kqemu_u64 base;
	kqemu_u32 limit;
	kqemu_u32 pad2;
};

/*
 * The guest CPU state EXEC takes in and hands back (584 bytes).  The driver
 * returns it whole: every field QEMU reads afterwards must come back either
 * unchanged or with the monitor's update; retval carries the exit reason.
 */
struct kqemu_cpu_state {
	kqemu_u64 regs[16];
	kqemu_u64 eip;
	kqemu_u64 eflags;

	struct kqemu_segment_cache segs[6];	/* es cs ss ds fs gs */
	struct kqemu_segment_cache ldt;
	struct kqemu_segment_cache tr;
	struct kqemu_segment_cache gdt;		/* base and limit only */
	struct kqemu_segment_cache idt;		/* base and limit only */

	kqemu_u64 cr0;
	kqemu_u64 cr2;
	kqemu_u64 cr3;
	kqemu_u64 cr4;
	kqemu_u64 a20_mask;

	kqemu_u64 sysenter_cs;
	kqemu_u64 sysenter_esp;
	kqemu_u64 sysenter_eip;
	kqemu_u64 efer;
	kqemu_u64 star;
	kqemu_u64 lstar;
	kqemu_u64 cstar;
	kqemu_u64 fmask;
	kqemu_u64 kernelgsbase;

	kqemu_u64 tsc_offset;

	kqemu_u64 dr0;
	kqemu_u64 dr1;
	kqemu_u64 dr2;
	kqemu_u64 dr3;
	kqemu_u64 dr6;
	kqemu_u64 dr7;

	kqemu_u8 cpl;
	kqemu_u8 user_only;
	kqemu_u16 pad1;

	kqemu_u32 error_code;	/* set when leaving with an exception */
	kqemu_u64 next_eip;	/* set when leaving with a software interrupt */

	/* In: pages QEMU wants flushed from the monitor's TLB (<= 512, or
	 * KQEMU_FLUSH_ALL).  Out: 0 once consumed. */
	kqemu_u32 nb_pages_to_flush;
	kqemu_i32 retval;	/* out: KQEMU_RET_* */
	/* In: ram_dirty entries QEMU changed (<= 512, or
	 * KQEMU_RAM_PAGES_UPDATE_ALL).  Out: entries the monitor changed. */
	kqemu_u32 nb_ram_pages_to_update;
	/* In: RAM pages QEMU wrote (<= 512).  Out: 0 once consumed. */
	kqemu_u32 nb_modified_ram_pages;
};

/*
 * INIT (48 bytes): QEMU's guest RAM and the four page arrays the monitor
 * shares with it.  Every pointer is page aligned; ram_size is a multiple of
 * 4 KiB and below KQEMU_MAX_RAM_SIZE.
 */
struct kqemu_init {
	KQEMU_UPTR(kqemu_u8, ram_base);
	kqemu_u64 ram_size;
	KQEMU_UPTR(kqemu_u8, ram_dirty);		/* one byte per RAM page */
	KQEMU_UPTR(kqemu_u64, pages_to_flush);		/* 512 guest addresses */
	KQEMU_UPTR(kqemu_u64, ram_pages_to_update);	/* 512 RAM offsets */
	KQEMU_UPTR(kqemu_u64, modified_ram_pages);	/* 512 RAM offsets */
};

/* SET_PHYS_MEM (32 bytes): one range of the guest physical map. */
struct kqemu_phys_mem {
	kqemu_u64 phys_addr;	/* page aligned, below 4 GiB */
	kqemu_u64 size;		/* page aligned, > 0, end below 4 GiB */
	kqemu_u64 ram_addr;	/* offset into QEMU's RAM (RAM/ROM ranges) */
	kqemu_u32 io_index;	/* KQEMU_IO_MEM_* */
	kqemu_u32 pad;
};

/* io_index values. */
#define KQEMU_IO_MEM_RAM	0
#define KQEMU_IO_MEM_ROM	1
#define KQEMU_IO_MEM_COMM	2	/* QEMU's kqemu communication page */
#define KQEMU_IO_MEM_UNASSIGNED	3

/* Page-list limits: 512 entries per array; the "all" value is one more. */
#define KQEMU_MAX_PAGES_TO_FLUSH	512
#define KQEMU_FLUSH_ALL			(KQEMU_MAX_PAGES_TO_FLUSH + 1)
#define KQEMU_MAX_RAM_PAGES_TO_UPDATE	512
#define KQEMU_RAM_PAGES_UPDATE_ALL	(KQEMU_MAX_RAM_PAGES_TO_UPDATE + 1)
#define KQEMU_MAX_MODIFIED_RAM_PAGES	512

/* ram_size must be strictly below this. */
#define KQEMU_MAX_RAM_SIZE		0x7ffff000ULL
#define KQEMU_PAGE_SIZE			4096
/* Physical ranges must end at or below 4 GiB. */
#define KQEMU_PHYS_LIMIT		0x100000000ULL
/* Pages every instance locks, at least (monitor, page tables). */
#define KQEMU_MIN_LOCKED_PAGES		1024

/* EXEC exit reasons (cpu_state.retval). */
#define KQEMU_RET_ABORT			(-1)
#define KQEMU_RET_EXCEPTION		0x0000	/* | vector */
#define KQEMU_RET_INT			0x0100	/* | vector */
#define KQEMU_RET_SOFTMMU		0x0200	/* QEMU emulates the next block */
#define KQEMU_RET_INTR			0x0201	/* a host signal is pending */
#define KQEMU_RET_SYSCALL		0x0300

/*
 * ioctl command words.  Both encodings put the parameter size in bits
 * 16..28, the group 'q' in bits 8..15 and the number in bits 0..7; they
 * differ in the direction bits: BSD marks copy-in 0x80000000 and copy-out
 * 0x40000000, Linux the other way round.  _IOWR is both bits either way.
 */
#define KQEMU_IOC_GROUP		'q'
#define KQEMU_BSD_IOC_OUT	0x40000000U	/* kernel -> user */
#define KQEMU_BSD_IOC_IN	0x80000000U	/* user -> kernel */
#define KQEMU_LINUX_IOC_WRITE	0x40000000U	/* user -> kernel */
#define KQEMU_LINUX_IOC_READ	0x80000000U	/* kernel -> user */
#define KQEMU_IOC_SIZE(cmd)	(((cmd) >> 16) & 0x1fffU)
#define KQEMU_IOC_DIRMASK	0xe0000000U

/* BSD encoding: what DragonFly's sys_ioctl and the host kernel see. */
#define KQEMU_IOC_EXEC			0xc2487101U	/* _IOWR('q', 1, cpu_state) */
#define KQEMU_IOC_INIT			0x80307102U	/* _IOW('q', 2, init) */
#define KQEMU_IOC_GET_VERSION		0x40047103U	/* _IOR('q', 3, int) */
#define KQEMU_IOC_MODIFY_RAM_PAGES	0x80047104U	/* _IOW('q', 4, int) */
#define KQEMU_IOC_SET_PHYS_MEM		0x80207105U	/* _IOW('q', 5, phys_mem) */

/* Linux encoding: what a QEMU built on Linux sends (devhost translates). */
#define KQEMU_LINUX_IOC_EXEC		0xc2487101U
#define KQEMU_LINUX_IOC_INIT		0x40307102U
#define KQEMU_LINUX_IOC_GET_VERSION	0x80047103U
#define KQEMU_LINUX_IOC_MODIFY_RAM_PAGES 0x40047104U
#define KQEMU_LINUX_IOC_SET_PHYS_MEM	0x40207105U

/*
 * The names QEMU's source uses, in the encoding of the system a user
 * program is compiled for (the kernel and the C++ cores always see BSD).
 * Programs that talk to the host kernel on Linux (hk_ioctl) must use the
 * KQEMU_IOC_* names, since the host kernel models DragonFly.
 */
#if defined(__linux__) && !defined(_KERNEL)
#define KQEMU_EXEC		KQEMU_LINUX_IOC_EXEC
#define KQEMU_INIT		KQEMU_LINUX_IOC_INIT
#define KQEMU_GET_VERSION	KQEMU_LINUX_IOC_GET_VERSION
#define KQEMU_MODIFY_RAM_PAGES	KQEMU_LINUX_IOC_MODIFY_RAM_PAGES
#define KQEMU_SET_PHYS_MEM	KQEMU_LINUX_IOC_SET_PHYS_MEM
#else
#define KQEMU_EXEC		KQEMU_IOC_EXEC
#define KQEMU_INIT		KQEMU_IOC_INIT
#define KQEMU_GET_VERSION	KQEMU_IOC_GET_VERSION
#define KQEMU_MODIFY_RAM_PAGES	KQEMU_IOC_MODIFY_RAM_PAGES
#define KQEMU_SET_PHYS_MEM	KQEMU_IOC_SET_PHYS_MEM
#endif

/*
 * Swap the direction bits of a command word: Linux <-> BSD (the mapping is
 * its own inverse; _IOWR and _IO words are unchanged).  A macro, so it is a
 * constant expression.
 */
#define KQEMU_IOC_SWAP_DIR(cmd) \
	((((cmd) & 0xc0000000U) == 0x40000000U || ((cmd) & 0xc0000000U) == 0x80000000U) ? \
	 ((cmd) ^ 0xc0000000U) : (cmd))

/* Compile-time checks of the ABI (C11 and C++11 both have them). */
#if defined(__cplusplus)
#define KQEMU_STATIC_ASSERT(e, m)	static_assert(e, m)
#else
#define KQEMU_STATIC_ASSERT(e, m)	__extension__ _Static_assert(e, m)
#endif

/* BSD _IOC(inout, 'q', nr, len), computed here so no ioccom.h is needed. */
#define KQEMU_BSD_IOC(inout, nr, len) \
	((kqemu_u32)(inout) | (((kqemu_u32)(len) & 0x1fffU) << 16) | \
	 ((kqemu_u32)KQEMU_IOC_GROUP << 8) | (kqemu_u32)(nr))

KQEMU_STATIC_ASSERT(sizeof(struct kqemu_segment_cache) == 24, "segment_cache size");
KQEMU_STATIC_ASSERT(sizeof(struct kqemu_cpu_state) == 584, "cpu_state size");
KQEMU_STATIC_ASSERT(sizeof(struct kqemu_init) == 48, "init size");
KQEMU_STATIC_ASSERT(sizeof(struct kqemu_phys_mem) == 32, "phys_mem size");
KQEMU_STATIC_ASSERT(KQEMU_IOC_EXEC == KQEMU_BSD_IOC(KQEMU_BSD_IOC_IN | KQEMU_BSD_IOC_OUT,
    1, sizeof(struct kqemu_cpu_state)), "EXEC encoding");
KQEMU_STATIC_ASSERT(KQEMU_IOC_INIT == KQEMU_BSD_IOC(KQEMU_BSD_IOC_IN,
    2, sizeof(struct kqemu_init)), "INIT encoding");
KQEMU_STATIC_ASSERT(KQEMU_IOC_GET_VERSION == KQEMU_BSD_IOC(KQEMU_BSD_IOC_OUT,
    3, sizeof(int)), "GET_VERSION encoding");
KQEMU_STATIC_ASSERT(KQEMU_IOC_MODIFY_RAM_PAGES == KQEMU_BSD_IOC(KQEMU_BSD_IOC_IN,
    4, sizeof(int)), "MODIFY_RAM_PAGES encoding");
KQEMU_STATIC_ASSERT(KQEMU_IOC_SET_PHYS_MEM == KQEMU_BSD_IOC(KQEMU_BSD_IOC_IN,
    5, sizeof(struct kqemu_phys_mem)), "SET_PHYS_MEM encoding");
KQEMU_STATIC_ASSERT(KQEMU_LINUX_IOC_INIT == ((KQEMU_IOC_INIT & ~0xc0000000U) |
    KQEMU_LINUX_IOC_WRITE), "Linux INIT encoding");
KQEMU_STATIC_ASSERT(KQEMU_LINUX_IOC_GET_VERSION == ((KQEMU_IOC_GET_VERSION & ~0xc0000000U) |
    KQEMU_LINUX_IOC_READ), "Linux GET_VERSION encoding");
KQEMU_STATIC_ASSERT(KQEMU_LINUX_IOC_EXEC == KQEMU_IOC_EXEC, "Linux EXEC encoding");
KQEMU_STATIC_ASSERT(KQEMU_IOC_SWAP_DIR(KQEMU_LINUX_IOC_MODIFY_RAM_PAGES) ==
    KQEMU_IOC_MODIFY_RAM_PAGES, "Linux MODIFY_RAM_PAGES encoding");
KQEMU_STATIC_ASSERT(KQEMU_IOC_SWAP_DIR(KQEMU_LINUX_IOC_SET_PHYS_MEM) ==
    KQEMU_IOC_SET_PHYS_MEM, "Linux SET_PHYS_MEM encoding");

#endif /* KQEMU_H */
