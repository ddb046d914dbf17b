/*
 * suite_bench.c: what kqemu_clone costs on the real kernel, as ratios
 * (printed, never asserted: the guest runs under TCG on a shared host, so
 * absolute times mean little and a threshold would be a flaky test).
 *
 * One case does everything in one process, in one boot, because the
 * baseline must be kqemu.ko alone on the same kernel: it loads kqemu,
 * times GET_VERSION ioctls on one open file and plain open+close pairs
 * (each the fastest of several batches, see BATCH_IOCTL),
 * then loads kqemu_clone (in the mode the boot forces through the loader
 * tunable hw.kqemu_clone.mode) and times the same two things through the
 * shim.  As DragonFly's own cloning reference it also times open+close of
 * /dev/tun and /dev/bpf (both autoclone devices in 5.8), skipping either
 * with a printed reason when the kernel has no such node.  Results are
 * console lines "bench: <mode> name=value ...", which `make bench-target`
 * collects.  The case fails only when something it needs does not work
 * (a load, an open, an ioctl).  Both modules are unloaded at the end.
 * Locking: none (single process).
 */
#include "accel_vm.h"

#define DEV		"/dev/kqemu"
#define N_IOCTL		20000
#define N_OPEN		500

static char mode[32];

static long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long)ts.tv_sec * 1000000000L + (long)ts.tv_nsec);
}

/*
 * Each time is the fastest batch's mean (BATCH calls per batch): the guest
 * runs under TCG on a host other jobs share, and a batch the host
 * interrupted says nothing about the code; the fastest batch of each side
 * is the closest to what the code costs, and both sides are measured the
 * same way.
 */
#define BATCH_IOCTL	500
#define BATCH_OPEN	25

/* ns per GET_VERSION on one open file of path; -1 on error (errno set). */
static long
time_ioctl(const char *path, int n)
{
	int fd, i, b, v = 0;
	long t0, t, best = -1;

	fd = kqt_wait_node(path, O_RDWR, 3000);
	if (fd < 0)
		return (-1);
	/* Warm up: first-touch faults and caches out of the measurement. */
	for (i = 0; i < 100; i++)
		ioctl(fd, KQEMU_IOC_GET_VERSION, &v);
	for (b = 0; b < n / BATCH_IOCTL; b++) {
		t0 = now_ns();
		for (i = 0; i < BATCH_IOCTL; i++) {
			if (ioctl(fd, KQEMU_IOC_GET_VERSION, &v) != 0) {
				int e = errno;

				close(fd);
				errno = e;
				return (-1);
			}
		}
		t = (now_ns() - t0) / BATCH_IOCTL;
		if (best < 0 || t < best)
			best = t;
	}
	close(fd);
	if (v != KQEMU_VERSION) {
		errno = EINVAL;
		return (-1);
	}
	return (best);
}

/* ns per open+close pair of path; -1 on error (errno set). */
static long
time_open_close(const char *path, int flags, int n)
{
	int fd, i, b;
	long t0, t, best = -1;

	for (i = 0; i < 10; i++) {
		if ((fd = open(path, flags)) < 0)
			return (-1);
		close(fd);
	}
	for (b = 0; b < (n + BATCH_OPEN - 1) / BATCH_OPEN; b++) {
		t0 = now_ns();
		for (i = 0; i < BATCH_OPEN; i++) {
			if ((fd = open(path, flags)) < 0)
				return (-1);
			close(fd);
		}
		t = (now_ns() - t0) / BATCH_OPEN;
		if (best < 0 || t < best)
			best = t;
	}
	return (best);
}

/* "a/b" with two decimals, into buf (the runtime's printf has no %f). */
static const char *
ratio(char *buf, size_t len, long a, long b)
{
	long r;

	if (b <= 0) {
		snprintf(buf, len, "nan");
		return (buf);
	}
	r = (a * 100 + b / 2) / b;
	snprintf(buf, len, "%ld.%s%ld", r / 100, r % 100 < 10 ? "0" : "",
	    r % 100);
	return (buf);
}

static const char *
setup(void)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/kqemu_clone.ko", kqt_module_dir());
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return ("kqemu_clone.ko is not in the image (build it: make kbuild-dfly)");
	close(fd);
	if (kenv_get("hw.kqemu_clone.mode", mode, sizeof(mode)) <= 0)
		memcpy(mode, "default", 8);
	return (NULL);
}

/*
 * Open+close of a DragonFly autoclone device, relative to bare kqemu's and
 * to the shim's.
 */
static void
reference(const char *path, int flags, long base_oc, long clone_oc)
{
	char r[32], r2[32];
	long oc;

	if (access(path, 0) != 0) {
		printf("bench: %s %s skipped: %s: %s (not in this kernel)\n",
		    mode, path + 5, path, strerror(errno));
		return;
	}
	oc = time_open_close(path, flags, N_OPEN);
	if (oc < 0) {
		printf("bench: %s %s skipped: open %s: %s\n", mode, path + 5,
		    path, strerror(errno));
		return;
	}
	printf("bench: %s %s_open_close_ratio=%s vs_clone=%s "
	    "(%ld ns; kqemu alone %ld ns, through the shim %ld ns)\n",
	    mode, path + 5, ratio(r, sizeof(r), oc, base_oc),
	    ratio(r2, sizeof(r2), oc, clone_oc), oc, base_oc, clone_oc);
}

static const char *
ratios(void)
{
	char m[32] = { 0 }, r1[32], r2[32];
	size_t len = sizeof(m) - 1;
	long k_io, k_oc, c_io, c_oc;

	if (kqt_loaded("kqemu_clone"))
		CHECK_OK(kqt_unload("kqemu_clone"), "kldunload kqemu_clone");
	if (!kqt_loaded("kqemu"))
		CHECK(kqt_load("kqemu") > 0, "kldload kqemu.ko: %s", strerror(errno));

	/* kqemu alone. */
	k_io = time_ioctl(DEV, N_IOCTL);
	CHECK(k_io >= 0, "kqemu alone: GET_VERSION: %s", strerror(errno));
	k_oc = time_open_close(DEV, O_RDWR, N_OPEN);
	CHECK(k_oc >= 0, "kqemu alone: open: %s", strerror(errno));

	/* Through the shim, same boot. */
	CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone.ko: %s",
	    strerror(errno));
	CHECK_OK(sysctlbyname("debug.kqemu_clone.mode", m, &len, NULL, 0),
	    "debug.kqemu_clone.mode");
	CHECK(strcmp(mode, "default") == 0 || strcmp(m, mode) == 0,
	    "mode %s, forced %s", m, mode);
	c_io = time_ioctl(DEV, N_IOCTL);
	CHECK(c_io >= 0, "kqemu_clone: GET_VERSION: %s", strerror(errno));
	c_oc = time_open_close(DEV, O_RDWR, N_OPEN);
	CHECK(c_oc >= 0, "kqemu_clone: open: %s", strerror(errno));

	printf("bench: %s get_version_ratio=%s open_close_ratio=%s "
	    "(GET_VERSION %ld vs %ld ns, x%d; open+close %ld vs %ld ns, x%d)\n",
	    m, ratio(r1, sizeof(r1), c_io, k_io), ratio(r2, sizeof(r2), c_oc, k_oc),
	    c_io, k_io, N_IOCTL, c_oc, k_oc, N_OPEN);

	reference("/dev/tun", O_RDWR, k_oc, c_oc);
	reference("/dev/bpf", O_RDONLY, k_oc, c_oc);

	/* A proc mode kqemu_clone stays while the system runs (its exit
	 * hook cannot be removed safely): the boot ends with it loaded. */
	if (strcmp(m, "proc") == 0)
		return (NULL);
	/* Leave the kernel as the boot found it (nothing open now). */
	for (int i = 0; i < 300 && kqt_unload("kqemu_clone") != 0 &&
	    errno != ENOENT; i++)
		sleep_ms(10);
	CHECK(!kqt_loaded("kqemu_clone"), "kldunload kqemu_clone: %s",
	    strerror(errno));
	CHECK_OK(kqt_unload("kqemu"), "kldunload kqemu");
	return (NULL);
}

/*
 * Acceleration: the accel suite's compute loop (accel_vm.c) as a guest
 * through kqemu alone (engine kqemu) and through the shim in the boot's
 * mode, against the same instructions run as a plain process on the same
 * kernel.  Ratio = plain time / guest time (1.00: the guest runs as fast
 * as the process would; the goal is >= 0.8).  Then 16 guests at once
 * through the shim against 16 plain processes (wall time of the whole
 * batch).  On a shared TCG host the speed changes by several times
 * within seconds, so every guest run is paired with a plain run right
 * before it and the figure is the median of the pairs' ratios (7 pairs; 3
 * for the batches), with their range.  Times cover the EXEC loop only; the
 * guest's setup (open, INIT, the monitor's first page tables, page
 * locking) is warmed up before and printed on its own.  Skipped, with a printed reason, when kqemu.ko has
 * no engine kqemu (built without KQEMU_SRC).
 */
#define ACC_ITER	8000000U
#define ACC_RAM		(1024UL * 1024)
#define ACC_N16		16
#define ACC_ITER16	2000000U
#define ACC_PAIRS	7	/* plain run + guest run pairs */
#define ACC_PAIRS16	3	/* 16 plain + 16 guests batch pairs */

static long
plain_ns(uint32_t iterations, unsigned long ram)
{
	struct avm_comm c;
	unsigned long words = 1;
	uint32_t *buf;
	long t0;

	while (words * 8 <= ram - AVM_BUF)
		words *= 2;
	buf = mmap(NULL, words * 4, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE,
	    -1, 0);
	if (buf == MAP_FAILED)
		return (-1);
	memset(buf, 0, words * 4);	/* touched, as the guest's will be */
	memset(&c, 0, sizeof(c));
	c.seed = 42;
	c.iterations = iterations;
	c.mask = (uint32_t)words - 1;
	t0 = now_ns();
	avm_native(&c, buf);
	t0 = now_ns() - t0;
	munmap(buf, words * 4);
	return (t0);
}

/* Sorts n longs (tiny n). */
static void
lsort(long *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
			long t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

struct pairs {
	long ratio[ACC_PAIRS];		/* plain / guest, x1000, sorted */
	long plain[ACC_PAIRS], guest[ACC_PAIRS];	/* ns, sorted */
	int n;
	long setup;			/* open..warm-up, ns */
};

/*
 * One guest (a warm-up run first), timed ACC_PAIRS times, each run right
 * after a run of the plain loop: a pair sees the same host conditions,
 * which on a loaded TCG host change by several times within seconds.  The
 * median of the pairs' ratios is the figure.  0, or -1 with err.
 */
static int
guest_pairs(uint32_t iterations, unsigned long ram, struct pairs *pr,
    char *err, size_t errlen)
{
	struct avm vm;
	const char *r;
	uint32_t got;
	long t0, tp, tg;
	int e;

	memset(pr, 0, sizeof(*pr));
	if ((e = avm_alloc(&vm, ram, AVM_RAM_SHARED_ANON)) != 0) {
		snprintf(err, errlen, "guest RAM: %s", strerror(e));
		return (-1);
	}
	t0 = now_ns();
	if ((r = avm_start(&vm)) != NULL ||
	    (r = avm_check(&vm, 41, iterations / 4, 0)) != NULL) {
		snprintf(err, errlen, "%s", r + 1);
		avm_free(&vm);
		return (-1);
	}
	pr->setup = now_ns() - t0;
	for (int i = 0; i < ACC_PAIRS; i++) {
		tp = plain_ns(iterations, ram);
		avm_job(&vm, 42, iterations, 0);
		t0 = now_ns();
		r = avm_run(&vm, &got);
		tg = now_ns() - t0;
		if (r != NULL || tp <= 0 || tg <= 0) {
			snprintf(err, errlen, "%s", r ? r + 1 : "clock");
			avm_free(&vm);
			return (-1);
		}
		pr->ratio[i] = tp * 1000 / tg;
		pr->plain[i] = tp;
		pr->guest[i] = tg;
	}
	avm_free(&vm);
	pr->n = ACC_PAIRS;
	lsort(pr->ratio, pr->n);
	lsort(pr->plain, pr->n);
	lsort(pr->guest, pr->n);
	return (0);
}

/* n processes at once, each a guest (guest != 0) or the plain loop; wall
 * ns from the common start to the last end. */
static long
batch_ns(int n, int guest, char *err, size_t errlen)
{
	volatile int *sh;
	pid_t pids[ACC_N16];
	long t0, t;
	int i, st, bad = 0;

	sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_ANON | MAP_SHARED, -1, 0);
	if (sh == MAP_FAILED)
		return (-1);
	memset((void *)sh, 0, 4096);
	for (i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct avm vm;
			uint32_t got;
			const char *r = NULL;
			int e = 0;

			if (guest) {
				e = avm_alloc(&vm, ACC_RAM / 2, AVM_RAM_SHARED_ANON);
				if (e == 0 && (r = avm_start(&vm)) == NULL)
					r = avm_check(&vm, 7, 20000, 0);
				if (e == 0 && r == NULL)
					avm_job(&vm, (uint32_t)i, ACC_ITER16, 0);
			}
			__atomic_add_fetch(&sh[1], 1, __ATOMIC_SEQ_CST);
			while (!sh[0])
				;
			if (e != 0 || r != NULL)
				_exit(1);
			if (guest)
				_exit(avm_run(&vm, &got) == NULL ? 0 : 1);
			plain_ns(ACC_ITER16, ACC_RAM / 2);
			_exit(0);
		}
	}
	while (sh[1] < n)
		sleep_ms(2);
	t0 = now_ns();
	sh[0] = 1;
	for (i = 0; i < n; i++) {
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	t = now_ns() - t0;
	munmap((void *)sh, 4096);
	if (bad) {
		snprintf(err, errlen, "%d of %d %s failed", bad, n,
		    guest ? "guests" : "processes");
		return (-1);
	}
	return (t);
}

/* "m.mmm" from a x1000 fixed-point value. */
static const char *
fx(char *buf, size_t len, long v)
{
	snprintf(buf, len, "%ld.%s%ld", v / 1000, v % 1000 < 10 ? "00" :
	    v % 1000 < 100 ? "0" : "", v % 1000);
	buf[len - 1] = 0;
	if (strlen(buf) > 4)
		buf[strlen(buf) - 1] = 0;	/* two decimals */
	return (buf);
}

static void
print_pairs(const char *what, const struct pairs *p)
{
	char a[16], b[16], c[16];
	int m = p->n / 2;

	printf("bench: %s accel_%s_ratio=%s (plain/guest time of %d pairs, "
	    "median; range %s-%s; goal >= 0.8; %u iterations x %d insns: "
	    "plain median %ld ms, guest median %ld ms; guest setup+warm-up "
	    "%ld ms)\n", mode, what, fx(a, sizeof(a), p->ratio[m]), p->n,
	    fx(b, sizeof(b), p->ratio[0]), fx(c, sizeof(c), p->ratio[p->n - 1]),
	    ACC_ITER, AVM_LOOP_INSNS, p->plain[m] / 1000000,
	    p->guest[m] / 1000000, p->setup / 1000000);
}

static const char *
accel_ratios(void)
{
	char eng[32] = { 0 }, old[32] = { 0 }, err[240], a[16], b[16], c[16];
	size_t len = sizeof(eng) - 1;
	struct pairs alone, shim;
	long r16[ACC_PAIRS16], p16[ACC_PAIRS16], g16[ACC_PAIRS16];
	int had;

	if (kqt_loaded("kqemu_clone") && kqt_unload("kqemu_clone") != 0) {
		/* proc mode refuses every unload once loaded: kqemu.ko stays
		 * held with the boot's engine and cannot be reloaded. */
		printf("bench: %s accel skipped: kqemu_clone cannot be unloaded "
		    "(%s), so kqemu.ko cannot be reloaded with engine kqemu in "
		    "this boot\n", mode, strerror(errno));
		return (NULL);
	}
	if (kqt_loaded("kqemu"))
		CHECK_OK(kqt_unload("kqemu"), "kldunload kqemu");
	had = kenv_get("hw.kqemu.engine", old, sizeof(old)) > 0;
	CHECK_OK(kenv_set("hw.kqemu.engine", "kqemu"), "kenv hw.kqemu.engine");
	if (kqt_load("kqemu") < 0 ||
	    sysctlbyname("hw.kqemu.engine", eng, &len, NULL, 0) < 0 ||
	    strcmp(eng, "kqemu") != 0) {
		printf("bench: %s accel skipped: kqemu.ko has no engine kqemu "
		    "(%s; build the modules with KQEMU_SRC)\n", mode,
		    eng[0] ? eng : strerror(errno));
		goto out;
	}
	CHECK(guest_pairs(ACC_ITER, ACC_RAM, &alone, err, sizeof(err)) == 0,
	    "guest through kqemu alone: %s", err);
	print_pairs("alone", &alone);
	CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s", strerror(errno));
	CHECK(guest_pairs(ACC_ITER, ACC_RAM, &shim, err, sizeof(err)) == 0,
	    "guest through the shim: %s", err);
	print_pairs("shim", &shim);
	for (int i = 0; i < ACC_PAIRS16; i++) {
		p16[i] = batch_ns(ACC_N16, 0, err, sizeof(err));
		CHECK(p16[i] > 0, "16 plain processes: %s", err);
		g16[i] = batch_ns(ACC_N16, 1, err, sizeof(err));
		CHECK(g16[i] > 0, "16 guests: %s", err);
		r16[i] = p16[i] * 1000 / g16[i];
	}
	lsort(r16, ACC_PAIRS16);
	lsort(p16, ACC_PAIRS16);
	lsort(g16, ACC_PAIRS16);
	printf("bench: %s accel_16_ratio=%s (16 plain processes / 16 guests at "
	    "once through %s, wall time of each batch, median of %d pairs, range "
	    "%s-%s; medians %ld / %ld ms, %u iterations each)\n", mode,
	    fx(a, sizeof(a), r16[ACC_PAIRS16 / 2]), mode, ACC_PAIRS16,
	    fx(b, sizeof(b), r16[0]), fx(c, sizeof(c), r16[ACC_PAIRS16 - 1]),
	    p16[ACC_PAIRS16 / 2] / 1000000, g16[ACC_PAIRS16 / 2] / 1000000,
	    ACC_ITER16);
out:
	for (int i = 0; i < 300 && kqt_unload("kqemu_clone") != 0 &&
	    errno != ENOENT; i++)
		sleep_ms(10);
	kqt_unload("kqemu");
	if (had)
		kenv_set("hw.kqemu.engine", old);
	else
		kenv_unset("hw.kqemu.engine");
	return (NULL);
}

static const struct kqt_case bench_cases[] = {
	{ "ratios__clone_vs_kqemu_alone", ratios, 150 },
	{ "accel__guest_vs_plain", accel_ratios, 400 },
	{ NULL, NULL, 0 },
};

const struct kqt_suite suite_bench = { "bench", setup, NULL, bench_cases };
