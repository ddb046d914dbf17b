/*
 * accel_vm.c: the accel suite's kqemu client and its guest (see
 * accel_vm.h).  Facts from QEMU 0.10's kqemu.c and osdep.c (how the state
 * and the memory are handed over) and kqemu 1.4's own test client (which
 * minimal protected-mode state kqemu accepts); the code is ours.
 * Locking: none (one process per avm).
 */
#include "accel_vm.h"

/*
 * The workload loop, one macro assembled twice: as 32-bit guest code and
 * as 64-bit native code.  Registers: eax the LCG state, ebx the checksum,
 * ecx the remaining iterations, edx the buffer mask, BUF the buffer, IDX
 * the word index (ebp), PROG the comm page (progress word at offset 0).
 * HOOK runs at each progress point (the guest's optional int $0x80).
 * 12 instructions per iteration (AVM_LOOP_INSNS).
 */
__asm__(
"	.macro AVM_LOOP buf, idx, prog, hook\n"
"1:	imull	$1664525, %eax, %eax\n"
"	addl	$1013904223, %eax\n"
"	movl	%eax, %ebp\n"
"	shrl	$8, %ebp\n"
"	andl	%edx, %ebp\n"
"	addl	%eax, (\\buf,\\idx,4)\n"
"	roll	$5, %ebx\n"
"	xorl	(\\buf,\\idx,4), %ebx\n"
"	testl	$0xffff, %ecx\n"
"	jnz	2f\n"
"	movl	%ecx, (\\prog)\n"
"	\\hook\n"
"2:	decl	%ecx\n"
"	jnz	1b\n"
"	.endm\n"
"	.macro AVM_HOOK32\n"
"	cmpl	$0, 24(%edi)\n"
"	je	2f\n"
"	int	$0x80\n"
"	.endm\n"
"	.macro AVM_NOHOOK\n"
"	.endm\n"

/* The guest's code page: bytes copied to AVM_CODE, never run here. */
"	.section .rodata\n"
"	.p2align 4\n"
"	.globl	avm_gcode\n"
"avm_gcode:\n"
"	.code32\n"
"avm_g_start:\n"
"	movl	0xa004, %eax\n"
"	movl	0xa008, %ecx\n"
"	movl	0xa00c, %edx\n"
"	movl	0xa010, %esi\n"
"	movl	$0xa000, %edi\n"
"	xorl	%ebx, %ebx\n"
"	AVM_LOOP %esi, %ebp, %edi, AVM_HOOK32\n"
"	movl	%ebx, 0xa014\n"
"	movl	%ebx, %eax\n"
"3:	int	$0x80\n"		/* done: ecx = 0, eax = checksum */
"	jmp	3b\n"
"avm_g_hlt:\n"
"	hlt\n"
"avm_g_cli:\n"
"	cli\n"
"avm_g_wr_unmapped:\n"
"	movl	$0x5a5a5a5a, 0x40000000\n"
"avm_g_rd_unmapped:\n"
"	movl	0x40000000, %eax\n"
"avm_g_wr_hole:\n"
"	movl	$1, 0xc000\n"
"	.globl	avm_gcode_end\n"
"avm_gcode_end:\n"
"	.code64\n"
"	.globl	avm_gcode_offsets\n"
"	.p2align 2\n"
"avm_gcode_offsets:\n"
"	.long	avm_g_start - avm_gcode, avm_g_hlt - avm_gcode\n"
"	.long	avm_g_cli - avm_gcode, avm_g_wr_unmapped - avm_gcode\n"
"	.long	avm_g_rd_unmapped - avm_gcode, avm_g_wr_hole - avm_gcode\n"

/* uint32_t avm_native(struct avm_comm *c, uint32_t *buf) */
"	.text\n"
"	.globl	avm_native\n"
"	.type	avm_native, @function\n"
"avm_native:\n"
"	pushq	%rbx\n"
"	pushq	%rbp\n"
"	movl	4(%rdi), %eax\n"
"	movl	8(%rdi), %ecx\n"
"	movl	12(%rdi), %edx\n"
"	xorl	%ebx, %ebx\n"
"	AVM_LOOP %rsi, %rbp, %rdi, AVM_NOHOOK\n"
"	movl	%ebx, 20(%rdi)\n"
"	movl	%ebx, %eax\n"
"	popq	%rbp\n"
"	popq	%rbx\n"
"	ret\n"
"	.size	avm_native, . - avm_native\n"
);

extern const uint8_t avm_gcode[], avm_gcode_end[];
extern const uint32_t avm_gcode_offsets[];

uint32_t
avm_ref(uint32_t seed, uint32_t iterations, uint32_t mask, uint32_t *buf)
{
	uint32_t x = seed, sum = 0, i, idx;

	for (i = iterations; i != 0; i--) {
		x = x * 1664525U + 1013904223U;
		idx = (x >> 8) & mask;
		buf[idx] += x;
		sum = ((sum << 5) | (sum >> 27)) ^ buf[idx];
	}
	return (sum);
}

uint32_t
avm_entry_addr(enum avm_entry e)
{
	return ((uint32_t)AVM_CODE + avm_gcode_offsets[e]);
}

static unsigned long
dirty_len(unsigned long ram_size)
{
	return ((ram_size / 4096 + 4095) & ~4095UL);
}

/*
 * One mapping for RAM, dirty bytes and the three arrays, as QEMU 0.10's
 * kqemu_vmalloc hands out every kqemu area from one MAP_SHARED object.
 */
int
avm_alloc(struct avm *vm, unsigned long ram_size, enum avm_ram kind)
{
	static unsigned int nfile;
	char path[64];
	int fd = -1, flags;

	memset(vm, 0, sizeof(*vm));
	vm->fd = -1;
	vm->kind = kind;
	if (ram_size < AVM_MIN_RAM || ram_size > AVM_MAX_RAM || ram_size % 4096)
		return (EINVAL);
	vm->ram_size = ram_size;
	vm->map_len = ram_size + dirty_len(ram_size) + 3 * 4096;
	if (kind == AVM_RAM_FILE) {
		/* QEMU: mkstemp in $QEMU_TMPDIR (or /tmp), unlink, ftruncate. */
		snprintf(path, sizeof(path), "/tmp/qemu.%d.%u", getpid(), nfile++);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			return (errno);
		unlink(path);
		if (ftruncate(fd, (long)vm->map_len) < 0) {
			int e = errno;

			close(fd);
			return (e);
		}
		flags = MAP_SHARED;
	} else if (kind == AVM_RAM_SHARED_ANON) {
		flags = MAP_ANON | MAP_SHARED;
	} else {
		flags = MAP_ANON | MAP_PRIVATE;
	}
	vm->map = mmap(NULL, vm->map_len, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (fd >= 0)
		close(fd);	/* the mapping keeps the file */
	if (vm->map == MAP_FAILED) {
		vm->map = NULL;
		return (errno);
	}
	vm->ram = vm->map;
	vm->dirty = vm->ram + ram_size;
	vm->flush = (uint64_t *)(vm->dirty + dirty_len(ram_size));
	vm->update = vm->flush + 512;
	vm->modified = vm->update + 512;
	/* QEMU starts with every page dirty (0xff: all dirty flags). */
	memset(vm->dirty, 0xff, ram_size / 4096);
	vm->init.ram_base = vm->ram;
	vm->init.ram_size = ram_size;
	vm->init.ram_dirty = vm->dirty;
	vm->init.pages_to_flush = vm->flush;
	vm->init.ram_pages_to_update = vm->update;
	vm->init.modified_ram_pages = vm->modified;
	return (0);
}

void
avm_free(struct avm *vm)
{
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = -1;
	if (vm->map != NULL)
		munmap(vm->map, vm->map_len);
	vm->map = NULL;
}

uint32_t *
avm_buf(struct avm *vm)
{
	return ((uint32_t *)(vm->ram + AVM_BUF));
}

uint32_t
avm_buf_words(const struct avm *vm)
{
	uint32_t w = 1;

	while (w * 2 * 4 <= vm->ram_size - AVM_BUF)
		w *= 2;
	return (w);
}

struct avm_comm *
avm_comm(struct avm *vm)
{
	return ((struct avm_comm *)(vm->ram + AVM_COMM));
}

/* The GDT entry of selector sel (a code/data descriptor or a TSS): base,
 * 20-bit limit, flags = the type byte and the G/D nibble as in the
 * descriptor's second word >> 8. */
static void
set_desc(uint32_t *gdt, unsigned int sel, uint32_t base, uint32_t limit,
    uint32_t flags)
{
	uint32_t *d = gdt + (sel & ~7U) / 4;

	d[0] = (base << 16) | (limit & 0xffff);
	d[1] = ((base >> 16) & 0xff) | (base & 0xff000000U) |
	    (limit & 0xf0000) | (flags << 8);
}

#define PTE_P	0x01
#define PTE_W	0x02
#define PTE_U	0x04
#define PTE_A	0x20
#define PTE_D	0x40

static void
build_guest(struct avm *vm)
{
	uint32_t *pd = (uint32_t *)(vm->ram + AVM_PD);
	uint32_t *pt = (uint32_t *)(vm->ram + AVM_PT);
	uint32_t *gdt = (uint32_t *)(vm->ram + AVM_GDT);
	unsigned long a, npt = (vm->ram_size + (4UL << 20) - 1) >> 22;

	memset(vm->ram, 0, AVM_BUF);
	/* Page directory: one table per 4 MiB of RAM, nothing above. */
	for (a = 0; a < npt; a++)
		pd[a] = (uint32_t)(AVM_PT + a * 4096) | PTE_P | PTE_W | PTE_U | PTE_A;
	for (a = 0; a < vm->ram_size; a += 4096) {
		uint32_t f;

		if (a == 0)
			f = 0;				/* null page */
		else if (a < AVM_CODE)
			f = PTE_P | PTE_W | PTE_A | PTE_D;	/* system: supervisor */
		else if (a == AVM_CODE)
			f = PTE_P | PTE_U | PTE_A;	/* code: user read-only */
		else if (a < AVM_HOLE)
			f = PTE_P | PTE_W | PTE_U | PTE_A | PTE_D;
		else if (a < AVM_BUF)
			f = 0;				/* holes */
		else
			f = PTE_P | PTE_W | PTE_U | PTE_A | PTE_D;
		pt[a / 4096] = f ? ((uint32_t)a | f) : 0;
	}
	/* GDT: flat 4 GiB ring-3 code and data (accessed), ring-0 code and
	 * data, a 32-bit TSS, as kqemu's own test client lays them out. */
	set_desc(gdt, AVM_USER_CS, 0, 0xfffff, 0xc0fb);
	set_desc(gdt, AVM_USER_DS, 0, 0xfffff, 0xc0f3);
	set_desc(gdt, 0x50, 0, 0xfffff, 0xc09b);
	set_desc(gdt, 0x58, 0, 0xfffff, 0xc093);
	set_desc(gdt, AVM_TSS_SEL, (uint32_t)AVM_TSS, 0x67, 0x89);
	/* TSS: ring-0 stack, no I/O bitmap.  The IDT stays empty: with
	 * user_only every exception and interrupt leaves the monitor. */
	((uint32_t *)(vm->ram + AVM_TSS))[1] = (uint32_t)AVM_STACK_TOP;
	((uint32_t *)(vm->ram + AVM_TSS))[2] = 0x58;
	((uint16_t *)(vm->ram + AVM_TSS))[51] = 0x8000;
	memcpy(vm->ram + AVM_CODE, avm_gcode, (size_t)(avm_gcode_end - avm_gcode));
}

static void
seg(struct kqemu_segment_cache *s, uint16_t sel, uint32_t flags)
{
	s->selector = sel;
	s->base = 0;
	s->limit = 0xffffffffU;
	s->flags = flags;
}

/* The CPU state QEMU would hand over for this guest at CPL 3. */
static void
reset_state(struct avm *vm, uint32_t eip)
{
	struct kqemu_cpu_state *cs = &vm->cs;
	int i;

	memset(cs, 0, sizeof(*cs));
	cs->regs[4] = AVM_STACK_TOP;		/* esp */
	cs->eip = eip;
	cs->eflags = 0x202;			/* IF */
	for (i = 0; i < 6; i++)
		seg(&cs->segs[i], AVM_USER_DS, 0x00cff300);
	seg(&cs->segs[1], AVM_USER_CS, 0x00cffb00);
	cs->tr.selector = AVM_TSS_SEL;
	cs->tr.base = AVM_TSS;
	cs->tr.limit = 0x67;
	cs->tr.flags = 0x8900;
	cs->gdt.base = AVM_GDT;
	cs->gdt.limit = 0xfff;
	cs->idt.base = AVM_IDT;
	cs->idt.limit = 0x7ff;
	cs->cr0 = 0x80000003;			/* PG | MP | PE */
	cs->cr3 = AVM_PD;
	cs->cr4 = 0;
	cs->a20_mask = ~0UL;
	cs->cpl = 3;
	cs->user_only = 1;
}

const char *
avm_start(struct avm *vm)
{
	struct kqemu_phys_mem pm;
	int version = 0;

#define PHASE(n)	do { if (vm->phase != NULL) *vm->phase = (n); } while (0)
	build_guest(vm);
	PHASE(1);
	vm->fd = open(KQEMU_DEVICE_PATH, O_RDWR);
	if (vm->fd < 0)
		return t_fail("open %s: %s", KQEMU_DEVICE_PATH, strerror(errno));
	PHASE(2);
	if (ioctl(vm->fd, KQEMU_IOC_GET_VERSION, &version) < 0)
		return t_fail("GET_VERSION: %s", strerror(errno));
	if (version != KQEMU_VERSION)
		return t_fail("GET_VERSION %#x", version);
	PHASE(3);
	if (ioctl(vm->fd, KQEMU_IOC_INIT, &vm->init) < 0)
		return t_fail("INIT: %s", strerror(errno));
	PHASE(4);
	memset(&pm, 0, sizeof(pm));
	pm.phys_addr = 0;
	pm.size = vm->ram_size;
	pm.ram_addr = 0;
	pm.io_index = KQEMU_IO_MEM_RAM;
	if (ioctl(vm->fd, KQEMU_IOC_SET_PHYS_MEM, &pm) < 0)
		return t_fail("SET_PHYS_MEM: %s", strerror(errno));
	reset_state(vm, avm_entry_addr(AVM_E_START));
	PHASE(5);
#undef PHASE
	return (NULL);
}

void
avm_job(struct avm *vm, uint32_t seed, uint32_t iterations, int int_chunks)
{
	struct avm_comm *c = avm_comm(vm);
	uint32_t words = avm_buf_words(vm);

	memset(avm_buf(vm), 0, (size_t)words * 4);
	c->progress = 0;
	c->seed = seed;
	c->iterations = iterations ? iterations : 1;
	c->mask = words - 1;
	c->buf = (uint32_t)AVM_BUF;
	c->result = 0;
	c->int_chunks = (uint32_t)int_chunks;
	reset_state(vm, avm_entry_addr(AVM_E_START));
}

const char *
avm_retname(int r, char *buf, size_t len)
{
	if (r == KQEMU_RET_ABORT)
		snprintf(buf, len, "ABORT");
	else if (r == KQEMU_RET_SOFTMMU)
		snprintf(buf, len, "SOFTMMU");
	else if (r == KQEMU_RET_INTR)
		snprintf(buf, len, "INTR");
	else if (r == KQEMU_RET_SYSCALL)
		snprintf(buf, len, "SYSCALL");
	else if ((r & ~0xff) == KQEMU_RET_INT)
		snprintf(buf, len, "INT|%#x", r & 0xff);
	else if ((r & ~0xff) == KQEMU_RET_EXCEPTION)
		snprintf(buf, len, "EXCEPTION|%d", r & 0xff);
	else
		snprintf(buf, len, "unknown %#x", r);
	return (buf);
}

/* One EXEC as QEMU does it: the page lists it has nothing to add to. */
static int
exec1(struct avm *vm)
{
	vm->cs.nb_pages_to_flush = 0;
	vm->cs.nb_ram_pages_to_update = 0;
	vm->cs.nb_modified_ram_pages = 0;
	vm->cs.retval = -7;
	if (ioctl(vm->fd, KQEMU_IOC_EXEC, &vm->cs) < 0)
		return (-1);
	vm->st.execs++;
	return (0);
}

const char *
avm_run(struct avm *vm, uint32_t *result)
{
	char n[32];
	int r;

	for (;;) {
		if (exec1(vm) < 0) {
			if (errno == EINTR) {
				vm->st.eintr++;
				continue;
			}
			return t_fail("EXEC: %s (after %ld EXECs)", strerror(errno),
			    vm->st.execs);
		}
		r = vm->cs.retval;
		if (r == KQEMU_RET_INTR) {
			vm->st.intr++;
			continue;
		}
		if (r == (KQEMU_RET_INT | 0x80)) {
			vm->st.int80++;
			if ((uint32_t)vm->cs.regs[1] == 0) {	/* ecx: done */
				*result = (uint32_t)vm->cs.regs[0];
				return (NULL);
			}
			vm->cs.eip = vm->cs.next_eip;	/* a chunk: resume */
			continue;
		}
		if (r == KQEMU_RET_SOFTMMU) {
			vm->st.softmmu++;
			return t_fail("SOFTMMU at eip %#lx (the client interprets "
			    "nothing; after %ld EXECs)", (unsigned long)vm->cs.eip,
			    vm->st.execs);
		}
		if ((r & ~0xff) == KQEMU_RET_EXCEPTION)
			vm->st.exceptions++;
		return t_fail("EXEC returned %s at eip %#lx (error code %#x, cr2 "
		    "%#lx, after %ld EXECs)", avm_retname(r, n, sizeof(n)),
		    (unsigned long)vm->cs.eip, vm->cs.error_code,
		    (unsigned long)vm->cs.cr2, vm->st.execs);
	}
}

const char *
avm_check(struct avm *vm, uint32_t seed, uint32_t iterations, int int_chunks)
{
	struct avm_comm ref;
	uint32_t words = avm_buf_words(vm), got = 0, want, i;
	uint32_t *nbuf;
	const char *r;

	avm_job(vm, seed, iterations, int_chunks);
	if ((r = avm_run(vm, &got)) != NULL)
		return (r);
	nbuf = mmap(NULL, (size_t)words * 4, PROT_READ | PROT_WRITE,
	    MAP_ANON | MAP_PRIVATE, -1, 0);
	if (nbuf == MAP_FAILED)
		return t_fail("mmap: %s", strerror(errno));
	memset(&ref, 0, sizeof(ref));
	ref.seed = seed;
	ref.iterations = iterations ? iterations : 1;
	ref.mask = words - 1;
	want = avm_native(&ref, nbuf);
	if (got != want || avm_comm(vm)->result != want) {
		munmap(nbuf, (size_t)words * 4);
		return t_fail("guest checksum %#x (comm %#x), native %#x (seed %#x, "
		    "%u iterations, %u words)", got, avm_comm(vm)->result, want,
		    seed, iterations, words);
	}
	for (i = 0; i < words; i++)
		if (avm_buf(vm)[i] != nbuf[i])
			break;
	if (i < words)
		r = t_fail("guest buffer word %u = %#x, native %#x (seed %#x)",
		    i, avm_buf(vm)[i], nbuf[i], seed);
	munmap(nbuf, (size_t)words * 4);
	return (r);
}

int
avm_exec_entry(struct avm *vm, enum avm_entry e)
{
	reset_state(vm, avm_entry_addr(e));
	for (;;) {
		if (exec1(vm) < 0) {
			if (errno == EINTR)
				continue;
			return (-2);
		}
		if (vm->cs.retval != KQEMU_RET_INTR)
			return (vm->cs.retval);
		vm->st.intr++;
	}
}
