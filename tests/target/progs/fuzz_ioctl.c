/*
 * fuzz_ioctl.c: the fuzz suite's user pointers and its calls on an open
 * /dev/kqemu: every kqemu ioctl (valid, arbitrary and bad arguments),
 * command words kqemu does not know, the generic file ioctls, read and
 * write, each with the results it may have.
 * Locking: none; per process (fz_sh counters are atomic).
 */
#include "fuzz.h"

/* --- user pointers -------------------------------------------------------- */

enum { P_VALID, P_MISALIGNED, P_NULL, P_GUARD, P_STRADDLE, P_KERNEL,
	P_DMAP, P_NONCANON, P_N };
static const char *const pname[P_N] = {
	"valid", "misaligned", "NULL", "PROT_NONE page", "running into PROT_NONE",
	"kernel text", "kernel DMAP", "non-canonical",
};

static int
pick_ptr(struct fz_proc *p)
{
	uint32_t r = frng_below(&p->rng, 100);

	if (r < 70)
		return (P_VALID);
	if (r < 76)
		return (P_MISALIGNED);
	return (P_NULL + (int)frng_below(&p->rng, P_N - P_NULL));
}

static int
ptr_bad(int k)
{
	return (k >= P_NULL);
}

/* Where a call's argument of `size` bytes goes; the content is copied in. */
static void *
place(struct fz_proc *p, int k, const void *content, size_t size)
{
	uint8_t *guard = p->scratch + 2 * 4096;

	switch (k) {
	case P_VALID:
		memcpy(p->scratch, content, size);
		return (p->scratch);
	case P_MISALIGNED:
		memcpy(p->scratch + 1, content, size);
		return (p->scratch + 1);
	case P_NULL:
		return (NULL);
	case P_GUARD:
		return (guard);
	case P_STRADDLE:
		/* The first half readable, the rest not. */
		if (size < 2)
			return (guard);
		memcpy(guard - size / 2, content, size / 2);
		return (guard - size / 2);
	case P_KERNEL:
		return ((void *)0xffffffff80200000UL);
	case P_DMAP:
		return ((void *)0xfffff80000100000UL);
	default:
		return ((void *)0x0000800000000000UL);
	}
}

/* --- the ioctls ----------------------------------------------------------- */

/*
 * The descriptor an ioctl/read/write goes to: a slot (*fp set to its
 * file), or now and then one that is not open (*fp NULL, EBADF).
 */
static int
pick_fd(struct fz_proc *p, struct fz_file **fp)
{
	int s = fz_used_slot(p);

	if (s < 0 && frng_below(&p->rng, 3) != 0) {
		fz_open(p);
		s = fz_used_slot(p);
	}
	if (s < 0 || frng_below(&p->rng, 20) == 0) {
		*fp = NULL;
		return (FD_BAD);
	}
	*fp = &p->files[p->file[s]];
	return (p->fd[s]);
}

void
fz_version(struct fz_proc *p)
{
	struct fz_file *f;
	int fd = pick_fd(p, &f), k = pick_ptr(p), v = 0, e;
	void *a = place(p, k, &v, sizeof(v));
	unsigned long allowed;

	fz_note(p, "ioctl(%d%s, GET_VERSION, %s)", fd, f && f->shared ? " shared" : "",
	    pname[k]);
	if (f == NULL)
		allowed = BIT(EBADF);
	else if (ptr_bad(k))
		allowed = BIT(EFAULT) | (f->shared ? BIT(ENXIO) : 0);
	else
		allowed = OK | (f->shared ? BIT(ENXIO) : 0);
	e = fz_expect(p, K_VERSION, ioctl(fd, KQEMU_IOC_GET_VERSION, a), allowed);
	if (e == 0 && !ptr_bad(k)) {
		memcpy(&v, a, sizeof(v));
		if (v != KQEMU_VERSION)
			fz_fail(p, "GET_VERSION answered 0x%x", v);
	}
}

uint8_t *
fz_bad_uptr(struct fz_proc *p)
{
	static const unsigned long bad[] = { 0, 0xffffffff80200000UL,
	    0x0000800000000000UL, 0xfffff80000100000UL };
	uint32_t r = frng_below(&p->rng, 6);

	if (r < 4)
		return ((uint8_t *)bad[r]);
	if (r == 4)
		return (p->scratch + 2 * 4096);		/* PROT_NONE */
	return (p->vm.ram + 1);				/* misaligned */
}

/* INIT's argument: QEMU's own, or with fields made arbitrary. */
static int
init_arg(struct fz_proc *p, struct kqemu_init *in)
{
	static const uint64_t sizes[] = { 0, 4095, VM_PAGES * 4096 + 1,
	    VM_PAGES * 4096 + 4096, 2 * VM_PAGES * 4096, KQEMU_MAX_RAM_SIZE,
	    0x80000000UL, ~0xfffUL };
	uint8_t **ptrs[5];
	int i, arb = 0;

	*in = p->vm.init;
	if (frng_below(&p->rng, 3) != 0)
		return (0);
	ptrs[0] = &in->ram_base;
	ptrs[1] = &in->ram_dirty;
	ptrs[2] = (uint8_t **)&in->pages_to_flush;
	ptrs[3] = (uint8_t **)&in->ram_pages_to_update;
	ptrs[4] = (uint8_t **)&in->modified_ram_pages;
	for (i = 0; i < 5; i++) {
		uint32_t r = frng_below(&p->rng, 8);

		if (r == 0)
			*ptrs[i] = fz_bad_uptr(p), arb = 1;
		else if (r == 1)
			*ptrs[i] += 4096, arb = 1;	/* still inside the mapping */
	}
	if (frng_below(&p->rng, 3) == 0)
		in->ram_size = sizes[frng_below(&p->rng, 8)], arb = 1;
	return (arb);
}

void
fz_init(struct fz_proc *p)
{
	struct kqemu_init in;
	struct fz_file *f;
	int fd = pick_fd(p, &f), arb = init_arg(p, &in), k = pick_ptr(p), e;
	void *a = place(p, k, &in, sizeof(in));
	unsigned long allowed;

	fz_note(p, "ioctl(%d%s%s, INIT %s, %s)", fd, f && f->shared ? " shared" : "",
	    f && f->inited ? " inited" : "", arb ? "arbitrary" : "valid", pname[k]);
	if (f == NULL)
		allowed = BIT(EBADF);
	else if (ptr_bad(k))
		allowed = BIT(EFAULT);		/* sys_ioctl's copyin */
	else if (f->shared)
		allowed = OK | BIT(EIO) | BIT(ENXIO) | BIT(ENOMEM) |
		    (arb ? BIT(EINVAL) | BIT(EFAULT) : 0);
	else if (f->inited)
		allowed = BIT(EIO);		/* INIT twice */
	else
		allowed = OK | BIT(ENOMEM) | (arb ? BIT(EINVAL) | BIT(EFAULT) : 0);
	e = fz_expect(p, K_INIT, ioctl(fd, KQEMU_IOC_INIT, a), allowed);
	if (f == NULL || ptr_bad(k) || (e != 0 && e != EIO))
		return;
	f->inited = 1;
	/*
	 * proc mode finds a clone by the calling pid, not by the file: an
	 * INIT this process makes through a descriptor it inherited reaches
	 * its own clone if it has one (the shim cannot tell the files
	 * apart), so its own descriptors are no longer held to one answer.
	 */
	if (fz_proc_mode() && f->shared) {
		int i;

		for (i = 0; i < NFD; i++)
			p->files[i].shared = 1;
	}
}

static void
cpu_pattern(struct fz_proc *p, struct kqemu_cpu_state *cs, int arb)
{
	static const uint32_t counts[] = { 0, 1, 511, 512, 513, 514, 0x7fffffff,
	    0xffffffffU };
	uint64_t *w = (uint64_t *)cs;
	size_t i;

	memset(cs, 0, sizeof(*cs));
	if (arb) {
		for (i = 0; i < sizeof(*cs) / 8; i++)
			w[i] = frng_next(&p->rng);
		cs->nb_pages_to_flush = counts[frng_below(&p->rng, 8)];
		cs->nb_ram_pages_to_update = counts[frng_below(&p->rng, 8)];
		cs->nb_modified_ram_pages = counts[frng_below(&p->rng, 8)];
		return;
	}
	for (i = 0; i < 16; i++)
		cs->regs[i] = frng_next(&p->rng);
	cs->eip = frng_next(&p->rng) & 0xffff;
	cs->eflags = 0x2;
	cs->cr0 = 0x60000010;
	cs->a20_mask = ~0UL;
}

void
fz_exec(struct fz_proc *p)
{
	struct kqemu_cpu_state cs, out;
	struct fz_file *f;
	int fd = pick_fd(p, &f), arb = frng_below(&p->rng, 3) == 0, k, e;
	void *a;
	unsigned long allowed;

	cpu_pattern(p, &cs, arb);
	k = pick_ptr(p);
	a = place(p, k, &cs, sizeof(cs));
	fz_note(p, "ioctl(%d%s%s, EXEC %s, %s)", fd, f && f->shared ? " shared" : "",
	    f && f->inited ? " inited" : "", arb ? "arbitrary" : "valid", pname[k]);
	if (f == NULL)
		allowed = BIT(EBADF);
	else if (ptr_bad(k))
		allowed = BIT(EFAULT);
	else if (f->shared)
		allowed = OK | BIT(EIO) | BIT(ENXIO) | (arb ? BIT(EINVAL) | BIT(EFAULT) : 0);
	else if (!f->inited)
		allowed = BIT(EIO);
	else
		allowed = OK | (arb ? BIT(EINVAL) | BIT(EFAULT) : 0);
	e = fz_expect(p, K_EXEC, ioctl(fd, KQEMU_IOC_EXEC, a), allowed);
	if (e != 0 || arb || ptr_bad(k))
		return;
	memcpy(&out, a, sizeof(out));
	if (out.retval != KQEMU_RET_SOFTMMU && out.retval != KQEMU_RET_INTR)
		fz_fail(p, "EXEC retval 0x%x, want SOFTMMU or INTR", out.retval);
	else if (memcmp(out.regs, cs.regs, sizeof(cs.regs)) != 0 || out.eip != cs.eip)
		fz_fail(p, "EXEC did not give the registers back");
}

void
fz_phys(struct fz_proc *p)
{
	static const uint64_t addrs[] = { 0, 0xa0000, 0x100000, 0xfee00000UL,
	    0xffff0000UL };
	struct kqemu_phys_mem pm;
	struct fz_file *f;
	int fd = pick_fd(p, &f), arb = frng_below(&p->rng, 3) == 0, k;
	void *a;
	unsigned long allowed;

	memset(&pm, 0, sizeof(pm));
	pm.phys_addr = addrs[frng_below(&p->rng, 5)];
	pm.size = 4096 * (1 + frng_below(&p->rng, 4));
	pm.ram_addr = 4096 * frng_below(&p->rng, VM_PAGES - 4);
	pm.io_index = frng_below(&p->rng, 4);
	if (arb) {
		switch (frng_below(&p->rng, 6)) {
		case 0: pm.phys_addr = frng_next(&p->rng); break;
		case 1: pm.size = frng_below(&p->rng, 3) == 0 ? 0 : frng_next(&p->rng); break;
		case 2: pm.ram_addr = frng_next(&p->rng) & ~0xfffUL; break;
		case 3: pm.io_index = (uint32_t)frng_next(&p->rng); break;
		case 4: pm.phys_addr = 0xfffff000UL, pm.size = 0x2000; break;
		default: pm.size = 4096UL * VM_PAGES * 2; break;
		}
	}
	k = pick_ptr(p);
	a = place(p, k, &pm, sizeof(pm));
	fz_note(p, "ioctl(%d%s%s, SET_PHYS_MEM %s 0x%lx+0x%lx io %u, %s)", fd,
	    f && f->shared ? " shared" : "", f && f->inited ? " inited" : "",
	    arb ? "arbitrary" : "valid", pm.phys_addr, pm.size, pm.io_index, pname[k]);
	if (f == NULL)
		allowed = BIT(EBADF);
	else if (ptr_bad(k))
		allowed = BIT(EFAULT);
	else if (f->shared)
		allowed = OK | BIT(EIO) | BIT(ENXIO) | BIT(ENOMEM) | (arb ? BIT(EINVAL) : 0);
	else if (!f->inited)
		allowed = BIT(EIO);
	else
		allowed = OK | BIT(ENOMEM) | (arb ? BIT(EINVAL) : 0);
	fz_expect(p, K_PHYS, ioctl(fd, KQEMU_IOC_SET_PHYS_MEM, a), allowed);
}

void
fz_modify(struct fz_proc *p)
{
	static const int good[] = { 0, 1, 3, 512, 513 };
	static const int bad[] = { -1, 514, 0x7fffffff, -512, 100000 };
	struct fz_file *f;
	int fd = pick_fd(p, &f), arb = frng_below(&p->rng, 3) == 0, n, k;
	void *a;
	unsigned long allowed;

	n = arb ? bad[frng_below(&p->rng, 5)] : good[frng_below(&p->rng, 5)];
	k = pick_ptr(p);
	a = place(p, k, &n, sizeof(n));
	fz_note(p, "ioctl(%d%s%s, MODIFY_RAM_PAGES %d, %s)", fd,
	    f && f->shared ? " shared" : "", f && f->inited ? " inited" : "", n, pname[k]);
	if (f == NULL)
		allowed = BIT(EBADF);
	else if (ptr_bad(k))
		allowed = BIT(EFAULT);
	else if (f->shared)
		allowed = OK | BIT(EIO) | BIT(ENXIO) | BIT(EINVAL);
	else if (!f->inited)
		allowed = BIT(EIO);
	else
		allowed = arb ? BIT(EINVAL) : OK;
	fz_expect(p, K_MODIFY, ioctl(fd, KQEMU_IOC_MODIFY_RAM_PAGES, a), allowed);
}

/* A command word kqemu does not know: group 'q' with another number,
 * size or direction, or any group but the generic 'f' and tty 't' ones. */
static unsigned long
other_cmd(struct fz_proc *p)
{
	static const uint32_t dirs[] = { IOC_IN, IOC_OUT, IOC_IN | IOC_OUT, IOC_VOID, 0 };
	uint32_t cmd, grp, nr, size;

	do {
		if (frng_below(&p->rng, 4) == 0) {
			cmd = (uint32_t)frng_next(&p->rng);
			grp = (cmd >> 8) & 0xff;
			if (grp == 'f' || grp == 't')
				cmd ^= 0x0100;
			continue;
		}
		nr = frng_below(&p->rng, 3) == 0 ? 1 + frng_below(&p->rng, 5) :
		    frng_below(&p->rng, 256);
		size = frng_below(&p->rng, 4) == 0 ? frng_below(&p->rng, 8192) :
		    frng_below(&p->rng, 600);
		cmd = dirs[frng_below(&p->rng, 5)] | (size << 16) | ('q' << 8) | nr;
	} while (cmd == KQEMU_IOC_EXEC || cmd == KQEMU_IOC_INIT ||
	    cmd == KQEMU_IOC_GET_VERSION || cmd == KQEMU_IOC_MODIFY_RAM_PAGES ||
	    cmd == KQEMU_IOC_SET_PHYS_MEM || ((cmd >> 8) & 0xff) == 'f' ||
	    ((cmd >> 8) & 0xff) == 't');
	return (cmd);
}

void
fz_other(struct fz_proc *p)
{
	struct fz_file *f;
	int fd = pick_fd(p, &f), k = pick_ptr(p);
	uint32_t cmd = (uint32_t)other_cmd(p), size = (cmd >> 16) & 0x1fff;
	void *a;
	unsigned long allowed;

	/* The valid buffer is the two read-write scratch pages (8192 bytes). */
	if (k == P_MISALIGNED && size > 8191)
		k = P_VALID;
	if (k == P_VALID || k == P_MISALIGNED)
		a = p->scratch + (k == P_MISALIGNED);
	else if (k == P_STRADDLE && size >= 2)
		a = p->scratch + 2 * 4096 - (size > 4096 ? 2048 : size / 2);
	else
		a = place(p, k, p->scratch, 1);
	fz_note(p, "ioctl(%d%s, 0x%x, %s)", fd, f && f->shared ? " shared" : "", cmd,
	    pname[k]);
	if (f == NULL)
		allowed = BIT(EBADF);
	else if (ptr_bad(k) && (cmd & IOC_IN) && !(cmd & IOC_VOID) && size != 0)
		allowed = BIT(EFAULT);
	else
		allowed = BIT(ENOTTY) | (f->shared ? BIT(ENXIO) : 0);
	fz_expect(p, K_OTHER, ioctl(fd, cmd, a), allowed);
}

/* The generic file ioctls: answered by the kernel, or passed to the driver. */
void
fz_fio(struct fz_proc *p)
{
	static const uint32_t cmds[] = { FIONBIO, FIOASYNC, FIOCLEX, FIONCLEX,
	    FIODTYPE, FIONREAD, FIODNAME };
	struct {
		char *name;
		uint32_t len;
		uint32_t pad;
	} dn;
	struct fz_file *f;
	int fd = pick_fd(p, &f), k = pick_ptr(p), v = (int)frng_below(&p->rng, 2);
	uint32_t cmd = cmds[frng_below(&p->rng, 7)];
	unsigned long allowed, drv = BIT(ENOTTY);
	void *a;
	char *name = (char *)p->scratch + 4096;

	if (f != NULL && f->shared)
		drv |= BIT(ENXIO);
	if (cmd == FIODNAME) {
		dn.name = frng_below(&p->rng, 4) == 0 ? (char *)fz_bad_uptr(p) : name;
		dn.len = frng_below(&p->rng, 3) == 0 ? frng_below(&p->rng, 6) : 64;
		dn.pad = 0;
		a = place(p, k, &dn, sizeof(dn));
	} else {
		a = place(p, k, &v, sizeof(v));
	}
	fz_note(p, "ioctl(%d%s, 0x%x, %s)", fd, f && f->shared ? " shared" : "", cmd,
	    pname[k]);
	if (f == NULL)
		allowed = BIT(EBADF);
	else if (cmd == FIOCLEX || cmd == FIONCLEX)
		allowed = OK;				/* no argument */
	else if (cmd == FIONREAD)
		allowed = drv;				/* the driver says no first */
	else if (ptr_bad(k))
		allowed = BIT(EFAULT);			/* copyin, or FIODTYPE's copyout */
	else if (cmd == FIONBIO || cmd == FIODTYPE)
		allowed = OK;
	else if (cmd == FIOASYNC)
		allowed = drv;
	else						/* FIODNAME */
		allowed = OK | BIT(EINVAL) | BIT(EFAULT);
	fz_expect(p, K_FIO, ioctl(fd, cmd, a), allowed);
}

void
fz_rw(struct fz_proc *p, int wr)
{
	static const size_t lens[] = { 0, 1, 64, 4096 };
	struct fz_file *f;
	int fd = pick_fd(p, &f), k = pick_ptr(p);
	size_t len = lens[frng_below(&p->rng, 4)];
	void *a = k == P_VALID || k == P_MISALIGNED ? p->scratch + (k == P_MISALIGNED) :
	    place(p, k, "", len < 2 ? 1 : 2);
	unsigned long allowed;

	fz_note(p, "%s(%d%s, %s, %lu)", wr ? "write" : "read", fd,
	    f && f->shared ? " shared" : "", pname[k], (unsigned long)len);
	if (f == NULL || (!wr && f->wronly))
		allowed = BIT(EBADF);
	else if (len == 0)
		allowed = OK | BIT(ENODEV) | (f->shared ? BIT(ENXIO) : 0);
	else
		allowed = BIT(ENODEV) | (f->shared ? BIT(ENXIO) : 0) |
		    (ptr_bad(k) ? BIT(EFAULT) : 0);
	fz_expect(p, wr ? K_WRITE : K_READ,
	    wr ? write(fd, a, len) : read(fd, a, len), allowed);
}
