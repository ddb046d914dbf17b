/*
 * qseq.c: the QEMU 0.10 sequence against /dev/kqemu (see qseq.h).
 */
#include "qseq.h"

int
qvm_alloc(struct qvm *vm, unsigned long ram_pages)
{
	unsigned long dirty_len = (ram_pages + 4095) & ~4095UL;
	unsigned long lists = 3 * 4096;
	uint8_t *p;

	memset(vm, 0, sizeof(*vm));
	vm->fd = -1;
	vm->ram_size = ram_pages * 4096;
	p = mmap(NULL, vm->ram_size + dirty_len + lists, PROT_READ | PROT_WRITE,
	    MAP_ANON | MAP_PRIVATE, -1, 0);
	if (p == MAP_FAILED)
		return (errno);
	vm->ram = p;
	vm->dirty = p + vm->ram_size;
	vm->flush = (uint64_t *)(vm->dirty + dirty_len);
	vm->update = vm->flush + 512;
	vm->modified = vm->update + 512;
	vm->init.ram_base = vm->ram;
	vm->init.ram_size = vm->ram_size;
	vm->init.ram_dirty = vm->dirty;
	vm->init.pages_to_flush = vm->flush;
	vm->init.ram_pages_to_update = vm->update;
	vm->init.modified_ram_pages = vm->modified;
	memset(vm->dirty, 0xff, ram_pages);
	return (0);
}

void
qvm_free(struct qvm *vm)
{
	unsigned long dirty_len = (vm->ram_size / 4096 + 4095) & ~4095UL;

	if (vm->ram != NULL)
		munmap(vm->ram, vm->ram_size + dirty_len + 3 * 4096);
	vm->ram = NULL;
}

static void
pattern(struct kqemu_cpu_state *cs, unsigned long seed)
{
	int i;

	memset(cs, 0, sizeof(*cs));
	for (i = 0; i < 16; i++)
		cs->regs[i] = seed * 0x9e3779b97f4a7c15UL + (unsigned long)i;
	cs->eip = 0xfff0 + (seed & 0xff);
	cs->eflags = 0x2;
	for (i = 0; i < 6; i++) {
		cs->segs[i].selector = (uint16_t)(seed + (unsigned long)i);
		cs->segs[i].base = seed << 4;
		cs->segs[i].limit = 0xffff;
		cs->segs[i].flags = 0x93;
	}
	cs->cr0 = 0x60000010;
	cs->cr3 = (seed & 0xfff) << 12;
	cs->a20_mask = ~0UL;
	cs->efer = seed & 0xd01;
	cs->dr7 = 0x400;
	cs->cpl = (uint8_t)(seed & 3);
	cs->user_only = 0;
}

const char *
qvm_exec_check(struct qvm *vm, unsigned long seed)
{
	struct kqemu_cpu_state cs, want;

	pattern(&cs, seed);
	want = cs;
	/* QEMU lists a few pages it wrote and wants flushed. */
	vm->flush[0] = 0x1000;
	vm->modified[0] = 0;
	cs.nb_pages_to_flush = 1;
	cs.nb_modified_ram_pages = 1;
	cs.nb_ram_pages_to_update = 0;
	cs.retval = -7;
	if (ioctl(vm->fd, KQEMU_IOC_EXEC, &cs) < 0)
		return t_fail("EXEC: %s", strerror(errno));
	if (cs.retval != KQEMU_RET_SOFTMMU && cs.retval != KQEMU_RET_INTR)
		return t_fail("EXEC retval %#x, want SOFTMMU", cs.retval);
	if (cs.nb_pages_to_flush != 0 || cs.nb_modified_ram_pages != 0)
		return t_fail("EXEC did not consume its page lists");
	/* Everything else must come back exactly as it went in. */
	want.nb_pages_to_flush = cs.nb_pages_to_flush;
	want.nb_modified_ram_pages = cs.nb_modified_ram_pages;
	want.nb_ram_pages_to_update = cs.nb_ram_pages_to_update;
	want.retval = cs.retval;
	if (memcmp(&cs, &want, sizeof(cs)) != 0) {
		const uint8_t *a = (const uint8_t *)&cs, *b = (const uint8_t *)&want;
		unsigned int i;

		for (i = 0; i < sizeof(cs) && a[i] == b[i]; i++)
			;
		return t_fail("EXEC state differs at byte %u", i);
	}
	return (NULL);
}

const char *
qvm_sequence(struct qvm *vm, int nexec, unsigned long seed)
{
	struct kqemu_phys_mem pm;
	const char *r;
	int version = 0, i, n;

	if (ioctl(vm->fd, KQEMU_IOC_GET_VERSION, &version) < 0)
		return t_fail("GET_VERSION: %s", strerror(errno));
	if (version != KQEMU_VERSION)
		return t_fail("GET_VERSION %#x", version);
	if (ioctl(vm->fd, KQEMU_IOC_INIT, &vm->init) < 0)
		return t_fail("INIT: %s", strerror(errno));
	/* RAM at 0, the BIOS ROM at the top of 4 GiB, the comm page, a hole. */
	memset(&pm, 0, sizeof(pm));
	pm.phys_addr = 0;
	pm.size = vm->ram_size - 0x10000;
	pm.ram_addr = 0;
	pm.io_index = KQEMU_IO_MEM_RAM;
	if (ioctl(vm->fd, KQEMU_IOC_SET_PHYS_MEM, &pm) < 0)
		return t_fail("SET_PHYS_MEM RAM: %s", strerror(errno));
	pm.phys_addr = 0xffff0000UL;
	pm.size = 0x10000;
	pm.ram_addr = vm->ram_size - 0x10000;
	pm.io_index = KQEMU_IO_MEM_ROM;
	if (ioctl(vm->fd, KQEMU_IOC_SET_PHYS_MEM, &pm) < 0)
		return t_fail("SET_PHYS_MEM ROM: %s", strerror(errno));
	pm.phys_addr = 0xfee00000UL;
	pm.size = 0x1000;
	pm.ram_addr = 0;
	pm.io_index = KQEMU_IO_MEM_COMM;
	if (ioctl(vm->fd, KQEMU_IOC_SET_PHYS_MEM, &pm) < 0)
		return t_fail("SET_PHYS_MEM COMM: %s", strerror(errno));
	pm.phys_addr = 0xa0000;
	pm.size = 0x20000;
	pm.io_index = KQEMU_IO_MEM_UNASSIGNED;
	if (ioctl(vm->fd, KQEMU_IOC_SET_PHYS_MEM, &pm) < 0)
		return t_fail("SET_PHYS_MEM UNASSIGNED: %s", strerror(errno));
	for (i = 0; i < nexec; i++) {
		if ((r = qvm_exec_check(vm, seed + (unsigned long)i)) != NULL)
			return (r);
		if (i % 8 == 7) {
			n = 3;
			vm->modified[0] = 0;
			vm->modified[1] = 0x1000;
			vm->modified[2] = 0x2000;
			if (ioctl(vm->fd, KQEMU_IOC_MODIFY_RAM_PAGES, &n) < 0)
				return t_fail("MODIFY_RAM_PAGES: %s", strerror(errno));
		}
	}
	return (NULL);
}
