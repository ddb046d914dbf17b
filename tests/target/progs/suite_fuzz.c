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
 * This file: the phase, the process loop, the reporting, the cases; the
 * calls themselves are in fuzz_calls.c and fuzz_ioctl.c (fuzz.h).
 */
#include "fuzz.h"

static const char *const kname[K_N] = {
	"open", "close", "dup", "dup2", "fork", "kill", "wait", "exit",
	"GET_VERSION", "INIT", "EXEC", "SET_PHYS_MEM", "MODIFY_RAM_PAGES",
	"other-ioctl", "file-ioctl", "read", "write", "kldload", "kldunload",
	"sysctl-read", "sysctl-write", "close-all", "quiet-unload",
};
/* Relative weights of the calls a process picks (kqtest.fuzz_calls keeps
 * only the named ones, to narrow a finding down). */
static int kweight[K_N] = {
	12, 7, 3, 2, 3, 2, 2, 1,
	5, 9, 12, 6, 4, 5, 4,
	3, 3, 3, 4, 6, 2, 2,
	1,
};

struct fz_shared *fz_sh;
static char mode[32];		/* the boot's hw.kqemu_clone.mode; "" = kqemu alone */
static char label[48];
static uint64_t seed;
static long run_ms;
static int engine_set;		/* we set hw.kqemu.engine in the kenv */
static int calls_kept;		/* kqtest.fuzz_calls narrowed the calls */

int
fz_alone(void)
{
	return (mode[0] == 0);
}

int
fz_proc_mode(void)
{
	return (strcmp(mode, "proc") == 0);
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

void
fz_note(struct fz_proc *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->call, sizeof(p->call), fmt, ap);
	va_end(ap);
	memcpy(p->ring[p->nring % NRING], p->call, sizeof(p->call));
	p->nring++;
}

void
fz_fail(struct fz_proc *p, const char *fmt, ...)
{
	char what[200];
	va_list ap;
	int i;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (__atomic_exchange_n(&fz_sh->failed, 1, __ATOMIC_SEQ_CST) != 0) {
		fz_sh->stop = 1;
		printf("fuzz: also: seed %lu %s step %ld: %s: %s\n",
		    (unsigned long)seed, p->name, p->step, p->call, what);
		return;
	}
	snprintf(fz_sh->msg, sizeof(fz_sh->msg), "seed %lu %s step %ld: %s: %s",
	    (unsigned long)seed, p->name, p->step, p->call, what);
	/* The case prints them once every process has ended: the stop flag
	 * makes a parent SIGKILL this one, maybe before it printed them. */
	for (i = p->nring > NRING ? p->nring - NRING : 0; i < p->nring; i++)
		memcpy(fz_sh->ring[fz_sh->nring++], p->ring[i % NRING],
		    sizeof(fz_sh->ring[0]));
	fz_sh->stop = 1;
	printf("fuzz: FAILED %s\n", fz_sh->msg);
}

/*
 * The result of the call just made (r, errno) must be in `allowed`
 * (BIT(errno), OK for success).  Counts it either way.
 */
int
fz_expect(struct fz_proc *p, int kind, long r, unsigned long allowed)
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

long
fz_stat(const char *name)
{
	long v = -1;

	if (sysctl_int(name, &v) < 0)
		return (-1);
	return (v);
}

/* --- the process loop ----------------------------------------------------- */

static int
pick_kind(struct fz_proc *p)
{
	int total = 0, k, r;

	for (k = 0; k < K_N; k++)
		total += kweight[k];
	if (total == 0)
		return (K_CLOSEALL);
	r = (int)frng_below(&p->rng, (uint32_t)total);
	for (k = 0; k < K_N; k++) {
		if (r < kweight[k])
			return (k);
		r -= kweight[k];
	}
	return (K_VERSION);
}

void
fz_finish(struct fz_proc *p)
{
	int k;

	for (k = 0; k < NKID; k++) {
		if (p->kid[k] <= 0)
			continue;
		kill(p->kid[k], SIGKILL);
		fz_reap(p, k, 1);
	}
	if (p->depth == 0 && !fz_sh->failed) {
		fz_note(p, "wait4(-1, WNOHANG) at the end");
		if (wait4(-1, NULL, WNOHANG, NULL) != -1 || errno != ECHILD)
			fz_fail(p, "a child is left unreaped");
	}
	if (frng_below(&p->rng, 2) == 0)
		fz_close_all(p);		/* else: exit closes them */
	_exit(0);
}

void
fz_run(struct fz_proc *p)
{
	while (!fz_sh->stop && now_ms() < fz_sh->deadline &&
	    (p->depth == 0 || p->step < p->max_steps)) {
		int k = pick_kind(p), s;

		p->step++;
		ADD(steps, 1);
		if (p->quiet_seen != fz_sh->quiet_gen) {
			p->quiet_seen = fz_sh->quiet_gen;
			fz_close_all(p);
		}
		switch (k) {
		case K_OPEN: fz_open(p); break;
		case K_CLOSE:
			if ((s = fz_used_slot(p)) >= 0)
				fz_close_slot(p, s);
			else {
				fz_note(p, "close(%d) never opened", FD_BAD);
				fz_expect(p, K_CLOSE, close(FD_BAD), BIT(EBADF));
			}
			break;
		case K_DUP: fz_dup(p, 0); break;
		case K_DUP2: fz_dup(p, 1); break;
		case K_FORK: fz_fork(p); break;
		case K_KILL: fz_kill(p); break;
		case K_WAIT:
			if ((s = fz_pick_kid(p)) >= 0)
				fz_reap(p, s, 0);
			break;
		case K_EXIT:
			if (p->depth > 0) {
				fz_note(p, "exit");
				ADD(ok[K_EXIT], 1);
				fz_finish(p);
			}
			break;
		case K_VERSION: fz_version(p); break;
		case K_INIT: fz_init(p); break;
		case K_EXEC: fz_exec(p); break;
		case K_PHYS: fz_phys(p); break;
		case K_MODIFY: fz_modify(p); break;
		case K_OTHER: fz_other(p); break;
		case K_FIO: fz_fio(p); break;
		case K_READ: fz_rw(p, 0); break;
		case K_WRITE: fz_rw(p, 1); break;
		case K_LOAD: fz_load(p); break;
		case K_UNLOAD: fz_unload(p); break;
		case K_SYSRD: fz_sysctl(p, 0); break;
		case K_SYSWR: fz_sysctl(p, 1); break;
		case K_CLOSEALL:
			fz_note(p, "close all");
			ADD(ok[K_CLOSEALL], 1);
			fz_close_all(p);
			break;
		case K_QUIET: fz_quiet(p); break;
		}
	}
	fz_finish(p);
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
	fz_run(p);
}

/* --- the cases ------------------------------------------------------------ */

/*
 * kqtest.fuzz_calls=open,close,kldunload,...: only those calls, to narrow a
 * finding down; -kldload,-kldunload,...: all but those.  Names as in the
 * counts the phase prints.
 */
static void
keep_calls(const char *list)
{
	int k, named, drop = list[0] == '-';
	size_t n;

	for (k = 0; k < K_N; k++) {
		const char *q = list;

		named = 0;
		n = strlen(kname[k]);
		while (q != NULL && *q) {
			if (*q == '-')
				q++;
			if (strncmp(q, kname[k], n) == 0 && (q[n] == ',' || q[n] == 0))
				named = 1;
			q = strchr(q, ',');
			if (q != NULL)
				q++;
		}
		if (named == drop)
			kweight[k] = 0;
	}
	calls_kept = !drop;
	printf("fuzz: calls: %s%s\n", drop ? "all but " : "only ", list);
}

static const char *
setup(void)
{
	char path[128], buf[32], calls[256];
	int fd;

	if (kenv_get("hw.kqemu_clone.mode", mode, sizeof(mode)) <= 0)
		mode[0] = 0;
	snprintf(path, sizeof(path), "%s/%s.ko", kqt_module_dir(),
	    fz_alone() ? "kqemu" : "kqemu_clone");
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return ("the modules are not in the image (build them: make kbuild-dfly)");
	close(fd);
	snprintf(label, sizeof(label), "fuzz%s%s", fz_alone() ? "" : "_", mode);
	seed = frng_hash(label) % 1000000;
	if (kenv_get("kqtest.fuzz_seed", buf, sizeof(buf)) > 0)
		seed = (uint64_t)atol(buf);
	run_ms = FUZZ_MS;
	if (kenv_get("kqtest.fuzz_ms", buf, sizeof(buf)) > 0 && atol(buf) > 0)
		run_ms = atol(buf);
	if (kenv_get("kqtest.fuzz_calls", calls, sizeof(calls)) > 0)
		keep_calls(calls);
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
	if (fz_alone() && kqt_loaded("kqemu_clone"))
		CHECK(kqt_unload("kqemu_clone") == 0, "kldunload kqemu_clone: %s",
		    strerror(errno));
	if (!kqt_loaded("kqemu"))
		CHECK(kqt_load("kqemu") > 0, "kldload kqemu: %s", strerror(errno));
	if (!fz_alone() && !kqt_loaded("kqemu_clone"))
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
	    (unsigned long)seed, ms, fz_sh->procs, fz_sh->steps);
	for (k = 0; k < K_N; k++) {
		n = (size_t)snprintf(line, sizeof(line), "fuzz:   %s: ok %ld",
		    kname[k], fz_sh->ok[k]);
		for (e = 1; e < NERR && n < sizeof(line); e++)
			if (fz_sh->err[k][e] != 0)
				n += (size_t)snprintf(line + n, sizeof(line) - n, " %s %ld",
				    ename(e), fz_sh->err[k][e]);
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
	fz_sh = mmap(NULL, (sizeof(*fz_sh) + 4095) & ~4095UL, PROT_READ | PROT_WRITE,
	    MAP_ANON | MAP_SHARED, -1, 0);
	CHECK(fz_sh != MAP_FAILED, "mmap shared: %s", strerror(errno));
	memset(fz_sh, 0, sizeof(*fz_sh));
	t0 = now_ms();
	fz_sh->deadline = t0 + run_ms;
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
	if (fz_sh->failed) {
		printf("fuzz: the failing process's last calls (oldest first):\n");
		for (i = 0; i < fz_sh->nring; i++)
			printf("fuzz:   %s\n", fz_sh->ring[i]);
	}
	CHECK(wait4(-1, NULL, WNOHANG, NULL) == -1 && errno == ECHILD,
	    "a process is left unreaped");
	if (fz_sh->failed)
		return t_fail("%s", fz_sh->msg);
	CHECK(bad == 0, "%d fuzz processes did not end cleanly", bad);
	CHECK(calls_kept || (fz_sh->steps > 200 && fz_sh->ok[K_OPEN] > 5 &&
	    fz_sh->ok[K_INIT] > 0 && fz_sh->ok[K_EXEC] > 0), "too little happened: "
	    "%ld calls, %ld opens, %ld INITs, %ld EXECs", fz_sh->steps,
	    fz_sh->ok[K_OPEN], fz_sh->ok[K_INIT], fz_sh->ok[K_EXEC]);
	return (NULL);
}

/* A listing sysctl as one line (its start, if long), for a message. */
static const char *
list_of(const char *name, char *buf, size_t n)
{
	static char all[4096];
	size_t len = sizeof(all) - 1;
	char *nl;

	memset(all, 0, sizeof(all));
	if (sysctlbyname(name, all, &len, NULL, 0) < 0)
		snprintf(all, sizeof(all), "(%s)", strerror(errno));
	while ((nl = strchr(all, '\n')) != NULL && nl[1] != 0)
		*nl = '|';
	snprintf(buf, n, "%s", all);
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

/*
 * proc mode never unloads while the system runs (its exit hook): the shim
 * stays, refuses the unload, holds the base instance (and only that) and
 * still works.
 */
static const char *
proc_left(void)
{
	char list[400];
	long v;
	const char *r;
	int i;

	CHECK_ERR(kqt_unload("kqemu_clone"), EBUSY, "kldunload of a proc mode kqemu_clone");
	CHECK(kqt_loaded("kqemu_clone"), "proc mode kqemu_clone went away");
	v = fz_stat("hw.kqemu.instances");
	CHECK(v == 1, "%ld kqemu instances with no clone open (the held base only: 1; "
	    "hw.kqemu.list: %s)", v, list_of("hw.kqemu.list", list, sizeof(list)));
	CHECK((v = fz_stat("hw.kqemu.locked_pages")) == 0, "%ld locked pages left", v);
	if ((r = one_session("through the proc shim")) != NULL)
		return (r);
	for (i = 0; i < 300 && fz_stat("debug.kqemu_clone.live") > 0; i++)
		sleep_ms(10);
	CHECK((v = fz_stat("debug.kqemu_clone.live")) == 0, "%ld clones after one "
	    "session", v);
	return (NULL);
}

static const char *
nothing_left(void)
{
	char list[400];
	long v;
	int i, fd, fd2;
	const char *r;

	if (kqt_loaded("kqemu_clone")) {
		for (i = 0; i < 300 && fz_stat("debug.kqemu_clone.live") > 0; i++)
			sleep_ms(10);
		v = fz_stat("debug.kqemu_clone.live");
		CHECK(v <= 0, "%ld clones left after the phase (debug.kqemu_clone.listing: "
		    "%s)", v, list_of("debug.kqemu_clone.listing", list, sizeof(list)));
		if (fz_proc_mode() && v == 0)
			return (proc_left());
		CHECK(kqt_unload("kqemu_clone") == 0, "kldunload kqemu_clone after the "
		    "phase: %s", strerror(errno));
	}
	if (kqt_loaded("kqemu")) {
		v = fz_stat("hw.kqemu.instances");
		CHECK(v == 0, "%ld kqemu instances left with the shim unloaded "
		    "(hw.kqemu.list: %s)", v, list_of("hw.kqemu.list", list, sizeof(list)));
		CHECK((v = fz_stat("hw.kqemu.locked_pages")) == 0, "%ld locked pages left", v);
		CHECK((v = fz_stat("hw.kqemu.holders")) == 0, "%ld holds left", v);
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
	if (!fz_alone()) {
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
		for (i = 0; i < 300 && fz_stat("debug.kqemu_clone.live") > 0; i++)
			sleep_ms(10);
		CHECK(kqt_unload("kqemu_clone") == 0, "final kldunload kqemu_clone: %s",
		    strerror(errno));
	}
	CHECK((v = fz_stat("hw.kqemu.instances")) == 0, "%ld instances after the "
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
