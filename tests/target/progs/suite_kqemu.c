/*
 * suite_kqemu.c: kqemu.ko alone on the real kernel (no shim): the classic
 * single-instance driver.  The boot leaves hw.kqemu.engine unset, so the
 * engine is the default, decline (INIT -> ENXIO, QEMU falls back to
 * software).  Cases run in order; the first loads kqemu.ko, the last
 * unloads it.
 */
#include "qseq.h"

#define DEV	"/dev/kqemu"

static const char *
need_module(void)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/kqemu.ko", kqt_module_dir());
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return ("kqemu.ko is not in the image (build it: make kbuild-dfly)");
	close(fd);
	return (NULL);
}

static const char *
load(void)
{
	int fd;

	CHECK(!kqt_loaded("kqemu"), "kqemu.ko already loaded");
	CHECK(kqt_load("kqemu") > 0, "kldload kqemu.ko: %s", strerror(errno));
	fd = kqt_wait_node(DEV, O_RDWR, 3000);
	CHECK(fd >= 0, "open %s after kldload: %s", DEV, strerror(errno));
	close(fd);
	return (NULL);
}

static const char *
version(void)
{
	int fd, v = 0;

	fd = open(DEV, O_RDWR);
	CHECK(fd >= 0, "open: %s", strerror(errno));
	CHECK_OK(ioctl(fd, KQEMU_IOC_GET_VERSION, &v), "GET_VERSION");
	CHECK(v == KQEMU_VERSION, "GET_VERSION = %#x, want %#x", v, KQEMU_VERSION);
	close(fd);
	return (NULL);
}

static int
h_open_expect(void *arg)
{
	int want = (int)(long)arg;
	int fd = open(DEV, O_RDWR);

	if (fd >= 0)
		return (100);
	return (errno == want ? 0 : errno);
}

static const char *
second_open_ebusy(void)
{
	int fd, st = 0;

	fd = open(DEV, O_RDWR);
	CHECK(fd >= 0, "first open: %s", strerror(errno));
	CHECK_ERR(open(DEV, O_RDWR), EBUSY, "second open, same process");
	CHECK(kqt_run_child(h_open_expect, (void *)(long)EBUSY, 10, &st) == 0,
	    "child hung");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "second open from another process: status %#x (100: it succeeded; else errno)", st);
	close(fd);
	/* After the last close the device is free again. */
	fd = open(DEV, O_RDWR);
	CHECK(fd >= 0, "open after close: %s", strerror(errno));
	close(fd);
	return (NULL);
}

static const char *
read_only_eperm(void)
{
	CHECK_ERR(open(DEV, O_RDONLY), EPERM, "read-only open");
	return (NULL);
}

static const char *
decline_init_enxio(void)
{
	struct qvm vm;
	char eng[32] = { 0 };
	size_t len = sizeof(eng) - 1;

	CHECK_OK(sysctlbyname("hw.kqemu.engine", eng, &len, NULL, 0), "hw.kqemu.engine");
	if (strcmp(eng, "decline") != 0)
		return t_skip("engine is %s, not decline", eng);
	CHECK(qvm_alloc(&vm, 256) == 0, "mmap");
	vm.fd = open(DEV, O_RDWR);
	CHECK(vm.fd >= 0, "open: %s", strerror(errno));
	CHECK_ERR(ioctl(vm.fd, KQEMU_IOC_INIT, &vm.init), ENXIO, "INIT under decline");
	CHECK_OK(close(vm.fd), "close after a declined INIT");
	vm.fd = open(DEV, O_RDWR);
	CHECK(vm.fd >= 0, "reopen after the declined instance: %s", strerror(errno));
	close(vm.fd);
	qvm_free(&vm);
	return (NULL);
}

static const char *
errors_before_init(void)
{
	struct kqemu_cpu_state cs;
	struct kqemu_phys_mem pm;
	int fd, n = 0;

	fd = open(DEV, O_RDWR);
	CHECK(fd >= 0, "open: %s", strerror(errno));
	memset(&cs, 0, sizeof(cs));
	memset(&pm, 0, sizeof(pm));
	pm.size = 4096;
	CHECK_ERR(ioctl(fd, KQEMU_IOC_EXEC, &cs), EIO, "EXEC before INIT");
	CHECK_ERR(ioctl(fd, KQEMU_IOC_SET_PHYS_MEM, &pm), EIO, "SET_PHYS_MEM before INIT");
	CHECK_ERR(ioctl(fd, KQEMU_IOC_MODIFY_RAM_PAGES, &n), EIO,
	    "MODIFY_RAM_PAGES before INIT");
	CHECK_ERR(ioctl(fd, 0x20007199UL, NULL), ENOTTY, "unknown ioctl 'q' 0x99");
	close(fd);
	return (NULL);
}

static int
h_open_exit(void *arg)
{
	int fd = open(DEV, O_RDWR);

	(void)arg;
	return (fd >= 0 ? 0 : 1);	/* exit without close */
}

static const char *
exit_closes(void)
{
	int st = 0, fd;

	CHECK(kqt_run_child(h_open_exit, NULL, 10, &st) == 0, "child hung");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child could not open");
	fd = open(DEV, O_RDWR);
	CHECK(fd >= 0, "open after the holder exited without close: %s",
	    strerror(errno));
	close(fd);
	return (NULL);
}

static const char *
sysctl_stats(void)
{
	long v = 0, opens = 0;

	CHECK_OK(sysctl_int("hw.kqemu.version", &v), "hw.kqemu.version");
	CHECK(v == KQEMU_VERSION, "hw.kqemu.version = %#lx", v);
	CHECK_OK(sysctl_int("hw.kqemu.opens", &opens), "hw.kqemu.opens");
	CHECK(opens >= 6, "hw.kqemu.opens = %ld after the cases above", opens);
	CHECK_OK(sysctl_int("hw.kqemu.instances", &v), "hw.kqemu.instances");
	CHECK(v == 0, "hw.kqemu.instances = %ld with nothing open", v);
	return (NULL);
}

static const char *
unload_refused_while_open(void)
{
	int fd;

	fd = open(DEV, O_RDWR);
	CHECK(fd >= 0, "open: %s", strerror(errno));
	CHECK_ERR(kqt_unload("kqemu"), EBUSY, "kldunload with an instance open");
	CHECK(kqt_loaded("kqemu"), "kqemu.ko gone after a refused unload");
	CHECK(ioctl(fd, KQEMU_IOC_GET_VERSION, &(int){ 0 }) == 0,
	    "the open instance broke after the refused unload: %s", strerror(errno));
	close(fd);
	return (NULL);
}

static const char *
unload_and_reload(void)
{
	int i, fd;

	for (i = 0; i < 3; i++) {
		CHECK(kqt_unload("kqemu") == 0, "cycle %d: kldunload: %s", i,
		    strerror(errno));
		CHECK(!kqt_loaded("kqemu"), "cycle %d: still loaded", i);
		CHECK_ERR(open(DEV, O_RDWR), ENOENT, "open after unload");
		CHECK(kqt_load("kqemu") > 0, "cycle %d: kldload: %s", i,
		    strerror(errno));
		fd = kqt_wait_node(DEV, O_RDWR, 3000);
		CHECK(fd >= 0, "cycle %d: open: %s", i, strerror(errno));
		close(fd);
	}
	CHECK(kqt_unload("kqemu") == 0, "final kldunload: %s", strerror(errno));
	return (NULL);
}

/* As an unprivileged user (uid and gid 1000, no other group; wheel is
 * gid 0): the open's errno. */
static int
h_open_as_user(void *arg)
{
	int fd, g = 1000;

	(void)arg;
	if (setgroups(1, &g) < 0 || setgid(1000) < 0 || setuid(1000) < 0 ||
	    getuid() != 1000)
		return (100);
	fd = open(DEV, O_RDWR);
	if (fd >= 0) {
		close(fd);
		return (0);
	}
	return (errno);
}

static const char *
permissions(void)
{
	int st = 0, fd;

	/* Default node: 0660 root:wheel. */
	if (!kqt_loaded("kqemu"))
		CHECK(kqt_load("kqemu") > 0, "kldload kqemu: %s", strerror(errno));
	fd = kqt_wait_node(DEV, O_RDWR, 3000);
	CHECK(fd >= 0, "open as root: %s", strerror(errno));
	close(fd);
	CHECK(kqt_run_child(h_open_as_user, NULL, 10, &st) == 0, "child hung");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == EACCES,
	    "open as uid 1000 of the default 0660 root:wheel node: %s (want EACCES)",
	    WEXITSTATUS(st) == 0 ? "succeeded" : strerror(WEXITSTATUS(st)));
	/* Loader tunable hw.kqemu.perms=0666, read at MOD_LOAD. */
	CHECK(kqt_unload("kqemu") == 0, "kldunload kqemu: %s", strerror(errno));
	CHECK_OK(kenv_set("hw.kqemu.perms", "0666"), "kenv hw.kqemu.perms");
	fd = kqt_load("kqemu");
	kenv_unset("hw.kqemu.perms");
	CHECK(fd > 0, "kldload kqemu with hw.kqemu.perms=0666: %s", strerror(errno));
	fd = kqt_wait_node(DEV, O_RDWR, 3000);
	CHECK(fd >= 0, "open as root: %s", strerror(errno));
	close(fd);
	CHECK(kqt_run_child(h_open_as_user, NULL, 10, &st) == 0, "child hung");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "open as uid 1000 with hw.kqemu.perms=0666: %s", strerror(WEXITSTATUS(st)));
	CHECK(kqt_unload("kqemu") == 0, "kldunload kqemu: %s", strerror(errno));
	return (NULL);
}

static const struct kqt_case kqemu_cases[] = {
	{ "load__creates_node", load, 0 },
	{ "version__get_version", version, 0 },
	{ "open__second_open_ebusy", second_open_ebusy, 0 },
	{ "open__read_only_eperm", read_only_eperm, 0 },
	{ "init__decline_enxio_close_clean", decline_init_enxio, 0 },
	{ "ioctl__before_init_eio_enotty", errors_before_init, 0 },
	{ "close__exit_without_close_frees", exit_closes, 0 },
	{ "sysctl__version_and_counters", sysctl_stats, 0 },
	{ "unload__refused_while_open", unload_refused_while_open, 0 },
	{ "unload__three_cycles", unload_and_reload, 0 },
	{ "node__mode_0660_root_wheel_and_tunable", permissions, 0 },
	{ NULL, NULL, 0 },
};
const struct kqt_suite suite_kqemu = { "kqemu", need_module, NULL, kqemu_cases };
