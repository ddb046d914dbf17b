/*
 * qemu_seq.c - QEMU 0.10's use of /dev/kqemu as a library (see qemu_seq.h).
 *
 * The order of calls and the way the page lists are filled follow QEMU
 * 0.10's kqemu.c: INIT once, SET_PHYS_MEM for each registered region
 * (refusals are only printed by QEMU, so they are counted, not fatal),
 * then EXEC with the lists QEMU filled since the last one; QEMU appends to
 * the modified-pages table as guest code writes RAM and calls
 * MODIFY_RAM_PAGES when the table is full.
 *
 * Locking: none; one VM per thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_seq.h"

#define PAGE		4096UL
#define ROM_AREA	0x40000UL	/* top of QEMU's RAM block: VGA BIOS, BIOS */

static size_t
round_page(size_t n)
{
	return ((n + PAGE - 1) & ~(PAGE - 1));
}

int
kqs_vm_alloc(struct kqs_vm *vm, size_t ram_size)
{
	size_t dirty, off;
	uint8_t *b;

	memset(vm, 0, sizeof(*vm));
	if (ram_size % PAGE != 0 || ram_size < 2 * 1024 * 1024)
		return (EINVAL);
	dirty = round_page(ram_size / PAGE);
	vm->block_len = ram_size + dirty + 3 * PAGE + round_page(sizeof(struct kqs_args));
	vm->block = aligned_alloc(PAGE, vm->block_len);
	if (vm->block == NULL)
		return (ENOMEM);
	memset(vm->block, 0, vm->block_len);
	b = vm->block;
	off = 0;
	vm->ram = b + off;
	vm->ram_size = ram_size;
	off += ram_size;
	vm->ram_dirty = b + off;
	off += dirty;
	vm->pages_to_flush = (uint64_t *)(void *)(b + off);
	off += PAGE;
	vm->ram_pages_to_update = (uint64_t *)(void *)(b + off);
	off += PAGE;
	vm->modified_ram_pages = (uint64_t *)(void *)(b + off);
	off += PAGE;
	vm->args = (struct kqs_args *)(void *)(b + off);
	/* QEMU starts with every page dirty. */
	memset(vm->ram_dirty, 0xff, ram_size / PAGE);
	return (0);
}

void
kqs_vm_free(struct kqs_vm *vm)
{
	free(vm->block);
	memset(vm, 0, sizeof(*vm));
}

int
kqs_get_version(kqs_ioctl_fn fn, void *ctx, struct kqs_vm *vm, int *version)
{
	int error;

	vm->args->version = 0;
	error = fn(ctx, KQEMU_IOC_GET_VERSION, &vm->args->version);
	if (error == 0)
		*version = vm->args->version;
	return (error);
}

int
kqs_init(kqs_ioctl_fn fn, void *ctx, struct kqs_vm *vm)
{
	struct kqemu_init *d = &vm->args->init;

	memset(d, 0, sizeof(*d));
	d->ram_base = vm->ram;
	d->ram_size = vm->ram_size;
	d->ram_dirty = vm->ram_dirty;
	d->pages_to_flush = vm->pages_to_flush;
	d->ram_pages_to_update = vm->ram_pages_to_update;
	d->modified_ram_pages = vm->modified_ram_pages;
	return (fn(ctx, KQEMU_IOC_INIT, d));
}

int
kqs_set_phys_mem(kqs_ioctl_fn fn, void *ctx, struct kqs_vm *vm,
    uint64_t phys, uint64_t size, uint64_t ram_addr, uint32_t io_index)
{
	struct kqemu_phys_mem *p = &vm->args->phys;

	memset(p, 0, sizeof(*p));
	p->phys_addr = phys;
	p->size = size;
	p->ram_addr = ram_addr;
	p->io_index = io_index;
	return (fn(ctx, KQEMU_IOC_SET_PHYS_MEM, p));
}

int
kqs_map_pc(kqs_ioctl_fn fn, void *ctx, struct kqs_vm *vm)
{
	const uint64_t r = vm->ram_size, guest = r - ROM_AREA;
	const uint64_t vgabios = r - ROM_AREA, bios = r - 0x20000;
	const struct {
		uint64_t phys, size, ram;
		uint32_t io;
	} map[] = {
		{ 0, 0xa0000, 0, KQEMU_IO_MEM_RAM },
		{ 0xa0000, 0x20000, 0, KQEMU_IO_MEM_UNASSIGNED },	/* VGA window */
		{ 0xc0000, 0x8000, vgabios, KQEMU_IO_MEM_ROM },
		{ 0xe0000, 0x20000, bios, KQEMU_IO_MEM_ROM },
		{ 0x100000, guest - 0x100000, 0x100000, KQEMU_IO_MEM_RAM },
		{ 0xff000000, PAGE, 0, KQEMU_IO_MEM_COMM },		/* kqemu comm page */
		{ 0xfffe0000, 0x20000, bios, KQEMU_IO_MEM_ROM },
	};
	int refused = 0;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (kqs_set_phys_mem(fn, ctx, vm, map[i].phys, map[i].size,
		    map[i].ram, map[i].io) != 0)
			refused++;
	}
	return (refused);
}

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (x);
}

int
kqs_exec_once(kqs_ioctl_fn fn, void *ctx, struct kqs_vm *vm, unsigned int seed,
    int *retval, int *modify_calls)
{
	struct kqemu_cpu_state *cs = &vm->args->cpu, want;
	unsigned char *bytes = (unsigned char *)cs;
	unsigned int nflush, nupd, nmod, k;
	int error;

	/* A state with every byte, padding included, derived from seed. */
	for (size_t i = 0; i < sizeof(*cs); i += 8) {
		uint64_t v = mix(((uint64_t)seed << 32) | i);
		memcpy(bytes + i, &v, 8);
	}

	/* Pages QEMU wants flushed: a few, sometimes all. */
	nflush = seed % 5 == 4 ? KQEMU_FLUSH_ALL : seed % 17;
	for (k = 0; k < nflush && k < KQEMU_MAX_PAGES_TO_FLUSH; k++)
		vm->pages_to_flush[k] = ((uint64_t)(seed + k) * PAGE) & 0xfffff000ULL;
	/* ram_dirty entries QEMU cleared (e.g. after a VGA refresh). */
	nupd = seed % 3 == 0 ? seed % 9 : 0;
	for (k = 0; k < nupd; k++) {
		uint64_t off = ((uint64_t)(seed + k) * PAGE) % vm->ram_size;
		vm->ram_pages_to_update[k] = off;
		vm->ram_dirty[off / PAGE] = 0;
	}
	/* Guest writes to RAM pages QEMU tracks since the last EXEC: append,
	 * flush when full (now and then more than the table holds). */
	nmod = seed % 10 == 9 ? 600 : 29;
	for (k = 0; k < nmod; k++) {
		if (vm->nb_modified == KQEMU_MAX_MODIFIED_RAM_PAGES) {
			vm->args->count = (int)vm->nb_modified;
			error = fn(ctx, KQEMU_IOC_MODIFY_RAM_PAGES, &vm->args->count);
			if (error != 0)
				return (error);
			(*modify_calls)++;
			vm->nb_modified = 0;
		}
		vm->modified_ram_pages[vm->nb_modified++] =
		    ((uint64_t)(seed * 31 + k) * PAGE) % vm->ram_size;
	}
	cs->nb_pages_to_flush = nflush;
	cs->nb_ram_pages_to_update = nupd;
	cs->nb_modified_ram_pages = vm->nb_modified;
	cs->retval = 0x7777;
	want = *cs;

	error = fn(ctx, KQEMU_IOC_EXEC, cs);
	if (error != 0)
		return (error);
	vm->nb_modified = 0;	/* QEMU resets its table after EXEC */
	*retval = cs->retval;
	if (cs->retval != KQEMU_RET_SOFTMMU && cs->retval != KQEMU_RET_INTR)
		return (KQS_ERETVAL);
	/* The page-list counters were consumed; everything else came back. */
	if (cs->nb_pages_to_flush != 0 || cs->nb_ram_pages_to_update != 0 ||
	    cs->nb_modified_ram_pages != 0)
		return (KQS_EROUNDTRIP);
	want.nb_pages_to_flush = 0;
	want.nb_ram_pages_to_update = 0;
	want.nb_modified_ram_pages = 0;
	want.retval = cs->retval;
	if (memcmp(&want, cs, sizeof(want)) != 0)
		return (KQS_EROUNDTRIP);
	return (0);
}

#define STEP(name, expr) do {				\
	res->step = (name);				\
	if ((res->error = (expr)) != 0)			\
		return (res->error);			\
} while (0)

int
kqs_run(kqs_ioctl_fn fn, void *ctx, struct kqs_vm *vm, int nexec,
    struct kqs_result *res)
{
	int rv;

	memset(res, 0, sizeof(*res));
	STEP("GET_VERSION", kqs_get_version(fn, ctx, vm, &res->version));
	STEP("GET_VERSION", res->version == KQEMU_VERSION ? 0 : KQS_EVERSION);
	STEP("INIT", kqs_init(fn, ctx, vm));
	res->step = "SET_PHYS_MEM";
	res->phys_errors = kqs_map_pc(fn, ctx, vm);
	for (int i = 0; i < nexec; i++) {
		STEP("EXEC", kqs_exec_once(fn, ctx, vm, (unsigned int)i, &rv,
		    &res->modify_calls));
		res->execs++;
		if (rv == KQEMU_RET_INTR)
			res->intr++;
		else
			res->softmmu++;
	}
	res->step = NULL;
	return (0);
}
