/*
 * mbload.c: a multiboot (v1) loader for the DragonFly x86_64 kernel.
 *
 * QEMU's -kernel boots this 32-bit image; module 0 is the DragonFly kernel
 * (an ELF64 executable with its symbol table), module 1 the UFS root image,
 * and the multiboot command line is the kernel environment ("a=b c=d").
 * It lays out physical memory the way DragonFly's own loader(8) does:
 *
 *   2 MiB      the kernel's PT_LOAD segments (paddr = vaddr - KERNBASE)
 *   next page  symbols: [long size][.symtab][long size][.strtab] (SSYM/ESYM)
 *   next page  the root image, preloaded as module type "md_image"
 *   next page  the environment (NUL-separated strings, empty string ends it)
 *   then       the preload metadata (MODINFO records), modulep
 *   next page  kernend: the kernel allocates its page tables from here
 *
 * then builds page tables mapping the first GiB both at 0 and at KERNBASE
 * (btext writes the warm-boot flag at 0x472 through the identity map before
 * the kernel installs its own tables), and enters btext in 64-bit mode with
 * the stack [u32 0, u32 modulep, u32 kernend] (locore.s reads 4(%rsp) and
 * 8(%rsp)).  The layout facts come from DragonFly's sys/sys/linker.h
 * (MODINFO_*), hammer_time() and getmemsize() in
 * sys/platform/pc64/x86_64/machdep.c (kernel record "elf kernel", HOWTO,
 * ENVP as a physical address, SMAP required), preload_bootstrap_relocate()
 * in sys/kern/subr_module.c (ADDR/SSYM/ESYM physical, relocated by the
 * kernel) and md_drvinit() in sys/dev/disk/md/md.c ("md_image").
 *
 * No locking: one CPU, interrupts off.  Every failure prints "mbload: ..."
 * on COM1 and halts, so the runner reports it instead of a silent hang.
 */
#include <stdint.h>
#include <stddef.h>

#define	KERNBASE	0xffffffff80000000ULL
#define	LOADER_BASE	0x10000000U	/* mbload.ld: nothing may be put above */
#define	PAGE		4096U

#define	MODINFO_END		0x0000
#define	MODINFO_NAME		0x0001
#define	MODINFO_TYPE		0x0002
#define	MODINFO_ADDR		0x0003
#define	MODINFO_SIZE		0x0004
#define	MODINFO_METADATA	0x8000
#define	MODINFOMD_SSYM		0x0003
#define	MODINFOMD_ESYM		0x0004
#define	MODINFOMD_ENVP		0x0006
#define	MODINFOMD_HOWTO		0x0007
#define	MODINFOMD_KERNEND	0x0008
#define	MODINFOMD_SMAP		0x1001	/* sys/platform/pc64/include/metadata.h */

#define	RB_SERIAL	0x1000
#define	RB_VERBOSE	0x0800

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
};
struct mb_module {
	uint32_t mod_start, mod_end, string, reserved;
};

struct elf64_ehdr {
	unsigned char e_ident[16];
	uint16_t e_type, e_machine;
	uint32_t e_version;
	uint64_t e_entry, e_phoff, e_shoff;
	uint32_t e_flags;
	uint16_t e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx;
};
struct elf64_phdr {
	uint32_t p_type, p_flags;
	uint64_t p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align;
};
struct elf64_shdr {
	uint32_t sh_name, sh_type;
	uint64_t sh_flags, sh_addr, sh_offset, sh_size;
	uint32_t sh_link, sh_info;
	uint64_t sh_addralign, sh_entsize;
};
struct bios_smap {
	uint64_t base, length;
	uint32_t type;
} __attribute__((packed));

void mbload_main(uint32_t magic, struct mb_info *mbi);
void enter_long_mode(uint32_t pml4, uint32_t entry_lo, uint32_t entry_hi,
    uint32_t stack) __attribute__((noreturn));

static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[512] __attribute__((aligned(4096)));
static uint32_t kstack[4] __attribute__((aligned(16)));

/* ---- COM1 output (QEMU's UART needs no setup to transmit) ---- */
static inline void
outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t
inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return (v);
}
static void
putc_serial(char c)
{
	int i;

	for (i = 0; i < 100000 && (inb(0x3f8 + 5) & 0x20) == 0; i++)
		;
	outb(0x3f8, (uint8_t)c);
}
static void
puts_serial(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			putc_serial('\r');
		putc_serial(*s);
	}
}
static void
puthex(uint64_t v)
{
	char buf[19];
	int i;

	buf[0] = '0';
	buf[1] = 'x';
	for (i = 0; i < 16; i++)
		buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
	buf[18] = 0;
	puts_serial(buf);
}
static void __attribute__((noreturn))
fail(const char *why, uint64_t v)
{
	puts_serial("mbload: ");
	puts_serial(why);
	puts_serial(" ");
	puthex(v);
	puts_serial("\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* ---- tiny libc (gcc may emit calls to these) ---- */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
void *
memcpy(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;

	while (n--)
		*dp++ = *sp++;
	return (d);
}
void *
memset(void *d, int c, size_t n)
{
	uint8_t *dp = d;

	while (n--)
		*dp++ = (uint8_t)c;
	return (d);
}
static size_t
slen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return (n);
}

static uint32_t
roundup32(uint32_t v, uint32_t a)
{
	return ((v + a - 1) & ~(a - 1));
}

/* Every destination must lie in [1 MiB, LOADER_BASE). */
static void *
dest(uint64_t pa, uint64_t len, const char *what)
{
	if (pa < 0x100000 || pa + len > LOADER_BASE || pa + len < pa)
		fail(what, pa + len);
	return ((void *)(uintptr_t)pa);
}

/* ---- preload metadata ---- */
static uint8_t *mdp;

static void
md_add(uint32_t type, const void *data, uint32_t len)
{
	uint32_t hdr[2] = { type, len };

	memcpy(mdp, hdr, 8);
	memcpy(mdp + 8, data, len);
	memset(mdp + 8 + len, 0, roundup32(len, 8) - len);
	mdp += 8 + roundup32(len, 8);
}
static void
md_str(uint32_t type, const char *s)
{
	md_add(type, s, (uint32_t)slen(s) + 1);
}
static void
md_u64(uint32_t type, uint64_t v)
{
	md_add(type, &v, sizeof(v));
}

void
mbload_main(uint32_t magic, struct mb_info *mbi)
{
	struct mb_module *mods;
	const struct elf64_ehdr *eh;
	const struct elf64_phdr *ph;
	const struct elf64_shdr *sh;
	const uint8_t *kimg;
	uint64_t kern_lo = ~0ULL, kern_hi = 0, ssym = 0, esym = 0;
	uint64_t pa, root_pa, env_pa, modulep, kernend, klen;
	uint32_t i, rootlen, howto = RB_SERIAL;
	const char *cmd;
	char *env;

	puts_serial("mbload: multiboot loader for DragonFly x86_64\n");
	if (magic != 0x2BADB002)
		fail("bad multiboot magic", magic);
	if ((mbi->flags & (1 << 3)) == 0 || mbi->mods_count < 2)
		fail("need 2 modules (kernel, root image), have", mbi->mods_count);
	if ((mbi->flags & (1 << 6)) == 0)
		fail("no memory map from the boot loader", mbi->flags);
	mods = (struct mb_module *)(uintptr_t)mbi->mods_addr;
	for (i = 0; i < 2; i++)
		if (mods[i].mod_start < LOADER_BASE)
			fail("module below the loader", mods[i].mod_start);

	/* The kernel: PT_LOAD segments at their physical addresses. */
	kimg = (const uint8_t *)(uintptr_t)mods[0].mod_start;
	klen = mods[0].mod_end - mods[0].mod_start;
	eh = (const struct elf64_ehdr *)kimg;
	if (klen < sizeof(*eh) || eh->e_ident[0] != 0x7f || eh->e_ident[1] != 'E' ||
	    eh->e_ident[2] != 'L' || eh->e_ident[3] != 'F' ||
	    eh->e_ident[4] != 2 || eh->e_machine != 62 || eh->e_type != 2)
		fail("module 0 is not an x86_64 ELF executable", klen);
	if (eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(*ph) > klen)
		fail("truncated program headers", eh->e_phoff);
	for (i = 0; i < eh->e_phnum; i++) {
		ph = (const struct elf64_phdr *)(kimg + eh->e_phoff) + i;
		if (ph->p_type != 1)		/* PT_LOAD */
			continue;
		if (ph->p_vaddr < KERNBASE)
			fail("segment below KERNBASE", ph->p_vaddr);
		if (ph->p_offset + ph->p_filesz > klen)
			fail("segment beyond the file", ph->p_offset);
		pa = ph->p_vaddr - KERNBASE;
		memcpy(dest(pa, ph->p_memsz, "kernel segment out of range"),
		    kimg + ph->p_offset, (size_t)ph->p_filesz);
		memset((uint8_t *)(uintptr_t)pa + ph->p_filesz, 0,
		    (size_t)(ph->p_memsz - ph->p_filesz));
		if (pa < kern_lo)
			kern_lo = pa;
		if (pa + ph->p_memsz > kern_hi)
			kern_hi = pa + ph->p_memsz;
	}
	if (kern_hi == 0)
		fail("no PT_LOAD segment", 0);
	pa = roundup32((uint32_t)kern_hi, PAGE);

	/* Symbols for DDB and the kernel linker (link_elf.c parse_module_symbols). */
	if (eh->e_shoff != 0 && eh->e_shentsize == sizeof(*sh) &&
	    eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh) <= klen) {
		const struct elf64_shdr *shs =
		    (const struct elf64_shdr *)(kimg + eh->e_shoff);
		for (i = 0; i < eh->e_shnum; i++) {
			const struct elf64_shdr *st;
			uint64_t n;
			uint8_t *p;

			sh = &shs[i];
			if (sh->sh_type != 2 || sh->sh_link >= eh->e_shnum)
				continue;	/* SHT_SYMTAB */
			st = &shs[sh->sh_link];
			if (sh->sh_offset + sh->sh_size > klen ||
			    st->sh_offset + st->sh_size > klen)
				break;
			ssym = pa;
			p = dest(pa, 16 + sh->sh_size + st->sh_size + 16, "symbols");
			n = sh->sh_size;
			memcpy(p, &n, 8);
			memcpy(p + 8, kimg + sh->sh_offset, (size_t)n);
			p += 8 + roundup32((uint32_t)n, 8);
			n = st->sh_size;
			memcpy(p, &n, 8);
			memcpy(p + 8, kimg + st->sh_offset, (size_t)n);
			p += 8 + roundup32((uint32_t)n, 8);
			esym = (uint64_t)(uintptr_t)p;
			pa = roundup32((uint32_t)esym, PAGE);
			break;
		}
	}

	/* The root image, used in place by md(4). */
	root_pa = pa;
	rootlen = mods[1].mod_end - mods[1].mod_start;
	memcpy(dest(root_pa, rootlen, "root image out of range"),
	    (const void *)(uintptr_t)mods[1].mod_start, rootlen);
	pa = roundup32((uint32_t)(root_pa + rootlen), PAGE);

	/* The environment: the multiboot command line, split at blanks. */
	env_pa = pa;
	env = dest(env_pa, PAGE, "environment out of range");
	cmd = (mbi->flags & (1 << 2)) ? (const char *)(uintptr_t)mbi->cmdline : "";
	i = 0;
	while (*cmd) {
		while (*cmd == ' ')
			cmd++;
		if (*cmd == 0)
			break;
		if (cmd[0] == '-' && cmd[1] == 'v' && (cmd[2] == ' ' || cmd[2] == 0)) {
			howto |= RB_VERBOSE;
			cmd += 2;
			continue;
		}
		while (*cmd && *cmd != ' ') {
			if (i >= 4 * PAGE - 2)
				fail("environment too long", i);
			env[i++] = *cmd++;
		}
		env[i++] = 0;
	}
	env[i++] = 0;
	pa = roundup32((uint32_t)(env_pa + i), 8);

	/* The metadata: the kernel's record, then the root image's. */
	modulep = pa;
	mdp = dest(modulep, 2 * PAGE, "metadata out of range");
	md_str(MODINFO_NAME, "kernel");
	md_str(MODINFO_TYPE, "elf kernel");
	md_u64(MODINFO_ADDR, kern_lo);
	md_u64(MODINFO_SIZE, kern_hi - kern_lo);
	md_add(MODINFO_METADATA | MODINFOMD_HOWTO, &howto, sizeof(howto));
	md_u64(MODINFO_METADATA | MODINFOMD_ENVP, env_pa);
	if (ssym != 0) {
		md_u64(MODINFO_METADATA | MODINFOMD_SSYM, ssym);
		md_u64(MODINFO_METADATA | MODINFOMD_ESYM, esym);
	}
	{
		/* SMAP from the multiboot memory map (sizes precede entries). */
		static struct bios_smap smap[64];
		uint32_t off = 0, n = 0;

		while (off < mbi->mmap_length && n < 64) {
			const uint8_t *e = (const uint8_t *)(uintptr_t)
			    (mbi->mmap_addr + off);
			uint32_t esz;

			memcpy(&esz, e, 4);
			memcpy(&smap[n].base, e + 4, 8);
			memcpy(&smap[n].length, e + 12, 8);
			memcpy(&smap[n].type, e + 20, 4);
			n++;
			off += esz + 4;
		}
		if (n == 0)
			fail("empty memory map", 0);
		md_add(MODINFO_METADATA | MODINFOMD_SMAP, smap,
		    n * (uint32_t)sizeof(smap[0]));
	}
	/* KERNEND: fixed below once the metadata's own size is known. */
	{
		uint8_t *kend_rec;

		kend_rec = mdp;
		md_u64(MODINFO_METADATA | MODINFOMD_KERNEND, 0);
		md_str(MODINFO_NAME, "/boot/kqtest.root");
		md_str(MODINFO_TYPE, "md_image");
		md_u64(MODINFO_ADDR, root_pa);
		md_u64(MODINFO_SIZE, rootlen);
		md_add(MODINFO_END, "", 0);
		kernend = roundup32((uint32_t)(uintptr_t)mdp, PAGE);
		(void)dest(kernend, PAGE, "kernend out of range");
		memcpy(kend_rec + 8, &kernend, 8);
	}

	/* Page tables: the first GiB at 0 and at every GiB of the top PDPT. */
	for (i = 0; i < 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;		/* P|RW|PS */
	for (i = 0; i < 512; i++)
		pdpt[i] = (uint32_t)(uintptr_t)pd | 0x3;
	pml4[0] = (uint32_t)(uintptr_t)pdpt | 0x3;
	pml4[511] = (uint32_t)(uintptr_t)pdpt | 0x3;

	kstack[0] = 0;
	kstack[1] = (uint32_t)modulep;
	kstack[2] = (uint32_t)kernend;
	puts_serial("mbload: kernel ");
	puthex(kern_lo);
	puts_serial("-");
	puthex(kern_hi);
	puts_serial(" root ");
	puthex(rootlen);
	puts_serial(" bytes, entering ");
	puthex(eh->e_entry);
	puts_serial("\n");
	enter_long_mode((uint32_t)(uintptr_t)pml4, (uint32_t)eh->e_entry,
	    (uint32_t)(eh->e_entry >> 32), (uint32_t)(uintptr_t)kstack);
}
