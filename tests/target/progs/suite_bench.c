/*
 * suite_bench.c: what kqemu_clone costs on the real kernel, as ratios
 * (printed, never asserted: the guest runs under TCG on a shared host, so
 * absolute times mean little and a threshold would be a flaky test).
 *
 * One case does everything in one process, in one boot, because the
 * baseline must be kqemu.ko alone on the same kernel: it loads kqemu,
 * times GET_VERSION ioctls on one open file and plain open+close pairs,
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
#include "kqt.h"
#include <kqemu.h>

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

/* ns per GET_VERSION on one open file of path; -1 on error (errno set). */
static long
time_ioctl(const char *path, int n)
{
	int fd, i, v = 0;
	long t0, t;

	fd = kqt_wait_node(path, O_RDWR, 3000);
	if (fd < 0)
		return (-1);
	/* Warm up: first-touch faults and caches out of the measurement. */
	for (i = 0; i < 100; i++)
		ioctl(fd, KQEMU_IOC_GET_VERSION, &v);
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		if (ioctl(fd, KQEMU_IOC_GET_VERSION, &v) != 0) {
			int e = errno;

			close(fd);
			errno = e;
			return (-1);
		}
	}
	t = now_ns() - t0;
	close(fd);
	if (v != KQEMU_VERSION) {
		errno = EINVAL;
		return (-1);
	}
	return (t / n);
}

/* ns per open+close pair of path; -1 on error (errno set). */
static long
time_open_close(const char *path, int flags, int n)
{
	int fd, i;
	long t0;

	for (i = 0; i < 10; i++) {
		if ((fd = open(path, flags)) < 0)
			return (-1);
		close(fd);
	}
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		if ((fd = open(path, flags)) < 0)
			return (-1);
		close(fd);
	}
	return ((now_ns() - t0) / n);
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

	/* Leave the kernel as the boot found it (nothing open now). */
	for (int i = 0; i < 300 && kqt_unload("kqemu_clone") != 0 &&
	    errno != ENOENT; i++)
		sleep_ms(10);
	CHECK(!kqt_loaded("kqemu_clone"), "kldunload kqemu_clone: %s",
	    strerror(errno));
	CHECK_OK(kqt_unload("kqemu"), "kldunload kqemu");
	return (NULL);
}

static const struct kqt_case bench_cases[] = {
	{ "ratios__clone_vs_kqemu_alone", ratios, 150 },
	{ NULL, NULL, 0 },
};

const struct kqt_suite suite_bench = { "bench", setup, NULL, bench_cases };
