/*
 * fuzz_calls.c: the fuzz suite's calls on descriptors (open, close, dup,
 * dup2), processes (fork, kill, wait), modules (kldload, kldunload, the
 * quiet window) and sysctls, each with the results it may have.
 * Locking: none; per process (fz_sh counters are atomic).
 */
#include "fuzz.h"

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
int
fz_used_slot(struct fz_proc *p)
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

void
fz_close_slot(struct fz_proc *p, int s)
{
	fz_note(p, "close(%d)", p->fd[s]);
	fz_expect(p, K_CLOSE, close(p->fd[s]), OK);
	drop_slot(p, s);
}

void
fz_close_all(struct fz_proc *p)
{
	int i;

	for (i = 0; i < NFD && !fz_sh->failed; i++)
		if (p->fd[i] >= 0)
			fz_close_slot(p, i);
}

/* --- open, dup, fork, kill ------------------------------------------------ */

void
fz_open(struct fz_proc *p)
{
	static const int flags[] = { O_RDWR, O_RDWR, O_RDWR, O_RDWR, O_RDWR,
	    O_RDWR | O_NONBLOCK, O_RDWR | O_CLOEXEC, O_WRONLY, O_RDONLY,
	    O_RDONLY | O_NONBLOCK };
	int s = free_slot(p), fl, fd, e;

	if (now_ms() < fz_sh->quiet_until)
		return;		/* a quiet window: no new clones */
	if (s < 0) {
		fz_close_slot(p, fz_used_slot(p));
		return;
	}
	fl = flags[frng_below(&p->rng, 10)];
	fz_note(p, "open(%s, 0x%x)", DEV, fl);
	fd = open(DEV, fl);
	/* EMFILE, EAGAIN: the shim's limits per process (which counts the
	 * clones a process opened that its forks still hold after it closed
	 * them), per uid and in all; the phase also writes them. */
	e = fz_expect(p, K_OPEN, fd, ((fl & 3) == O_RDONLY ? BIT(EPERM) : OK) |
	    BIT(ENOENT) | BIT(ENXIO) | BIT(EBUSY) |
	    (fz_alone() ? 0 : BIT(EMFILE) | BIT(EAGAIN)));
	if (e == 0 && fd >= 0) {
		p->fd[s] = fd;
		p->file[s] = new_file(p, (fl & 3) == O_WRONLY);
	}
}

void
fz_dup(struct fz_proc *p, int two)
{
	int from = fz_used_slot(p), to = free_slot(p), fd, target, i;

	if (from < 0)
		return;
	if (!two) {
		if (to < 0)
			return;
		fz_note(p, "dup(%d)", p->fd[from]);
		fd = dup(p->fd[from]);
		if (fz_expect(p, K_DUP, fd, OK) == 0) {
			p->fd[to] = fd;
			p->file[to] = p->file[from];
			p->files[p->file[from]].refs++;
		}
		return;
	}
	/* dup2 onto another slot's descriptor (closing its file) or a free one. */
	if (to < 0 || frng_below(&p->rng, 2) == 0)
		to = fz_used_slot(p);
	target = p->fd[to] >= 0 ? p->fd[to] : FD_HIGH + to;
	for (i = 0; i < NFD; i++)
		if (i != to && p->fd[i] == target)
			return;		/* FD_HIGH + to already taken by a dup */
	fz_note(p, "dup2(%d, %d)", p->fd[from], target);
	if (fz_expect(p, K_DUP2, dup2(p->fd[from], target), OK) != 0 || to == from)
		return;
	if (p->fd[to] >= 0)
		drop_slot(p, to);
	p->fd[to] = target;
	p->file[to] = p->file[from];
	p->files[p->file[from]].refs++;
}


void
fz_fork(struct fz_proc *p)
{
	int k, i;
	pid_t pid;

	if (p->depth > 0)
		return;
	for (k = 0; k < NKID && p->kid[k] > 0; k++)
		;
	if (k == NKID)
		return;
	fz_note(p, "fork()");
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
		fz_run(c);
	}
	/* The parent's stream skips the child's seed draw, as the child did. */
	frng_next(&p->rng);
	if (fz_expect(p, K_FORK, pid, OK) != 0)
		return;
	p->kid[k] = pid;
	p->nkids++;
	for (i = 0; i < NFD; i++)
		p->files[i].shared = 1;
}

int
fz_pick_kid(struct fz_proc *p)
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

void
fz_reap(struct fz_proc *p, int k, int block)
{
	int st = 0;
	pid_t r;

	fz_note(p, "waitpid(%d, %s)", p->kid[k], block ? "0" : "WNOHANG");
	r = waitpid(p->kid[k], &st, block ? 0 : WNOHANG);
	if (fz_expect(p, K_WAIT, r, OK) != 0 || r == 0)
		return;
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		fz_fail(p, "child %d exited %d", p->kid[k], WEXITSTATUS(st));
	else if (WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL)
		fz_fail(p, "child %d died of signal %d", p->kid[k], WTERMSIG(st));
	p->kid[k] = 0;
}

void
fz_kill(struct fz_proc *p)
{
	int k = fz_pick_kid(p);

	if (k < 0)
		return;
	fz_note(p, "kill(%d, SIGKILL)", p->kid[k]);
	/* ESRCH: it had exited and is a zombie waiting for us. */
	fz_expect(p, K_KILL, kill(p->kid[k], SIGKILL), OK | BIT(ESRCH));
	fz_reap(p, k, 1);
}

/* --- modules and sysctls -------------------------------------------------- */

static const char *
pick_module(struct fz_proc *p)
{
	if (fz_alone() || frng_below(&p->rng, 10) < 3)
		return ("kqemu");
	return ("kqemu_clone");
}

void
fz_load(struct fz_proc *p)
{
	const char *m = pick_module(p);
	int id;

	fz_note(p, "kldload(%s)", m);
	id = kqt_load(m);
	if (fz_expect(p, K_LOAD, id, OK | BIT(EEXIST)) == 0 && id <= 0)
		fz_fail(p, "kldload returned file id %d", id);
}

void
fz_unload(struct fz_proc *p)
{
	const char *m = pick_module(p);
	char file[32];
	int id;

	snprintf(file, sizeof(file), "%s.ko", m);
	id = kldfind(file);
	if (id < 0)
		return;		/* not loaded */
	fz_note(p, "kldunload(%s, id %d)", m, id);
	/* ENOENT: another process unloaded it since kldfind. */
	fz_expect(p, K_UNLOAD, kldunload(id), OK | BIT(EBUSY) | BIT(ENOENT));
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
	"debug.kqemu_clone.max_per_uid", "debug.kqemu_clone.max_total",
	"debug.kqemu_clone.nosuch",
};
#define NSYSCTL	(sizeof(sysctls) / sizeof(sysctls[0]))

void
fz_sysctl(struct fz_proc *p, int wr)
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
		static const int limits[] = { -1, 0, 1, 2, 4, 16, 1000 };
		int lim = strncmp(n, "debug.kqemu_clone.max_", 22) == 0;

		/* The shim's three limits are writable (any value: 0 is the
		 * default, below 0 none); every other oid is read-only. */
		if (lim)
			v = limits[frng_below(&p->rng, 7)];
		fz_note(p, "sysctl(%s := %d)", n, v);
		fz_expect(p, K_SYSWR, sysctlbyname(n, NULL, NULL, &v, sizeof(v)),
		    allowed | (lim ? OK : BIT(EPERM)));
		return;
	}
	if (how == 1) {
		len = 1;
		allowed |= OK | BIT(ENOMEM);
	} else if (how == 2) {
		/* Not NULL: that asks for the size only (how 3). */
		while ((buf = fz_bad_uptr(p)) == NULL)
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
	fz_note(p, "sysctl(%s, %s, %lu)", n, how == 2 ? "bad buffer" : buf ? "buffer" : "NULL",
	    (unsigned long)len);
	memset(p->scratch, 0, 8);
	e = fz_expect(p, K_SYSRD, sysctlbyname(n, buf, &len, NULL, 0), allowed);
	if (e == 0 && how == 0 && strcmp(n, "hw.kqemu.version") == 0 &&
	    *(int *)p->scratch != KQEMU_VERSION)
		fz_fail(p, "hw.kqemu.version is 0x%x", *(int *)p->scratch);
}

/*
 * A quiet window, so that unloads really happen mid-run: every process
 * closes all its descriptors at its next step and none opens for a while;
 * once no clone (or, alone, no instance) is left the module must unload.
 */
void
fz_quiet(struct fz_proc *p)
{
	const char *m = fz_alone() ? "kqemu" : "kqemu_clone";
	const char *live = fz_alone() ? "hw.kqemu.instances" : "debug.kqemu_clone.live";
	long end = now_ms() + 400, v = -1;
	char file[32];
	int id;

	if (p->depth > 0 || now_ms() < fz_sh->quiet_until)
		return;
	fz_sh->quiet_until = end;
	__atomic_fetch_add(&fz_sh->quiet_gen, 1, __ATOMIC_SEQ_CST);
	fz_close_all(p);
	p->quiet_seen = fz_sh->quiet_gen;
	while (now_ms() < end - 100 && !fz_sh->stop && (v = fz_stat(live)) > 0)
		sleep_ms(5);
	snprintf(file, sizeof(file), "%s.ko", m);
	if (v != 0 || (id = kldfind(file)) < 0)
		return;		/* not loaded, or its shim not attached */
	fz_note(p, "kldunload(%s, id %d) in a quiet window", m, id);
	/* EBUSY: a descriptor inherited by a fork that has not yet seen the
	 * window, or kqemu held by kqemu_clone. */
	fz_expect(p, K_QUIET, kldunload(id), OK | BIT(EBUSY) | BIT(ENOENT));
}
