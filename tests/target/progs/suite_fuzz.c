/*
 * suite_fuzz.c: a seeded random-syscall phase on the real kernel (issue 14),
 * in the manner of syzkaller's executor: a few processes (and their forks)
 * each run a random sequence of calls on /dev/kqemu and the two modules --
 * open/close/dup/dup2/fork/exit/kill, every kqemu ioctl with valid,
 * arbitrary and bad arguments and bad user pointers (NULL, a PROT_NONE
 * page, a buffer running into it, kernel and non-canonical addresses,
 * misaligned), generic file ioctls, read/write, kldload/kldunload of
 * kqemu_clone and kqemu, sysctl reads and writes of hw.kqemu.* and
 * debug.kqemu_clone.*.  Every call's result is checked against the set of
 * results that call may legitimately have; a descriptor this process opened
 * itself and never shared must reach its own instance (its first INIT
 * succeeds, a second gets EIO, EXEC before INIT gets EIO, EXEC after it
 * round-trips), so those calls are held to one answer.  The first
 * unexpected result stops the phase and fails the case with the seed, the
 * process, the step and the call (and the process's last calls on the
 * console).  The next case checks that nothing is left: no clone, no
 * instance, no locked page, no hold, both modules unload and reload.
 *
 * Seed: kernel environment kqtest.fuzz_seed (default: a hash of the
 * suite's label, so a fixed value per boot); length: kqtest.fuzz_ms
 * (default FUZZ_MS).  Each process's stream derives from the seed and its
 * place in the process tree, so a seed replays the same call sequences;
 * the interleaving on 2 CPUs is the kernel's.
 * In a boot without hw.kqemu_clone.mode the phase drives kqemu.ko alone.
 *
 * State shared between the processes (stop flag, first failure, counters)
 * lives in one MAP_SHARED anonymous mapping, updated with atomics.
 */
#include "qseq.h"
#include "fuzz_rng.h"

#define DEV		"/dev/kqemu"
#define FUZZ_MS		12000	/* kenv kqtest.fuzz_ms overrides */
#define NPROC		3	/* top-level fuzz processes */
#define NKID		3	/* live children per top-level process */
#define NFD		6	/* descriptors one process holds at most */
#define NRING		10	/* calls kept for the failure report */
#define VM_PAGES	16	/* guest RAM of the valid INIT */
#define FD_HIGH		48	/* dup2 targets: FD_HIGH + slot */
#define FD_BAD		93	/* a descriptor number never open */

/* Local facts from DragonFly 5.8's headers that rt.h does not carry. */
#define ENOEXEC		8
#define ENOTDIR		20
#define EISDIR		21
#define EMFILE		24
#define MAP_FIXED	0x0010
#define PROT_NONE	0x00
#define FIOCLEX		0x20006601U	/* _IO('f', 1) */
#define FIONCLEX	0x20006602U	/* _IO('f', 2) */
#define FIODTYPE	0x4004667aU	/* _IOR('f', 122, int) */
#define FIOASYNC	0x8004667dU	/* _IOW('f', 125, int) */
#define FIONBIO		0x8004667eU	/* _IOW('f', 126, int) */
#define FIONREAD	0x4004667fU	/* _IOR('f', 127, int) */
#define FIODNAME	0x80106678U	/* _IOW('f', 120, struct fiodname_args) */
#define IOC_VOID	0x20000000U
#define IOC_OUT		0x40000000U
#define IOC_IN		0x80000000U

enum {
	K_OPEN, K_CLOSE, K_DUP, K_DUP2, K_FORK, K_KILL, K_WAIT, K_EXIT,
	K_VERSION, K_INIT, K_EXEC, K_PHYS, K_MODIFY, K_OTHER, K_FIO,
	K_READ, K_WRITE, K_LOAD, K_UNLOAD, K_SYSRD, K_SYSWR, K_CLOSEALL,
	K_QUIET, K_N
};
static const char *const kname[K_N] = {
	"open", "close", "dup", "dup2", "fork", "kill", "wait", "exit",
	"GET_VERSION", "INIT", "EXEC", "SET_PHYS_MEM", "MODIFY_RAM_PAGES",
	"other-ioctl", "file-ioctl", "read", "write", "kldload", "kldunload",
	"sysctl-read", "sysctl-write", "close-all", "quiet-unload",
};
/* Relative weights of the calls a process picks. */
static const int kweight[K_N] = {
	12, 7, 3, 2, 3, 2, 2, 1,
	5, 9, 12, 6, 4, 5, 4,
	3, 3, 3, 4, 6, 2, 2,
	1,
};

#define NERR	64
struct fz_shared {
	volatile int stop;
	volatile int failed;
	long deadline;
	volatile int quiet_gen;		/* bumped: every process closes all */
	volatile long quiet_until;	/* no opens before this time */
	char msg[380];
	char ring[NRING][112];		/* the failing process's last calls */
	int nring;
	long steps, procs;
	long ok[K_N];
	long err[K_N][NERR];
};
static struct fz_shared *sh;

#define ADD(f, n)	__atomic_fetch_add(&sh->f, (n), __ATOMIC_RELAXED)
#define BIT(e)		(1UL << (e))
#define OK		BIT(0)

static char mode[32];		/* the boot's hw.kqemu_clone.mode; "" = kqemu alone */
static char label[48];
static uint64_t seed;
static long run_ms;
static int engine_set;		/* we set hw.kqemu.engine in the kenv */

/* An open file description as one process knows it. */
struct fz_file {
	int refs;		/* slots of this process naming it; 0 = free */
	int shared;		/* another process may hold it (fork) */
	int inited;		/* INIT succeeded on it (known for unshared) */
	int wronly;
};

struct fz_proc {
	struct frng rng;
	char name[24];
	int depth;
	long step, max_steps;
	int fd[NFD];		/* -1 or a descriptor */
	int file[NFD];		/* the slot's entry in files[] */
	struct fz_file files[NFD];
	pid_t kid[NKID];
	int nkids;
	struct qvm vm;
	uint8_t *scratch;	/* 2 pages read-write, then a PROT_NONE page */
	char ring[NRING][112];
	int nring;
	char call[112];		/* the call being made */
	int quiet_seen;		/* the last quiet_gen this process obeyed */
};

static int
is_alone(void)
{
	return (mode[0] == 0);
}

static const char *
ename(int e)
{
	static char buf[16];

	switch (e) {
	case ENOEXEC: return ("ENOEXEC");
	case ENOTDIR: return ("ENOTDIR");
	case EISDIR: return ("EISDIR");
	case EMFILE: return ("EMFILE");
	}
	if (strcmp(strerror(e), "E?") != 0)
		return (strerror(e));
	snprintf(buf, sizeof(buf), "errno %d", e);
	return (buf);
}

static void
set_names(char *buf, size_t n, unsigned long set)
{
	size_t len = 0;
	int e;

	buf[0] = 0;
	for (e = 0; e < NERR && len < n; e++)
		if (set & BIT(e))
			len += (size_t)snprintf(buf + len, n - len, "%s%s",
			    len ? "," : "", e == 0 ? "success" : ename(e));
}

static void
note(struct fz_proc *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->call, sizeof(p->call), fmt, ap);
	va_end(ap);
	memcpy(p->ring[p->nring % NRING], p->call, sizeof(p->call));
	p->nring++;
}

static void
fz_fail(struct fz_proc *p, const char *fmt, ...)
{
	char what[200];
	va_list ap;
	int i;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	sh->stop = 1;
	if (__atomic_exchange_n(&sh->failed, 1, __ATOMIC_SEQ_CST) != 0) {
		printf("fuzz: also: seed %lu %s step %ld: %s: %s\n",
		    (unsigned long)seed, p->name, p->step, p->call, what);
		return;
	}
	snprintf(sh->msg, sizeof(sh->msg), "seed %lu %s step %ld: %s: %s",
	    (unsigned long)seed, p->name, p->step, p->call, what);
	printf("fuzz: FAILED %s\n", sh->msg);
	/* Printed by the case once every process has ended: a parent may
	 * SIGKILL this one before it could print them. */
	for (i = p->nring > NRING ? p->nring - NRING : 0; i < p->nring; i++)
		memcpy(sh->ring[sh->nring++], p->ring[i % NRING], sizeof(sh->ring[0]));
}

/*
 * The result of the call just made (r, errno) must be in `allowed`
 * (BIT(errno), OK for success).  Counts it either way.
 */
static int
expect(struct fz_proc *p, int kind, long r, unsigned long allowed)
{
	int e = r == -1 ? errno : 0;
	char want[200];

	if (e == 0)
		ADD(ok[kind], 1);
	else
		ADD(err[kind][e < NERR ? e : NERR - 1], 1);
	if (e < NERR && (allowed & BIT(e)))
		return (e);
	set_names(want, sizeof(want), allowed);
	fz_fail(p, "got %s (ret %ld), allowed {%s}", e ? ename(e) : "success",
	    r, want);
	return (e);
}

static long
stat_of(const char *name)
{
	long v = -1;

	if (sysctl_int(name, &v) < 0)
		return (-1);
	return (v);
}

/* --- descriptors ---------------------------------------------------------- */

static int
free_slot(struct fz_proc *p)
{
	int i;

	for (i = 0; i < NFD; i++)
		if (p->fd[i] < 0)
			return (i);
	return (-1);
}

/* A random used slot, or -1. */
static int
used_slot(struct fz_proc *p)
{
	int i, n = 0, pick;

	for (i = 0; i < NFD; i++)
		n += p->fd[i] >= 0;
	if (n == 0)
		return (-1);
	pick = (int)frng_below(&p->rng, (uint32_t)n);
	for (i = 0; i < NFD; i++)
		if (p->fd[i] >= 0 && pick-- == 0)
			return (i);
	return (-1);
}

static int
new_file(struct fz_proc *p, int wronly)
{
	int i;

	for (i = 0; i < NFD; i++) {
		if (p->files[i].refs == 0) {
			memset(&p->files[i], 0, sizeof(p->files[i]));
			p->files[i].refs = 1;
			p->files[i].wronly = wronly;
			return (i);
		}
	}
	return (-1);	/* cannot happen: a file needs a slot */
}

static void
drop_slot(struct fz_proc *p, int s)
{
	p->files[p->file[s]].refs--;
	p->fd[s] = -1;
}

static void
close_slot(struct fz_proc *p, int s)
{
	note(p, "close(%d)", p->fd[s]);
	expect(p, K_CLOSE, close(p->fd[s]), OK);
	drop_slot(p, s);
}

static void
close_all(struct fz_proc *p)
{
	int i;

	for (i = 0; i < NFD && !sh->failed; i++)
		if (p->fd[i] >= 0)
			close_slot(p, i);
}

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

static void do_open(struct fz_proc *p);

/* --- the ioctls ----------------------------------------------------------- */

/*
 * The descriptor an ioctl/read/write goes to: a slot (*fp set to its
 * file), or now and then one that is not open (*fp NULL, EBADF).
 */
static int
pick_fd(struct fz_proc *p, struct fz_file **fp)
{
	int s = used_slot(p);

	if (s < 0 && frng_below(&p->rng, 3) != 0) {
		do_open(p);
		s = used_slot(p);
	}
	if (s < 0 || frng_below(&p->rng, 20) == 0) {
		*fp = NULL;
		return (FD_BAD);
	}
	*fp = &p->files[p->file[s]];
	return (p->fd[s]);
}

static void
do_version(struct fz_proc *p)
{
	struct fz_file *f;
	int fd = pick_fd(p, &f), k = pick_ptr(p), v = 0, e;
	void *a = place(p, k, &v, sizeof(v));
	unsigned long allowed;

	note(p, "ioctl(%d%s, GET_VERSION, %s)", fd, f && f->shared ? " shared" : "",
	    pname[k]);
	if (f == NULL)
		allowed = BIT(EBADF);
	else if (ptr_bad(k))
		allowed = BIT(EFAULT) | (f->shared ? BIT(ENXIO) : 0);
	else
		allowed = OK | (f->shared ? BIT(ENXIO) : 0);
	e = expect(p, K_VERSION, ioctl(fd, KQEMU_IOC_GET_VERSION, a), allowed);
	if (e == 0 && !ptr_bad(k)) {
		memcpy(&v, a, sizeof(v));
		if (v != KQEMU_VERSION)
			fz_fail(p, "GET_VERSION answered 0x%x", v);
	}
}

static uint8_t *
bad_uptr(struct fz_proc *p)
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
			*ptrs[i] = bad_uptr(p), arb = 1;
		else if (r == 1)
			*ptrs[i] += 4096, arb = 1;	/* still inside the mapping */
	}
	if (frng_below(&p->rng, 3) == 0)
		in->ram_size = sizes[frng_below(&p->rng, 8)], arb = 1;
	return (arb);
}

static void
do_init(struct fz_proc *p)
{
	struct kqemu_init in;
	struct fz_file *f;
	int fd = pick_fd(p, &f), arb = init_arg(p, &in), k = pick_ptr(p), e;
	void *a = place(p, k, &in, sizeof(in));
	unsigned long allowed;

	note(p, "ioctl(%d%s%s, INIT %s, %s)", fd, f && f->shared ? " shared" : "",
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
	e = expect(p, K_INIT, ioctl(fd, KQEMU_IOC_INIT, a), allowed);
	if (f != NULL && (e == 0 || (e == EIO && !ptr_bad(k))))
		f->inited = 1;
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

static void
do_exec(struct fz_proc *p)
{
	struct kqemu_cpu_state cs, out;
	struct fz_file *f;
	int fd = pick_fd(p, &f), arb = frng_below(&p->rng, 3) == 0, k, e;
	void *a;
	unsigned long allowed;

	cpu_pattern(p, &cs, arb);
	k = pick_ptr(p);
	a = place(p, k, &cs, sizeof(cs));
	note(p, "ioctl(%d%s%s, EXEC %s, %s)", fd, f && f->shared ? " shared" : "",
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
	e = expect(p, K_EXEC, ioctl(fd, KQEMU_IOC_EXEC, a), allowed);
	if (e != 0 || arb || ptr_bad(k))
		return;
	memcpy(&out, a, sizeof(out));
	if (out.retval != KQEMU_RET_SOFTMMU && out.retval != KQEMU_RET_INTR)
		fz_fail(p, "EXEC retval 0x%x, want SOFTMMU or INTR", out.retval);
	else if (memcmp(out.regs, cs.regs, sizeof(cs.regs)) != 0 || out.eip != cs.eip)
		fz_fail(p, "EXEC did not give the registers back");
}

static void
do_phys(struct fz_proc *p)
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
	note(p, "ioctl(%d%s%s, SET_PHYS_MEM %s 0x%lx+0x%lx io %u, %s)", fd,
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
	expect(p, K_PHYS, ioctl(fd, KQEMU_IOC_SET_PHYS_MEM, a), allowed);
}

static void
do_modify(struct fz_proc *p)
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
	note(p, "ioctl(%d%s%s, MODIFY_RAM_PAGES %d, %s)", fd,
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
	expect(p, K_MODIFY, ioctl(fd, KQEMU_IOC_MODIFY_RAM_PAGES, a), allowed);
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

static void
do_other(struct fz_proc *p)
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
	note(p, "ioctl(%d%s, 0x%x, %s)", fd, f && f->shared ? " shared" : "", cmd,
	    pname[k]);
	if (f == NULL)
		allowed = BIT(EBADF);
	else if (ptr_bad(k) && (cmd & IOC_IN) && !(cmd & IOC_VOID) && size != 0)
		allowed = BIT(EFAULT);
	else
		allowed = BIT(ENOTTY) | (f->shared ? BIT(ENXIO) : 0);
	expect(p, K_OTHER, ioctl(fd, cmd, a), allowed);
}

/* The generic file ioctls: answered by the kernel, or passed to the driver. */
static void
do_fio(struct fz_proc *p)
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
		dn.name = frng_below(&p->rng, 4) == 0 ? (char *)bad_uptr(p) : name;
		dn.len = frng_below(&p->rng, 3) == 0 ? frng_below(&p->rng, 6) : 64;
		dn.pad = 0;
		a = place(p, k, &dn, sizeof(dn));
	} else {
		a = place(p, k, &v, sizeof(v));
	}
	note(p, "ioctl(%d%s, 0x%x, %s)", fd, f && f->shared ? " shared" : "", cmd, pname[k]);
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
	expect(p, K_FIO, ioctl(fd, cmd, a), allowed);
}

static void
do_rw(struct fz_proc *p, int wr)
{
	static const size_t lens[] = { 0, 1, 64, 4096 };
	struct fz_file *f;
	int fd = pick_fd(p, &f), k = pick_ptr(p);
	size_t len = lens[frng_below(&p->rng, 4)];
	void *a = k == P_VALID || k == P_MISALIGNED ? p->scratch + (k == P_MISALIGNED) :
	    place(p, k, "", len < 2 ? 1 : 2);
	unsigned long allowed;

	note(p, "%s(%d%s, %s, %lu)", wr ? "write" : "read", fd,
	    f && f->shared ? " shared" : "", pname[k], (unsigned long)len);
	if (f == NULL || (!wr && f->wronly))
		allowed = BIT(EBADF);
	else if (len == 0)
		allowed = OK | BIT(ENODEV) | (f->shared ? BIT(ENXIO) : 0);
	else
		allowed = BIT(ENODEV) | (f->shared ? BIT(ENXIO) : 0) |
		    (ptr_bad(k) ? BIT(EFAULT) : 0);
	expect(p, wr ? K_WRITE : K_READ,
	    wr ? write(fd, a, len) : read(fd, a, len), allowed);
}

/* --- open, dup, fork, kill ------------------------------------------------ */

static void
do_open(struct fz_proc *p)
{
	static const int flags[] = { O_RDWR, O_RDWR, O_RDWR, O_RDWR, O_RDWR,
	    O_RDWR | O_NONBLOCK, O_RDWR | O_CLOEXEC, O_WRONLY, O_RDONLY,
	    O_RDONLY | O_NONBLOCK };
	int s = free_slot(p), fl, fd, e;

	if (now_ms() < sh->quiet_until)
		return;		/* a quiet window: no new clones */
	if (s < 0) {
		close_slot(p, used_slot(p));
		return;
	}
	fl = flags[frng_below(&p->rng, 10)];
	note(p, "open(%s, 0x%x)", DEV, fl);
	fd = open(DEV, fl);
	/* EMFILE: the shim's per-process limit (16) counts the clones a
	 * process opened that its forks still hold after it closed them. */
	e = expect(p, K_OPEN, fd, ((fl & 3) == O_RDONLY ? BIT(EPERM) : OK) |
	    BIT(ENOENT) | BIT(ENXIO) | BIT(EBUSY) | (is_alone() ? 0 : BIT(EMFILE)));
	if (e == 0 && fd >= 0) {
		p->fd[s] = fd;
		p->file[s] = new_file(p, (fl & 3) == O_WRONLY);
	}
}

static void
do_dup(struct fz_proc *p, int two)
{
	int from = used_slot(p), to = free_slot(p), fd, target, i;

	if (from < 0)
		return;
	if (!two) {
		if (to < 0)
			return;
		note(p, "dup(%d)", p->fd[from]);
		fd = dup(p->fd[from]);
		if (expect(p, K_DUP, fd, OK) == 0) {
			p->fd[to] = fd;
			p->file[to] = p->file[from];
			p->files[p->file[from]].refs++;
		}
		return;
	}
	/* dup2 onto another slot's descriptor (closing its file) or a free one. */
	if (to < 0 || frng_below(&p->rng, 2) == 0)
		to = used_slot(p);
	target = p->fd[to] >= 0 ? p->fd[to] : FD_HIGH + to;
	for (i = 0; i < NFD; i++)
		if (i != to && p->fd[i] == target)
			return;		/* FD_HIGH + to already taken by a dup */
	note(p, "dup2(%d, %d)", p->fd[from], target);
	if (expect(p, K_DUP2, dup2(p->fd[from], target), OK) != 0 || to == from)
		return;
	if (p->fd[to] >= 0)
		drop_slot(p, to);
	p->fd[to] = target;
	p->file[to] = p->file[from];
	p->files[p->file[from]].refs++;
}

static void run(struct fz_proc *p) __attribute__((noreturn));
static void finish(struct fz_proc *p) __attribute__((noreturn));

static void
do_fork(struct fz_proc *p)
{
	int k, i;
	pid_t pid;

	if (p->depth > 0)
		return;
	for (k = 0; k < NKID && p->kid[k] > 0; k++)
		;
	if (k == NKID)
		return;
	note(p, "fork()");
	pid = fork();
	if (pid == 0) {
		struct fz_proc *c = p;	/* this process's own copy */
		uint64_t s = frng_next(&p->rng);

		snprintf(c->name, sizeof(c->name), "%s.k%d", p->name, p->nkids);
		frng_derive(&c->rng, s, (uint64_t)p->step);
		c->depth = 1;
		c->step = 0;
		c->max_steps = 5 + (long)frng_below(&c->rng, 80);
		c->nring = 0;
		for (i = 0; i < NKID; i++)
			c->kid[i] = 0;
		for (i = 0; i < NFD; i++)
			c->files[i].shared = 1;
		ADD(procs, 1);
		run(c);
	}
	/* The parent's stream skips the child's seed draw, as the child did. */
	frng_next(&p->rng);
	if (expect(p, K_FORK, pid, OK) != 0)
		return;
	p->kid[k] = pid;
	p->nkids++;
	for (i = 0; i < NFD; i++)
		p->files[i].shared = 1;
}

static int
pick_kid(struct fz_proc *p)
{
	int k, n = 0, pick;

	for (k = 0; k < NKID; k++)
		n += p->kid[k] > 0;
	if (n == 0)
		return (-1);
	pick = (int)frng_below(&p->rng, (uint32_t)n);
	for (k = 0; k < NKID; k++)
		if (p->kid[k] > 0 && pick-- == 0)
			return (k);
	return (-1);
}

static void
reap(struct fz_proc *p, int k, int block)
{
	int st = 0;
	pid_t r;

	note(p, "waitpid(%d, %s)", p->kid[k], block ? "0" : "WNOHANG");
	r = waitpid(p->kid[k], &st, block ? 0 : WNOHANG);
	if (expect(p, K_WAIT, r, OK) != 0 || r == 0)
		return;
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		fz_fail(p, "child %d exited %d", p->kid[k], WEXITSTATUS(st));
	else if (WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL)
		fz_fail(p, "child %d died of signal %d", p->kid[k], WTERMSIG(st));
	p->kid[k] = 0;
}

static void
do_kill(struct fz_proc *p)
{
	int k = pick_kid(p);

	if (k < 0)
		return;
	note(p, "kill(%d, SIGKILL)", p->kid[k]);
	/* ESRCH: it had exited and is a zombie waiting for us. */
	expect(p, K_KILL, kill(p->kid[k], SIGKILL), OK | BIT(ESRCH));
	reap(p, k, 1);
}

/* --- modules and sysctls -------------------------------------------------- */

static const char *
pick_module(struct fz_proc *p)
{
	if (is_alone() || frng_below(&p->rng, 10) < 3)
		return ("kqemu");
	return ("kqemu_clone");
}

static void
do_load(struct fz_proc *p)
{
	const char *m = pick_module(p);
	int id;

	note(p, "kldload(%s)", m);
	id = kqt_load(m);
	if (expect(p, K_LOAD, id, OK | BIT(EEXIST)) == 0 && id <= 0)
		fz_fail(p, "kldload returned file id %d", id);
}

static void
do_unload(struct fz_proc *p)
{
	const char *m = pick_module(p);
	char file[32];
	int id;

	snprintf(file, sizeof(file), "%s.ko", m);
	id = kldfind(file);
	if (id < 0)
		return;		/* not loaded */
	note(p, "kldunload(%s, id %d)", m, id);
	/* ENOENT: another process unloaded it since kldfind. */
	expect(p, K_UNLOAD, kldunload(id), OK | BIT(EBUSY) | BIT(ENOENT));
}

static const char *const sysctls[] = {
	"hw.kqemu", "hw.kqemu.version", "hw.kqemu.engine", "hw.kqemu.license",
	"hw.kqemu.holders", "hw.kqemu.instances", "hw.kqemu.opens",
	"hw.kqemu.inits", "hw.kqemu.init_errors", "hw.kqemu.execs",
	"hw.kqemu.exec_softmmu", "hw.kqemu.ioctl_errors", "hw.kqemu.locked_pages",
	"hw.kqemu.max_locked_pages", "hw.kqemu.list", "hw.kqemu.nosuch",
	"debug.kqemu_clone", "debug.kqemu_clone.mode", "debug.kqemu_clone.live",
	"debug.kqemu_clone.opens", "debug.kqemu_clone.closes",
	"debug.kqemu_clone.refused_busy", "debug.kqemu_clone.refused_foreign",
	"debug.kqemu_clone.refused_detach", "debug.kqemu_clone.listing",
	"debug.kqemu_clone.bytes_per_clone", "debug.kqemu_clone.max_per_proc",
	"debug.kqemu_clone.max_total", "debug.kqemu_clone.nosuch",
};
#define NSYSCTL	(sizeof(sysctls) / sizeof(sysctls[0]))

static void
do_sysctl(struct fz_proc *p, int wr)
{
	const char *n = sysctls[frng_below(&p->rng, NSYSCTL)];
	unsigned long node = strchr(n + 3, '.') == NULL ||
	    strcmp(n, "debug.kqemu_clone") == 0 ? BIT(EISDIR) : 0;
	uint32_t how = frng_below(&p->rng, 4);
	size_t len = 512;
	void *buf = p->scratch;
	int v = (int)frng_below(&p->rng, 100), e;
	unsigned long allowed = BIT(ENOENT) | node;
	size_t nl = strlen(n);
	/* The listings can be longer than any buffer. */
	unsigned long longer = (nl > 5 && strcmp(n + nl - 5, ".list") == 0) ||
	    (nl > 8 && strcmp(n + nl - 8, ".listing") == 0) ? BIT(ENOMEM) : 0;

	if (wr) {
		note(p, "sysctl(%s := %d)", n, v);
		/* Every oid of both modules is read-only. */
		expect(p, K_SYSWR, sysctlbyname(n, NULL, NULL, &v, sizeof(v)),
		    allowed | BIT(EPERM));
		return;
	}
	if (how == 1) {
		len = 1;
		allowed |= OK | BIT(ENOMEM);
	} else if (how == 2) {
		/* Not NULL: that asks for the size only (how 3). */
		while ((buf = bad_uptr(p)) == NULL)
			;
		if (buf == p->vm.ram + 1)	/* misaligned is still user memory */
			allowed |= OK | longer;
		else
			allowed |= BIT(EFAULT);
	} else if (how == 3) {
		buf = NULL;			/* the size only */
		allowed |= OK;
	} else {
		allowed |= OK | longer;
	}
	note(p, "sysctl(%s, %s, %lu)", n, how == 2 ? "bad buffer" : buf ? "buffer" : "NULL",
	    (unsigned long)len);
	memset(p->scratch, 0, 8);
	e = expect(p, K_SYSRD, sysctlbyname(n, buf, &len, NULL, 0), allowed);
	if (e == 0 && how == 0 && strcmp(n, "hw.kqemu.version") == 0 &&
	    *(int *)p->scratch != KQEMU_VERSION)
		fz_fail(p, "hw.kqemu.version is 0x%x", *(int *)p->scratch);
}

/*
 * A quiet window, so that unloads really happen mid-run: every process
 * closes all its descriptors at its next step and none opens for a while;
 * once no clone (or, alone, no instance) is left the module must unload.
 */
static void
do_quiet(struct fz_proc *p)
{
	const char *m = is_alone() ? "kqemu" : "kqemu_clone";
	const char *live = is_alone() ? "hw.kqemu.instances" : "debug.kqemu_clone.live";
	long end = now_ms() + 400, v = -1;
	char file[32];
	int id;

	if (p->depth > 0 || now_ms() < sh->quiet_until)
		return;
	sh->quiet_until = end;
	__atomic_fetch_add(&sh->quiet_gen, 1, __ATOMIC_SEQ_CST);
	close_all(p);
	p->quiet_seen = sh->quiet_gen;
	while (now_ms() < end - 100 && !sh->stop && (v = stat_of(live)) > 0)
		sleep_ms(5);
	snprintf(file, sizeof(file), "%s.ko", m);
	if (v != 0 || (id = kldfind(file)) < 0)
		return;		/* not loaded, or its shim not attached */
	note(p, "kldunload(%s, id %d) in a quiet window", m, id);
	/* EBUSY: a descriptor inherited by a fork that has not yet seen the
	 * window, or kqemu held by kqemu_clone. */
	expect(p, K_QUIET, kldunload(id), OK | BIT(EBUSY) | BIT(ENOENT));
}

/* --- the process loop ----------------------------------------------------- */

static int
pick_kind(struct fz_proc *p)
{
	int total = 0, k, r;

	for (k = 0; k < K_N; k++)
		total += kweight[k];
	r = (int)frng_below(&p->rng, (uint32_t)total);
	for (k = 0; k < K_N; k++) {
		if (r < kweight[k])
			return (k);
		r -= kweight[k];
	}
	return (K_VERSION);
}

static void
finish(struct fz_proc *p)
{
	int k;

	for (k = 0; k < NKID; k++) {
		if (p->kid[k] <= 0)
			continue;
		kill(p->kid[k], SIGKILL);
		reap(p, k, 1);
	}
	if (p->depth == 0 && !sh->failed) {
		note(p, "wait4(-1, WNOHANG) at the end");
		if (wait4(-1, NULL, WNOHANG, NULL) != -1 || errno != ECHILD)
			fz_fail(p, "a child is left unreaped");
	}
	if (frng_below(&p->rng, 2) == 0)
		close_all(p);		/* else: exit closes them */
	_exit(0);
}

static void
run(struct fz_proc *p)
{
	while (!sh->stop && now_ms() < sh->deadline &&
	    (p->depth == 0 || p->step < p->max_steps)) {
		int k = pick_kind(p), s;

		p->step++;
		ADD(steps, 1);
		if (p->quiet_seen != sh->quiet_gen) {
			p->quiet_seen = sh->quiet_gen;
			close_all(p);
		}
		switch (k) {
		case K_OPEN: do_open(p); break;
		case K_CLOSE:
			if ((s = used_slot(p)) >= 0)
				close_slot(p, s);
			else {
				note(p, "close(%d) never opened", FD_BAD);
				expect(p, K_CLOSE, close(FD_BAD), BIT(EBADF));
			}
			break;
		case K_DUP: do_dup(p, 0); break;
		case K_DUP2: do_dup(p, 1); break;
		case K_FORK: do_fork(p); break;
		case K_KILL: do_kill(p); break;
		case K_WAIT:
			if ((s = pick_kid(p)) >= 0)
				reap(p, s, 0);
			break;
		case K_EXIT:
			if (p->depth > 0) {
				note(p, "exit");
				ADD(ok[K_EXIT], 1);
				finish(p);
			}
			break;
		case K_VERSION: do_version(p); break;
		case K_INIT: do_init(p); break;
		case K_EXEC: do_exec(p); break;
		case K_PHYS: do_phys(p); break;
		case K_MODIFY: do_modify(p); break;
		case K_OTHER: do_other(p); break;
		case K_FIO: do_fio(p); break;
		case K_READ: do_rw(p, 0); break;
		case K_WRITE: do_rw(p, 1); break;
		case K_LOAD: do_load(p); break;
		case K_UNLOAD: do_unload(p); break;
		case K_SYSRD: do_sysctl(p, 0); break;
		case K_SYSWR: do_sysctl(p, 1); break;
		case K_CLOSEALL:
			note(p, "close all");
			ADD(ok[K_CLOSEALL], 1);
			close_all(p);
			break;
		case K_QUIET: do_quiet(p); break;
		}
	}
	finish(p);
}

static void __attribute__((noreturn))
top(int i)
{
	static struct fz_proc pr;
	struct fz_proc *p = &pr;
	uint8_t *g;
	int s;

	memset(p, 0, sizeof(*p));
	for (s = 0; s < NFD; s++)
		p->fd[s] = -1;
	snprintf(p->name, sizeof(p->name), "p%d", i);
	frng_derive(&p->rng, seed, (uint64_t)i + 1);
	if (qvm_alloc(&p->vm, VM_PAGES) != 0)
		_exit(2);
	p->scratch = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE,
	    MAP_ANON | MAP_PRIVATE, -1, 0);
	if (p->scratch == MAP_FAILED)
		_exit(3);
	g = mmap(p->scratch + 2 * 4096, 4096, PROT_NONE,
	    MAP_ANON | MAP_PRIVATE | MAP_FIXED, -1, 0);
	if (g != p->scratch + 2 * 4096)
		_exit(4);
	ADD(procs, 1);
	run(p);
}

/* --- the cases ------------------------------------------------------------ */

static const char *
setup(void)
{
	char path[128], buf[32];
	int fd;

	if (kenv_get("hw.kqemu_clone.mode", mode, sizeof(mode)) <= 0)
		mode[0] = 0;
	snprintf(path, sizeof(path), "%s/%s.ko", kqt_module_dir(),
	    is_alone() ? "kqemu" : "kqemu_clone");
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return ("the modules are not in the image (build them: make kbuild-dfly)");
	close(fd);
	snprintf(label, sizeof(label), "fuzz%s%s", is_alone() ? "" : "_", mode);
	seed = frng_hash(label) % 1000000;
	if (kenv_get("kqtest.fuzz_seed", buf, sizeof(buf)) > 0)
		seed = (uint64_t)atol(buf);
	run_ms = FUZZ_MS;
	if (kenv_get("kqtest.fuzz_ms", buf, sizeof(buf)) > 0 && atol(buf) > 0)
		run_ms = atol(buf);
	/* The phase needs an engine that really INITs (the kqemu boot's
	 * default is decline); its modules read the tunable at MOD_LOAD. */
	if (kenv_get("hw.kqemu.engine", buf, sizeof(buf)) <= 0) {
		kenv_set("hw.kqemu.engine", "conform");
		engine_set = 1;
	}
	printf("fuzz: %s: seed %lu, %ld ms, %d processes (reproduce: "
	    "run-target -e \"kqtest.fuzz_seed=%lu kqtest.fuzz_ms=%ld\")\n", label,
	    (unsigned long)seed, run_ms, NPROC, (unsigned long)seed, run_ms);
	return (NULL);
}

static void
teardown(void)
{
	if (engine_set)
		kenv_unset("hw.kqemu.engine");
}

/* Loads what the phase drives, with the engine it needs. */
static const char *
prepare(void)
{
	char eng[32] = { 0 };
	size_t len = sizeof(eng) - 1;
	int fd;

	if (kqt_loaded("kqemu") &&
	    (sysctlbyname("hw.kqemu.engine", eng, &len, NULL, 0) < 0 ||
	    strcmp(eng, "conform") != 0)) {
		/* Left by an earlier suite with another engine. */
		if (kqt_loaded("kqemu_clone"))
			CHECK(kqt_unload("kqemu_clone") == 0, "kldunload kqemu_clone "
			    "before the phase: %s", strerror(errno));
		CHECK(kqt_unload("kqemu") == 0, "kldunload kqemu (engine %s) before "
		    "the phase: %s", eng, strerror(errno));
	}
	if (is_alone() && kqt_loaded("kqemu_clone"))
		CHECK(kqt_unload("kqemu_clone") == 0, "kldunload kqemu_clone: %s",
		    strerror(errno));
	if (!kqt_loaded("kqemu"))
		CHECK(kqt_load("kqemu") > 0, "kldload kqemu: %s", strerror(errno));
	if (!is_alone() && !kqt_loaded("kqemu_clone"))
		CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s",
		    strerror(errno));
	fd = kqt_wait_node(DEV, O_RDWR, 3000);
	CHECK(fd >= 0, "open %s: %s", DEV, strerror(errno));
	close(fd);
	return (NULL);
}

static void
print_stats(long ms)
{
	char line[480];
	int k, e;
	size_t n;

	printf("fuzz: %s seed %lu: %ld ms, %ld processes, %ld calls\n", label,
	    (unsigned long)seed, ms, sh->procs, sh->steps);
	for (k = 0; k < K_N; k++) {
		n = (size_t)snprintf(line, sizeof(line), "fuzz:   %s: ok %ld",
		    kname[k], sh->ok[k]);
		for (e = 1; e < NERR && n < sizeof(line); e++)
			if (sh->err[k][e] != 0)
				n += (size_t)snprintf(line + n, sizeof(line) - n, " %s %ld",
				    ename(e), sh->err[k][e]);
		printf("%s\n", line);
	}
}

static const char *
random_calls(void)
{
	pid_t pids[NPROC];
	int i, st, bad = 0;
	long t0;
	const char *r;

	if ((r = prepare()) != NULL)
		return (r);
	sh = mmap(NULL, (sizeof(*sh) + 4095) & ~4095UL, PROT_READ | PROT_WRITE,
	    MAP_ANON | MAP_SHARED, -1, 0);
	CHECK(sh != MAP_FAILED, "mmap shared: %s", strerror(errno));
	memset(sh, 0, sizeof(*sh));
	t0 = now_ms();
	sh->deadline = t0 + run_ms;
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0, "fork: %s", strerror(errno));
		if (pids[i] == 0)
			top(i + 1);
	}
	for (i = 0; i < NPROC; i++) {
		CHECK(waitpid(pids[i], &st, 0) == pids[i], "waitpid: %s", strerror(errno));
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			printf("fuzz: process p%d ended with status 0x%x\n", i + 1, st);
			bad++;
		}
	}
	print_stats(now_ms() - t0);
	if (sh->failed) {
		printf("fuzz: the failing process's last calls (oldest first):\n");
		for (i = 0; i < sh->nring; i++)
			printf("fuzz:   %s\n", sh->ring[i]);
	}
	CHECK(wait4(-1, NULL, WNOHANG, NULL) == -1 && errno == ECHILD,
	    "a process is left unreaped");
	if (sh->failed)
		return t_fail("%s", sh->msg);
	CHECK(bad == 0, "%d fuzz processes did not end cleanly", bad);
	CHECK(sh->steps > 200 && sh->ok[K_OPEN] > 5 && sh->ok[K_INIT] > 0 &&
	    sh->ok[K_EXEC] > 0, "too little happened: %ld calls, %ld opens, %ld INITs, "
	    "%ld EXECs", sh->steps, sh->ok[K_OPEN], sh->ok[K_INIT], sh->ok[K_EXEC]);
	return (NULL);
}

static const char *
list_of(const char *name, char *buf, size_t n)
{
	size_t len = n - 1;
	char *nl;

	memset(buf, 0, n);
	if (sysctlbyname(name, buf, &len, NULL, 0) < 0)
		snprintf(buf, n, "(%s)", strerror(errno));
	while ((nl = strchr(buf, '\n')) != NULL && nl[1] != 0)
		*nl = '|';
	return (buf);
}

/* One open, INIT, EXEC, close: the device works. */
static const char *
one_session(const char *when)
{
	struct qvm vm;
	const char *r;

	/* qvm_sequence maps its ROM in the last 64 KiB of RAM. */
	CHECK(qvm_alloc(&vm, 64) == 0, "mmap: %s", strerror(errno));
	vm.fd = kqt_wait_node(DEV, O_RDWR, 3000);
	CHECK(vm.fd >= 0, "%s: open: %s", when, strerror(errno));
	r = qvm_sequence(&vm, 2, 7);
	close(vm.fd);
	qvm_free(&vm);
	return (r);
}

static const char *
nothing_left(void)
{
	char list[400];
	long v;
	int i, fd, fd2;
	const char *r;

	if (kqt_loaded("kqemu_clone")) {
		for (i = 0; i < 300 && stat_of("debug.kqemu_clone.live") > 0; i++)
			sleep_ms(10);
		v = stat_of("debug.kqemu_clone.live");
		CHECK(v <= 0, "%ld clones left after the phase (debug.kqemu_clone.listing: "
		    "%s)", v, list_of("debug.kqemu_clone.listing", list, sizeof(list)));
		CHECK(kqt_unload("kqemu_clone") == 0, "kldunload kqemu_clone after the "
		    "phase: %s", strerror(errno));
	}
	if (kqt_loaded("kqemu")) {
		v = stat_of("hw.kqemu.instances");
		CHECK(v == 0, "%ld kqemu instances left with the shim unloaded "
		    "(hw.kqemu.list: %s)", v, list_of("hw.kqemu.list", list, sizeof(list)));
		CHECK((v = stat_of("hw.kqemu.locked_pages")) == 0, "%ld locked pages left", v);
		CHECK((v = stat_of("hw.kqemu.holders")) == 0, "%ld holds left", v);
		/* EBUSY: 5.8 keeps a kqemu that was loaded as kqemu_clone's
		 * dependency (no user reference); it must still work. */
		CHECK(kqt_unload("kqemu") == 0 || errno == EBUSY, "kldunload kqemu "
		    "after the phase: %s", strerror(errno));
	}
	if (kqt_loaded("kqemu")) {
		if ((r = one_session("kqemu kept loaded")) != NULL)
			return (r);
	} else {
		CHECK(kqt_load("kqemu") > 0, "reload kqemu: %s", strerror(errno));
	}
	if ((r = one_session("after reloading kqemu")) != NULL)
		return (r);
	if (!is_alone()) {
		char m[32] = { 0 };
		size_t len = sizeof(m) - 1;

		CHECK(kqt_load("kqemu_clone") > 0, "reload kqemu_clone: %s",
		    strerror(errno));
		CHECK(sysctlbyname("debug.kqemu_clone.mode", m, &len, NULL, 0) == 0,
		    "kqemu_clone reloaded but its shim is not attached (MOD_LOAD failed; "
		    "hw.kqemu.list: %s)", list_of("hw.kqemu.list", list, sizeof(list)));
		CHECK(strcmp(m, mode) == 0, "reloaded shim in mode %s, want %s", m, mode);
		fd = kqt_wait_node(DEV, O_RDWR, 3000);
		CHECK(fd >= 0, "open through the reloaded shim: %s", strerror(errno));
		fd2 = strcmp(mode, "proc") == 0 ? -1 : open(DEV, O_RDWR);
		CHECK(fd2 >= 0 || strcmp(mode, "proc") == 0, "second open through the "
		    "reloaded shim: %s", strerror(errno));
		if (fd2 >= 0)
			close(fd2);
		close(fd);
		if ((r = one_session("through the reloaded shim")) != NULL)
			return (r);
		for (i = 0; i < 300 && stat_of("debug.kqemu_clone.live") > 0; i++)
			sleep_ms(10);
		CHECK(kqt_unload("kqemu_clone") == 0, "final kldunload kqemu_clone: %s",
		    strerror(errno));
	}
	CHECK((v = stat_of("hw.kqemu.instances")) == 0, "%ld instances after the "
	    "reload round", v);
	CHECK(kqt_unload("kqemu") == 0 || errno == EBUSY, "final kldunload kqemu: %s",
	    strerror(errno));
	return (NULL);
}

static const struct kqt_case fuzz_cases[] = {
	{ "random__syscalls_seeded", random_calls, 900 },
	{ "after__nothing_left_reload_clean", nothing_left, 0 },
	{ NULL, NULL, 0 },
};
const struct kqt_suite suite_fuzz = { "fuzz", setup, teardown, fuzz_cases };
