/*
 * init.c: kqtest, the target suite's driver.
 *
 * As /sbin/init (pid 1) in the QEMU guest: opens the console, turns off
 * debugger_on_panic (a 5.8 sysctl, not a tunable: a panic must reboot, which
 * QEMU's -no-reboot turns into an exit), runs the suites named in the
 * kernel environment variable kqtest.phases (comma separated), prints a
 * summary and powers off.  The runner on the Linux side reads the console.
 *
 * On a DragonFly host, as root: kqtest [-m moduledir] suite...
 * runs the same suites directly (no VM).
 * Locking: none (single-threaded).
 */
#include "kqt.h"

extern const struct kqt_suite suite_rt;
extern const struct kqt_suite suite_kqemu __attribute__((weak));
extern const struct kqt_suite suite_clone __attribute__((weak));
extern const struct kqt_suite suite_stress __attribute__((weak));
extern const struct kqt_suite suite_twins __attribute__((weak));
extern const struct kqt_suite suite_linker __attribute__((weak));
extern const struct kqt_suite suite_bench __attribute__((weak));
extern const struct kqt_suite suite_accel __attribute__((weak));
extern const struct kqt_suite suite_fuzz __attribute__((weak));

/* Weak: a suite whose source is absent from the build is "no such suite". */
static const struct kqt_suite *const suites[] = {
	&suite_rt, &suite_kqemu, &suite_clone, &suite_stress, &suite_twins,
	&suite_linker, &suite_bench, &suite_accel, &suite_fuzz,
};
#define NSUITES	(sizeof(suites) / sizeof(suites[0]))

/* The label: suite name, plus the forced shim mode for mode-dependent ones. */
static void
label_for(const struct kqt_suite *s, char *buf, size_t n)
{
	char mode[64];

	if ((strcmp(s->name, "clone") == 0 || strcmp(s->name, "stress") == 0 ||
	    strcmp(s->name, "bench") == 0 || strcmp(s->name, "accel") == 0 ||
	    strcmp(s->name, "fuzz") == 0) &&
	    kenv_get("hw.kqemu_clone.mode", mode, sizeof(mode)) > 0)
		snprintf(buf, n, "%s_%s", s->name, mode);
	else
		snprintf(buf, n, "%s", s->name);
}

static int
run_named(const char *name, size_t len)
{
	char want[64], label[96];
	int i;

	if (len >= sizeof(want))
		len = sizeof(want) - 1;
	memcpy(want, name, len);
	want[len] = 0;
	for (i = 0; i < (int)NSUITES; i++) {
		if (suites[i] == NULL || strcmp(suites[i]->name, want) != 0)
			continue;
		label_for(suites[i], label, sizeof(label));
		printf("kqt: suite %s starting\n", label);
		return (kqt_run_suite(suites[i], label));
	}
	printf("%s:suite failed: no such suite\n", want);
	kqt_failed++;
	return (1);
}

static void
summary(void)
{
	printf("kqt: summary: %d passed, %d failed, %d skipped\n",
	    kqt_passed, kqt_failed, kqt_skipped);
}

/*
 * Under the runner, QEMU has an isa-debug-exit device at the port named by
 * kqtest.exit_port: writing it ends QEMU at once, which saves the ~5 s the
 * kernel spends stopping its threads on the way to power-off.  /dev/io
 * (kern_memio.c, minor 14) grants this process I/O privilege.
 */
static void
quick_exit_vm(void)
{
	char buf[16];
	long port;
	int fd;

	if (kenv_get("kqtest.exit_port", buf, sizeof(buf)) <= 0)
		return;
	port = atol(buf);
	fd = open("/dev/io", O_RDWR);
	if (fd < 0 || port <= 0 || port > 0xffff) {
		printf("kqt: quick exit unavailable: %s\n", strerror(errno));
		return;
	}
	__asm__ volatile("outl %0, %w1" : : "a"(0), "Nd"((unsigned short)port));
}

static int __attribute__((noreturn))
as_init(void)
{
	char phases[256];
	const char *p, *e;
	int fd;
	long t0;

	fd = open("/dev/console", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	t0 = now_ms();
	printf("kqt: init started (pid %d, uptime %ld ms)\n", getpid(), t0);
	if (sysctl_set_int("debug.debugger_on_panic", 0) < 0)
		printf("kqt: warning: debug.debugger_on_panic: %s\n",
		    strerror(errno));
	/* A sysctl, not a tunable, on 5.8: the 5 s power-off pause. */
	sysctl_set_int("kern.shutdown.poweroff_delay", 0);
	if (kenv_get("kqtest.phases", phases, sizeof(phases)) <= 0)
		memcpy(phases, "rt", 3);
	for (p = phases; *p; p = *e ? e + 1 : e) {
		long t1 = now_ms();

		e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		if (e == p)
			continue;
		{
			char name[64];
			size_t n = (size_t)(e - p) < sizeof(name) - 1 ?
			    (size_t)(e - p) : sizeof(name) - 1;

			memcpy(name, p, n);
			name[n] = 0;
			run_named(name, n);
			printf("kqt: phase %s took %ld ms\n", name, now_ms() - t1);
		}
	}
	summary();
	printf("kqt: all phases took %ld ms; powering off\n", now_ms() - t0);
	quick_exit_vm();
	/* The root is a memory disk: nothing to sync. */
	reboot(RB_POWEROFF | RB_NOSYNC);
	printf("kqt: reboot: %s\n", strerror(errno));
	for (;;)
		sleep_ms(1000);
}

int
main(int argc, char **argv)
{
	int i;

	if (getpid() == 1)
		return (as_init());
	i = 1;
	if (argc > 2 && strcmp(argv[1], "-m") == 0) {
		kqt_set_module_dir(argv[2]);
		i = 3;
	}
	if (i >= argc) {
		printf("usage: kqtest [-m moduledir] suite...  (suites: rt kqemu "
		    "clone stress twins linker bench accel fuzz; run as root on DragonFly)\n");
		return (2);
	}
	for (; i < argc; i++)
		run_named(argv[i], strlen(argv[i]));
	summary();
	return (kqt_failed ? 1 : 0);
}
