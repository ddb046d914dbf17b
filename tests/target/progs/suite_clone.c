/*
 * suite_clone.c: kqemu_clone.ko over kqemu.ko on the real kernel, in the
 * mode the boot forces (loader tunable hw.kqemu_clone.mode; the suite is
 * labelled clone_<mode>) with hw.kqemu.engine=conform, so every open runs
 * the whole QEMU 0.10 protocol.  Cases run in order: the first loads both
 * modules, the last ones exercise unload and load cycles.
 * Observations go through the shim's sysctls (debug.kqemu_clone.live,
 * opens, closes) and through kldunload, never through internals.
 */
#include "qseq.h"

#define DEV	"/dev/kqemu"

static char mode[32];

static int
is_proc(void)
{
	return (strcmp(mode, "proc") == 0);
}

static long
stat_of(const char *name)
{
	char full[96];
	long v = -1;

	snprintf(full, sizeof(full), "debug.kqemu_clone.%s", name);
	if (sysctl_int(full, &v) < 0)
		return (-1);
	return (v);
}

/* Waits up to 3 s for debug.kqemu_clone.live to reach want. */
static long
live_becomes(long want)
{
	long deadline = now_ms() + 3000, v;

	while ((v = stat_of("live")) != want && now_ms() < deadline)
		sleep_ms(10);
	return (v);
}

static long
stat_of_kqemu_instances(void)
{
	long v = -1;

	if (sysctl_int("hw.kqemu.instances", &v) < 0)
		return (-1);
	return (v);
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
		mode[0] = 0;
	return (NULL);
}

static const char *
load(void)
{
	char m[32] = { 0 }, eng[32] = { 0 };
	size_t len = sizeof(m) - 1;
	int fd;

	if (!kqt_loaded("kqemu"))
		CHECK(kqt_load("kqemu") > 0, "kldload kqemu.ko: %s", strerror(errno));
	CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone.ko: %s", strerror(errno));
	CHECK_OK(sysctlbyname("debug.kqemu_clone.mode", m, &len, NULL, 0),
	    "debug.kqemu_clone.mode");
	CHECK(mode[0] == 0 || strcmp(m, mode) == 0, "mode %s, forced %s", m, mode);
	len = sizeof(eng) - 1;
	CHECK_OK(sysctlbyname("hw.kqemu.engine", eng, &len, NULL, 0), "hw.kqemu.engine");
	CHECK(strcmp(eng, "conform") == 0, "engine %s, want conform", eng);
	fd = kqt_wait_node(DEV, O_RDWR, 3000);
	CHECK(fd >= 0, "open: %s", strerror(errno));
	close(fd);
	CHECK(live_becomes(0) == 0, "live = %ld after one open/close", stat_of("live"));
	return (NULL);
}

/* ---- many VMs at once ---- */
#define NVM	16

struct vmarg {
	int idx;
	int ready_fd;	/* write one byte once INIT and EXECs ran */
	int go_fd;	/* read one byte, then finish */
};

static int
h_vm(void *p)
{
	struct vmarg *a = p;
	struct qvm vm;
	const char *r;
	char c = 'r';

	if (qvm_alloc(&vm, 64 + 16 * (unsigned long)a->idx) != 0)
		return (10);
	vm.fd = open(DEV, O_RDWR);
	if (vm.fd < 0)
		return (11);
	if ((r = qvm_sequence(&vm, 24, 1000UL * (unsigned long)a->idx)) != NULL) {
		printf("clone: vm %d: %s\n", a->idx, r + 1);
		return (12);
	}
	write(a->ready_fd, &c, 1);
	if (read(a->go_fd, &c, 1) != 1)
		return (13);
	/* More EXECs while all the others are open too. */
	if ((r = qvm_exec_check(&vm, 77 + (unsigned long)a->idx)) != NULL) {
		printf("clone: vm %d: %s\n", a->idx, r + 1);
		return (14);
	}
	if (a->idx & 1)
		close(vm.fd);	/* the others exit without closing, as QEMU does */
	return (0);
}

static const char *
many_vms(void)
{
	int ready[2], go[2], i, st, bad = 0;
	pid_t pids[NVM];
	long live, opens0 = stat_of("opens"), closes0 = stat_of("closes");
	char c;

	CHECK_OK(pipe(ready), "pipe");
	CHECK_OK(pipe(go), "pipe");
	for (i = 0; i < NVM; i++) {
		struct vmarg a = { i, ready[1], go[0] };

		pids[i] = fork();
		CHECK(pids[i] >= 0, "fork: %s", strerror(errno));
		if (pids[i] == 0)
			_exit(h_vm(&a));
	}
	for (i = 0; i < NVM; i++) {
		if (read(ready[0], &c, 1) != 1)
			break;
	}
	live = stat_of("live");
	for (i = 0; i < NVM; i++)
		write(go[1], "g", 1);
	for (i = 0; i < NVM; i++) {
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = bad ? bad : (int)(0x1000 | (i << 8) | (st & 0xff) | WEXITSTATUS(st));
	}
	CHECK(bad == 0, "a VM process failed: vm %d status %#x", (bad >> 8) & 0xf, bad & 0xff);
	CHECK(live == NVM, "live = %ld with %d VMs open at once", live, NVM);
	CHECK(live_becomes(0) == 0, "live = %ld after all exited", stat_of("live"));
	CHECK(stat_of("opens") - opens0 == NVM, "opens grew by %ld", stat_of("opens") - opens0);
	CHECK(stat_of("closes") - closes0 == NVM, "closes grew by %ld",
	    stat_of("closes") - closes0);
	return (NULL);
}

static const char *
errors(void)
{
	struct qvm vm;
	struct kqemu_init bad;
	struct kqemu_phys_mem pm;
	struct kqemu_cpu_state cs;
	int n;

	CHECK(qvm_alloc(&vm, 128) == 0, "mmap");
	vm.fd = open(DEV, O_RDWR);
	CHECK(vm.fd >= 0, "open: %s", strerror(errno));
	memset(&cs, 0, sizeof(cs));
	CHECK_ERR(ioctl(vm.fd, KQEMU_IOC_EXEC, &cs), EIO, "EXEC before INIT");
	CHECK_ERR(ioctl(vm.fd, 0x20007177UL, NULL), ENOTTY, "unknown ioctl");
	bad = vm.init;
	bad.ram_size = 4096 * 3 + 100;
	CHECK_ERR(ioctl(vm.fd, KQEMU_IOC_INIT, &bad), EINVAL, "INIT, ram_size not page aligned");
	bad = vm.init;
	bad.ram_base = (uint8_t *)0x7ff000000000UL;	/* unmapped */
	CHECK_ERR(ioctl(vm.fd, KQEMU_IOC_INIT, &bad), EFAULT, "INIT, unmapped RAM");
	CHECK_ERR(ioctl(vm.fd, KQEMU_IOC_INIT, (void *)8), EFAULT, "INIT, bad argument pointer");
	CHECK_OK(ioctl(vm.fd, KQEMU_IOC_INIT, &vm.init), "INIT");
	CHECK_ERR(ioctl(vm.fd, KQEMU_IOC_INIT, &vm.init), EIO, "INIT twice");
	memset(&pm, 0, sizeof(pm));
	pm.phys_addr = 0x1234;
	pm.size = 4096;
	CHECK_ERR(ioctl(vm.fd, KQEMU_IOC_SET_PHYS_MEM, &pm), EINVAL, "SET_PHYS_MEM unaligned");
	pm.phys_addr = 0;
	pm.size = vm.ram_size + 4096;
	CHECK_ERR(ioctl(vm.fd, KQEMU_IOC_SET_PHYS_MEM, &pm), EINVAL,
	    "SET_PHYS_MEM RAM beyond ram_size");
	n = 100000;
	CHECK_ERR(ioctl(vm.fd, KQEMU_IOC_MODIFY_RAM_PAGES, &n), EINVAL, "MODIFY_RAM_PAGES 100000");
	cs.nb_pages_to_flush = 9999;
	CHECK_ERR(ioctl(vm.fd, KQEMU_IOC_EXEC, &cs), EINVAL, "EXEC, 9999 pages to flush");
	/* After all that the instance still works. */
	{
		const char *r = qvm_exec_check(&vm, 5);
		if (r != NULL)
			return (r);
	}
	close(vm.fd);
	qvm_free(&vm);
	CHECK(live_becomes(0) == 0, "live = %ld after close", stat_of("live"));
	return (NULL);
}

static const char *
dup_shares(void)
{
	struct qvm vm;
	int fd2;
	const char *r;

	CHECK(qvm_alloc(&vm, 64) == 0, "mmap");
	vm.fd = open(DEV, O_RDWR);
	CHECK(vm.fd >= 0, "open: %s", strerror(errno));
	CHECK_OK(ioctl(vm.fd, KQEMU_IOC_INIT, &vm.init), "INIT");
	fd2 = dup(vm.fd);
	CHECK(fd2 >= 0, "dup: %s", strerror(errno));
	/* The same instance: it is READY through the copy too. */
	CHECK_ERR(ioctl(fd2, KQEMU_IOC_INIT, &vm.init), EIO, "INIT through the dup");
	CHECK(stat_of("live") == 1, "live = %ld with one open and its dup", stat_of("live"));
	CHECK_OK(close(vm.fd), "close the original");
	vm.fd = fd2;
	CHECK(stat_of("live") == 1, "live = %ld: closing one descriptor was taken as the last close",
	    stat_of("live"));
	if ((r = qvm_exec_check(&vm, 9)) != NULL)
		return (r);
	close(fd2);
	CHECK(live_becomes(0) == 0, "live = %ld after the last close", stat_of("live"));
	qvm_free(&vm);
	return (NULL);
}

static int
h_fork_child(void *p)
{
	struct qvm *vm = p;
	struct kqemu_cpu_state cs;
	int e;

	memset(&cs, 0, sizeof(cs));
	e = ioctl(vm->fd, KQEMU_IOC_EXEC, &cs) < 0 ? errno : 0;
	close(vm->fd);		/* as QEMU's tap-script children do */
	if (is_proc())
		return (e == ENXIO ? 0 : 20 + e);
	return (e == 0 && cs.retval == KQEMU_RET_SOFTMMU ? 0 : 40 + e);
}

static const char *
fork_shares(void)
{
	struct qvm vm;
	const char *r;
	int st = 0;

	CHECK(qvm_alloc(&vm, 64) == 0, "mmap");
	vm.fd = open(DEV, O_RDWR);
	CHECK(vm.fd >= 0, "open: %s", strerror(errno));
	CHECK_OK(ioctl(vm.fd, KQEMU_IOC_INIT, &vm.init), "INIT");
	CHECK(kqt_run_child(h_fork_child, &vm, 10, &st) == 0, "child hung");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "child's EXEC on the inherited descriptor: status %#x (mode %s: want %s)", st,
	    mode, is_proc() ? "ENXIO" : "the shared instance");
	CHECK(stat_of("live") == 1, "live = %ld after the child closed its copy",
	    stat_of("live"));
	if ((r = qvm_exec_check(&vm, 11)) != NULL)
		return (r);
	close(vm.fd);
	CHECK(live_becomes(0) == 0, "live = %ld after the last close", stat_of("live"));
	qvm_free(&vm);
	return (NULL);
}

static const char *
second_open_same_process(void)
{
	int a, b;

	a = open(DEV, O_RDWR);
	CHECK(a >= 0, "open: %s", strerror(errno));
	if (is_proc()) {
		CHECK_ERR(open(DEV, O_RDWR), EBUSY, "second open in one process (proc mode)");
	} else {
		b = open(DEV, O_RDWR);
		CHECK(b >= 0, "second open in one process: %s", strerror(errno));
		CHECK(stat_of("live") == 2, "live = %ld with two opens", stat_of("live"));
		close(b);
	}
	close(a);
	CHECK(live_becomes(0) == 0, "live = %ld after close", stat_of("live"));
	return (NULL);
}

static int
h_exit_open(void *p)
{
	struct qvm vm;

	(void)p;
	if (qvm_alloc(&vm, 32) != 0)
		return (1);
	vm.fd = open(DEV, O_RDWR);
	if (vm.fd < 0 || ioctl(vm.fd, KQEMU_IOC_INIT, &vm.init) < 0)
		return (2);
	return (0);	/* exit without close */
}

static const char *
exit_reclaims(void)
{
	long o = stat_of("opens"), c = stat_of("closes");
	int st = 0;

	CHECK(kqt_run_child(h_exit_open, NULL, 10, &st) == 0, "child hung");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	CHECK(live_becomes(0) == 0, "live = %ld after exit without close", stat_of("live"));
	CHECK(stat_of("opens") == o + 1 && stat_of("closes") == c + 1,
	    "opens %+ld closes %+ld, want +1 +1", stat_of("opens") - o, stat_of("closes") - c);
	return (NULL);
}

static const char *
kill_mid_exec(void)
{
	int ready[2], st, i;
	long c = stat_of("closes");
	pid_t pid;
	char ch;

	CHECK_OK(pipe(ready), "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct qvm vm;

		if (qvm_alloc(&vm, 64) != 0)
			_exit(1);
		vm.fd = open(DEV, O_RDWR);
		if (vm.fd < 0 || ioctl(vm.fd, KQEMU_IOC_INIT, &vm.init) < 0)
			_exit(2);
		write(ready[1], "r", 1);
		for (i = 0;; i++)
			if (qvm_exec_check(&vm, (unsigned long)i) != NULL)
				_exit(3);
	}
	close(ready[1]);
	CHECK(read(ready[0], &ch, 1) == 1, "child failed before EXEC");
	sleep_ms(30);
	CHECK_OK(kill(pid, SIGKILL), "kill");
	CHECK(waitpid(pid, &st, 0) == pid, "wait");
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %#x", st);
	CHECK(live_becomes(0) == 0, "live = %ld after SIGKILL mid-EXEC", stat_of("live"));
	CHECK(stat_of("closes") == c + 1, "closes %+ld, want +1", stat_of("closes") - c);
	return (NULL);
}

static const char *
unload_refused_while_clone_lives(void)
{
	int fd, a;

	fd = open(DEV, O_RDWR);
	CHECK(fd >= 0, "open: %s", strerror(errno));
	CHECK_ERR(kqt_unload("kqemu_clone"), EBUSY, "kldunload kqemu_clone with a clone open");
	CHECK(kqt_loaded("kqemu_clone"), "kqemu_clone gone after a refused unload");
	CHECK(ioctl(fd, KQEMU_IOC_GET_VERSION, &(int){ 0 }) == 0,
	    "the clone broke after the refused unload: %s", strerror(errno));
	close(fd);
	CHECK(live_becomes(0) == 0, "live = %ld", stat_of("live"));
	if (is_proc()) {
		/* Never while the system runs: its exit hook cannot be removed
		 * safely (clone_proc.c).  It stays, and clones. */
		CHECK_ERR(kqt_unload("kqemu_clone"), EBUSY, "kldunload of a proc mode "
		    "kqemu_clone with no clone");
		CHECK(kqt_loaded("kqemu_clone"), "proc mode kqemu_clone went away");
		fd = open(DEV, O_RDWR);
		CHECK(fd >= 0, "open after the refused unload: %s", strerror(errno));
		CHECK(ioctl(fd, KQEMU_IOC_GET_VERSION, &(int){ 0 }) == 0, "GET_VERSION: %s",
		    strerror(errno));
		close(fd);
		CHECK(live_becomes(0) == 0, "live = %ld", stat_of("live"));
		return (NULL);
	}
	CHECK(kqt_unload("kqemu_clone") == 0, "kldunload kqemu_clone after the close: %s",
	    strerror(errno));
	CHECK(!kqt_loaded("kqemu_clone"), "kqemu_clone still loaded");
	CHECK(kqt_loaded("kqemu"), "kqemu went away with kqemu_clone");
	/* Single-instance again. */
	a = kqt_wait_node(DEV, O_RDWR, 3000);
	CHECK(a >= 0, "open kqemu alone: %s", strerror(errno));
	CHECK_ERR(open(DEV, O_RDWR), EBUSY, "second open of kqemu alone");
	close(a);
	return (NULL);
}

static const char *
kqemu_kept_under_clone(void)
{
	int a, b, r;

	if (!is_proc() || !kqt_loaded("kqemu_clone"))
		CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s",
		    strerror(errno));
	/* The real linker: this drops a reference and returns 0 (or EBUSY);
	 * kqemu must stay, wrapped and working. */
	errno = 0;
	r = kqt_unload("kqemu");
	CHECK(r == 0 || errno == EBUSY, "kldunload kqemu under kqemu_clone: %s",
	    strerror(errno));
	CHECK(kqt_loaded("kqemu"), "kqemu unloaded from under kqemu_clone");
	a = open(DEV, O_RDWR);
	CHECK(a >= 0, "open after kldunload(kqemu): %s", strerror(errno));
	b = open(DEV, O_RDWR);
	if (!is_proc())
		CHECK(b >= 0, "second open after kldunload(kqemu): %s", strerror(errno));
	CHECK(ioctl(a, KQEMU_IOC_GET_VERSION, &(int){ 0 }) == 0, "GET_VERSION: %s",
	    strerror(errno));
	if (b >= 0)
		close(b);
	close(a);
	CHECK(live_becomes(0) == 0, "live = %ld", stat_of("live"));
	if (is_proc()) {
		CHECK_ERR(kqt_unload("kqemu_clone"), EBUSY, "kldunload of a proc mode "
		    "kqemu_clone");
		CHECK(kqt_loaded("kqemu"), "kqemu went away under a proc mode kqemu_clone");
		return (NULL);
	}
	/* Unloading the shim releases its hold; kqemu may follow (its user
	 * reference is gone), or stay: either way nothing dangles. */
	CHECK(kqt_unload("kqemu_clone") == 0, "kldunload kqemu_clone: %s", strerror(errno));
	if (kqt_loaded("kqemu")) {
		a = kqt_wait_node(DEV, O_RDWR, 3000);
		CHECK(a >= 0, "kqemu still loaded but /dev/kqemu fails: %s", strerror(errno));
		close(a);
		if (kqt_unload("kqemu") < 0)
			CHECK(errno == EBUSY, "kldunload kqemu: %s", strerror(errno));
	} else {
		long deadline = now_ms() + 3000;

		while (open(DEV, O_RDWR) >= 0 && now_ms() < deadline)
			sleep_ms(10);
		CHECK_ERR(open(DEV, O_RDWR), ENOENT, "/dev/kqemu after kqemu left");
	}
	return (NULL);
}

/*
 * kqemu_clone loads while a process holds the bare /dev/kqemu (opened
 * before the load): the load must attach (5.8's kldload returns 0 even
 * when MOD_LOAD fails, leaving the module loaded and inert), the holder
 * keeps its instance, every new open is cloned (never kqemu's EBUSY), and
 * the holder's close still reaches kqemu.
 */
static int
h_hold_raw(void *p)
{
	int *fds = p;
	/* kqemu may have been loaded a moment ago: devfs makes its node
	 * asynchronously (ENOENT until then). */
	int fd = kqt_wait_node(DEV, O_RDWR, 3000), v = 0;
	char c = fd >= 0 ? 'o' : (char)errno;

	write(fds[1], &c, 1);
	if (fd < 0)
		return (1);
	if (read(fds[2], &c, 1) != 1)	/* the shim is loaded and cloning */
		return (2);
	if (ioctl(fd, KQEMU_IOC_GET_VERSION, &v) != 0 || v != KQEMU_VERSION)
		return (3);
	close(fd);
	return (0);
}

static const char *
attach_over_raw_open(void)
{
	int up[2], down[2], args[3], st = 0, a, b, v = 0;
	long n = -1, deadline;
	pid_t pid;
	char c;

	if (is_proc())
		return t_skip("a proc mode kqemu_clone is never unloaded while the "
		    "system runs");
	if (kqt_loaded("kqemu_clone"))
		CHECK(kqt_unload("kqemu_clone") == 0, "kldunload kqemu_clone: %s",
		    strerror(errno));
	if (!kqt_loaded("kqemu"))
		CHECK(kqt_load("kqemu") > 0, "kldload kqemu: %s", strerror(errno));
	CHECK_OK(pipe(up), "pipe");
	CHECK_OK(pipe(down), "pipe");
	args[0] = up[0];
	args[1] = up[1];
	args[2] = down[0];
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(h_hold_raw(args));
	CHECK(read(up[0], &c, 1) == 1 && c == 'o', "the bare open failed: %s",
	    strerror(c));
	CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone over an open bare "
	    "kqemu: %s", strerror(errno));
	CHECK(stat_of("live") == 0, "kqemu_clone loaded but not attached (inert): "
	    "debug.kqemu_clone.live = %ld", stat_of("live"));
	a = open(DEV, O_RDWR);
	CHECK(a >= 0, "open while the bare kqemu is held: %s", strerror(errno));
	b = is_proc() ? -1 : open(DEV, O_RDWR);
	CHECK(is_proc() || b >= 0, "second open while the bare kqemu is held: %s",
	    strerror(errno));
	CHECK(ioctl(a, KQEMU_IOC_GET_VERSION, &v) == 0, "GET_VERSION on a clone: %s",
	    strerror(errno));
	CHECK(stat_of("live") == (is_proc() ? 1 : 2), "live = %ld", stat_of("live"));
	write(down[1], "c", 1);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "holder status %#x (3: its "
	    "descriptor lost its instance)", st);
	close(a);
	if (b >= 0)
		close(b);
	CHECK(live_becomes(0) == 0, "live = %ld", stat_of("live"));
	/* The holder's close reached kqemu; the next open lets the shim take
	 * the device's own instance (autoclone and proc hold one). */
	a = open(DEV, O_RDWR);
	CHECK(a >= 0, "open after the holder left: %s", strerror(errno));
	close(a);
	CHECK(live_becomes(0) == 0, "live = %ld", stat_of("live"));
	deadline = now_ms() + 3000;
	while ((n = stat_of_kqemu_instances()) !=
	    (strcmp(mode, "autoclone") == 0 || is_proc() ? 1 : 0) &&
	    now_ms() < deadline)
		sleep_ms(10);
	CHECK(n == (strcmp(mode, "autoclone") == 0 || is_proc() ? 1 : 0),
	    "hw.kqemu.instances = %ld after the bare descriptor was closed", n);
	CHECK(kqt_unload("kqemu_clone") == 0, "kldunload kqemu_clone: %s", strerror(errno));
	CHECK((n = stat_of_kqemu_instances()) == 0, "hw.kqemu.instances = %ld after unload", n);
	CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s", strerror(errno));
	return (NULL);
}

/*
 * autoclone: more devfs mounts than the unload once had room for (16; one
 * devfs per jail makes that ordinary).  Clones work through each, and
 * kldunload(kqemu_clone) succeeds with every one of them mounted.
 */
#define NMOUNTS	20

static int tmp_mounted;

static const char *
mounts_prepare(void)
{
	if (mkdir("/tmp/kqmnt", 0755) == 0 || errno == EEXIST)
		return (NULL);
	if (mount("tmpfs", "/tmp", 0, NULL) != 0)
		return ("no writable /tmp and no tmpfs");
	tmp_mounted = 1;
	if (mkdir("/tmp/kqmnt", 0755) != 0)
		return ("mkdir /tmp/kqmnt on a fresh tmpfs failed");
	return (NULL);
}

static void
mounts_clean(int n)
{
	char path[64];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/tmp/kqmnt/d%d", i);
		unmount(path, 0);
		rmdir(path);
	}
	rmdir("/tmp/kqmnt");
	if (tmp_mounted)
		unmount("/tmp", 0);
	tmp_mounted = 0;
}

static const char *
unload_many_devfs(void)
{
	char path[64];
	const char *why;
	int i, n = 0, fd, r;

	if (strcmp(mode, "autoclone") != 0)
		return t_skip("mode %s does not lock devfs nodes at unload",
		    mode[0] ? mode : "default");
	if (!kqt_loaded("kqemu_clone"))
		CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s",
		    strerror(errno));
	if ((why = mounts_prepare()) != NULL)
		return t_skip("%s", why);
	for (i = 0; i < NMOUNTS; i++) {
		snprintf(path, sizeof(path), "/tmp/kqmnt/d%d", i);
		if (mkdir(path, 0755) != 0 ||
		    mount("devfs", path, 0, NULL) != 0) {
			r = errno;
			mounts_clean(n + 1);
			return t_fail("mount devfs on %s: %s", path, strerror(r));
		}
		n++;
	}
	for (i = 0; i < NMOUNTS; i += 7) {
		snprintf(path, sizeof(path), "/tmp/kqmnt/d%d/kqemu", i);
		fd = kqt_wait_node(path, O_RDWR, 3000);
		if (fd < 0) {
			r = errno;
			mounts_clean(n);
			return t_fail("open %s: %s", path, strerror(r));
		}
		close(fd);
	}
	if (live_becomes(0) != 0) {
		mounts_clean(n);
		return t_fail("live = %ld", stat_of("live"));
	}
	errno = 0;
	r = kqt_unload("kqemu_clone");
	i = errno;
	if (r == 0)
		r = kqt_load("kqemu_clone") > 0 ? 0 : -2;
	mounts_clean(n);
	CHECK(r != -1, "kldunload kqemu_clone with %d devfs mounts: %s", NMOUNTS + 1,
	    strerror(i));
	CHECK(r == 0, "kldload kqemu_clone: %s", strerror(errno));
	fd = kqt_wait_node(DEV, O_RDWR, 3000);
	CHECK(fd >= 0, "open after reload: %s", strerror(errno));
	close(fd);
	CHECK(live_becomes(0) == 0, "live = %ld", stat_of("live"));
	return (NULL);
}

/*
 * autoclone: a devfs permission rule on kqemu (what devfsctl(8) does with
 * "perm kqemu 3:42 0640": DEVFS_RULE_ADD on /dev/devfs, then
 * DEVFS_RULE_APPLY to every mount) gives a clone node the same owner, group
 * and mode as /dev/kqemu, not the cdev's.  The rule is cleared and the
 * mounts reset after.
 */
struct kq_devfs_rule {			/* sys/devfs_rules.h devfs_rule_ioctl */
	unsigned long	rule_type;
	unsigned long	rule_cmd;
	char		mntpoint[1024];
	char		name[1024];
	char		linkname[1024];
	unsigned long	dev_type;
	unsigned short	mode;
	unsigned int	uid;
	unsigned int	gid;
};
#define KQ_DEVFS_IOC(nr)	(0xc0000000UL |				\
	    ((sizeof(struct kq_devfs_rule) & 0x1fffUL) << 16) | ('d' << 8) | (nr))
#define KQ_DEVFS_RULE_ADD	KQ_DEVFS_IOC(221)
#define KQ_DEVFS_RULE_APPLY	KQ_DEVFS_IOC(222)
#define KQ_DEVFS_RULE_CLEAR	KQ_DEVFS_IOC(223)
#define KQ_DEVFS_RULE_RESET	KQ_DEVFS_IOC(224)

static struct kq_devfs_rule kq_rule;

static void
devfs_rules_undo(int dfd)
{
	memset(&kq_rule, 0, sizeof(kq_rule));
	snprintf(kq_rule.mntpoint, sizeof(kq_rule.mntpoint), "*");
	ioctl(dfd, KQ_DEVFS_RULE_CLEAR, &kq_rule);
	memset(&kq_rule, 0, sizeof(kq_rule));
	snprintf(kq_rule.mntpoint, sizeof(kq_rule.mntpoint), "*");
	ioctl(dfd, KQ_DEVFS_RULE_RESET, &kq_rule);
}

static const char *
devfs_rule_clone_node(void)
{
	struct kqt_stat sb;
	char path[32];
	const char *why = NULL;
	long deadline;
	int dfd, fd = -1, u;

	if (strcmp(mode, "autoclone") != 0)
		return t_skip("mode %s has no per-clone nodes", mode[0] ? mode : "default");
	dfd = open("/dev/devfs", O_RDWR);
	CHECK(dfd >= 0, "open /dev/devfs: %s", strerror(errno));
	memset(&kq_rule, 0, sizeof(kq_rule));
	kq_rule.rule_type = 0x01;		/* DEVFS_RULE_NAME */
	kq_rule.rule_cmd = 0x08;		/* DEVFS_RULE_PERM */
	snprintf(kq_rule.mntpoint, sizeof(kq_rule.mntpoint), "*");
	snprintf(kq_rule.name, sizeof(kq_rule.name), "kqemu");
	kq_rule.mode = 0640;
	kq_rule.uid = 3;
	kq_rule.gid = 42;
	if (ioctl(dfd, KQ_DEVFS_RULE_ADD, &kq_rule) != 0) {
		why = t_fail("DEVFS_RULE_ADD: %s", strerror(errno));
		goto out;
	}
	/* To every devfs mount, as devfsctl -a does by default (the boot's
	 * /dev mount need not be named "/dev"). */
	memset(&kq_rule, 0, sizeof(kq_rule));
	snprintf(kq_rule.mntpoint, sizeof(kq_rule.mntpoint), "*");
	if (ioctl(dfd, KQ_DEVFS_RULE_APPLY, &kq_rule) != 0) {
		why = t_fail("DEVFS_RULE_APPLY: %s", strerror(errno));
		goto out;
	}
	deadline = now_ms() + 2000;
	memset(&sb, 0, sizeof(sb));
	while ((stat(DEV, &sb) != 0 || sb.st_uid != 3) && now_ms() < deadline)
		sleep_ms(10);
	memset(&sb, 0, sizeof(sb));
	if (stat(DEV, &sb) != 0) {
		why = t_fail("stat %s: %s", DEV, strerror(errno));
		goto out;
	}
	if (sb.st_uid != 3 || sb.st_gid != 42 || (sb.st_mode & 07777) != 0640) {
		why = t_fail("the rule did not apply to %s: uid %u gid %u mode 0x%x "
		    "(want 3, 42, 0x1a0)", DEV, sb.st_uid, sb.st_gid,
		    sb.st_mode & 07777);
		goto out;
	}
	fd = open(DEV, O_RDWR);
	if (fd < 0) {
		why = t_fail("open: %s", strerror(errno));
		goto out;
	}
	for (u = 0; u < 64; u++) {
		snprintf(path, sizeof(path), "/dev/kqemu%d", u);
		if (access(path, F_OK) == 0)
			break;
	}
	if (u == 64) {
		why = t_fail("no /dev/kqemuN node while a clone is open");
		goto out;
	}
	if (stat(path, &sb) != 0) {
		why = t_fail("stat %s: %s", path, strerror(errno));
		goto out;
	}
	if (sb.st_uid != 3 || sb.st_gid != 42 || (sb.st_mode & 07777) != 0640)
		why = t_fail("%s: uid %u gid %u mode 0x%x; the rule gives %s uid 3 gid "
		    "42 mode 0640 (0x1a0)", path, sb.st_uid, sb.st_gid,
		    sb.st_mode & 07777, DEV);
out:
	if (fd >= 0)
		close(fd);
	devfs_rules_undo(dfd);
	close(dfd);
	if (why == NULL && live_becomes(0) != 0)
		why = t_fail("live = %ld", stat_of("live"));
	return (why);
}

/*
 * autoclone: the instance the shim holds on the device itself is owned by
 * a file of the shim's own (issue 13).  The only file on the device itself
 * a user can get is a stray of 5.8.1's D_QUICK open path: an open through
 * a devfs mounted while the autoclone unload has D_QUICK on (kqemu says
 * EBUSY, devfs drops it and hands the file out).  That window is a few
 * microseconds; the shim's testing aid debug.kqemu_clone.unload_hold_ms
 * keeps the unload in it, so the stray is made every time, not by luck:
 * its GET_VERSION, INIT and EXEC get kqemu's ENXIO (the file has no
 * instance), its close leaves the held instance alone
 * (hw.kqemu.instances stays 1), and the unload then completes with no
 * instance left.  kqemu_clone is loaded again after.
 */
#define STRAY_MNT	"/tmp/kqmnt/stray"
#define STRAY_HOLD_MS	3000

static long
stray_instances(void)
{
	long v = -1;

	sysctl_int("hw.kqemu.instances", &v);
	return (v);
}

/* One request through the stray: NULL if it got -1/ENXIO. */
static const char *
stray_call(int fd, unsigned long cmd, void *arg, const char *what)
{
	int r, e;

	errno = 0;
	r = ioctl(fd, cmd, arg);
	e = errno;
	if (r != -1 || e != ENXIO)
		return t_fail("the stray's %s reached the instance the shim "
		    "holds: got %d/%s, want -1/ENXIO", what, r, strerror(e));
	return (NULL);
}

/* The stray's part, while the unload holds; the first failure or NULL. */
static const char *
stray_in_window(void)
{
	struct kqemu_cpu_state cs;
	struct qvm vm;
	const char *why;
	long n, holding = -1;
	int fd, v = 0;

	if (mount("devfs", STRAY_MNT, 0, NULL) != 0)
		return t_fail("mount devfs on %s: %s", STRAY_MNT, strerror(errno));
	fd = kqt_wait_node(STRAY_MNT "/kqemu", O_RDWR, 1000);
	if (fd < 0)
		return t_fail("open %s/kqemu while the unload holds D_QUICK: %s "
		    "(no stray made)", STRAY_MNT, strerror(errno));
	if (qvm_alloc(&vm, 64) != 0) {
		close(fd);
		return t_fail("mmap");
	}
	memset(&cs, 0, sizeof(cs));
	if ((why = stray_call(fd, KQEMU_IOC_GET_VERSION, &v, "GET_VERSION")) ==
	    NULL &&
	    (why = stray_call(fd, KQEMU_IOC_INIT, &vm.init, "INIT")) == NULL &&
	    (why = stray_call(fd, KQEMU_IOC_EXEC, &cs, "EXEC")) == NULL &&
	    (n = stray_instances()) != 1)
		why = t_fail("hw.kqemu.instances = %ld with the stray open, want "
		    "1 (the shim's)", n);
	close(fd);
	qvm_free(&vm);
	if (why != NULL)
		return (why);
	if ((n = stray_instances()) != 1)
		return t_fail("the stray's close deleted the instance the shim "
		    "holds: hw.kqemu.instances = %ld, want 1", n);
	if (sysctl_int("debug.kqemu_clone.unload_holding", &holding) != 0 ||
	    holding != 1)
		return t_fail("the unload's hold ended before the stray was done "
		    "(holding %ld): raise STRAY_HOLD_MS", holding);
	return (NULL);
}

static const char *
unload_stray_cannot_touch_held(void)
{
	const char *why, *fail;
	long holding = 0, n, deadline;
	int st = 0, fd;
	pid_t pid;

	if (strcmp(mode, "autoclone") != 0)
		return t_skip("mode %s holds no instance with D_QUICK windows",
		    mode[0] ? mode : "default");
	if (!kqt_loaded("kqemu_clone"))
		CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s",
		    strerror(errno));
	CHECK(live_becomes(0) == 0, "live = %ld", stat_of("live"));
	CHECK((n = stray_instances()) == 1, "hw.kqemu.instances = %ld before, "
	    "want 1 (the instance the shim holds)", n);
	CHECK_ERR(sysctl_set_int("debug.kqemu_clone.unload_hold_ms", 10001),
	    EINVAL, "unload_hold_ms beyond 10000");
	if ((why = mounts_prepare()) != NULL)
		return t_skip("%s", why);
	if (mkdir(STRAY_MNT, 0755) != 0 && errno != EEXIST) {
		mounts_clean(0);
		return t_fail("mkdir %s: %s", STRAY_MNT, strerror(errno));
	}
	if (sysctl_set_int("debug.kqemu_clone.unload_hold_ms", STRAY_HOLD_MS)
	    != 0) {
		fail = t_fail("set unload_hold_ms: %s", strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		fail = t_fail("fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		_exit(kqt_unload("kqemu_clone") == 0 ? 0 : (errno & 0x7f) + 1);
	deadline = now_ms() + 5000;
	while ((sysctl_int("debug.kqemu_clone.unload_holding", &holding) != 0 ||
	    holding != 1) && now_ms() < deadline)
		sleep_ms(5);
	if (holding != 1)
		fail = t_fail("the unload never held (unload_holding %ld)",
		    holding);
	else
		fail = stray_in_window();
	waitpid(pid, &st, 0);
	if (fail == NULL && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
		fail = t_fail("kldunload kqemu_clone after the stray: status %#x "
		    "(exit %d: errno + 1)", st, WEXITSTATUS(st));
	if (fail == NULL && kqt_loaded("kqemu_clone"))
		fail = t_fail("kqemu_clone still loaded after its unload returned");
	if (fail == NULL && (n = stray_instances()) != 0)
		fail = t_fail("hw.kqemu.instances = %ld after the unload, want 0",
		    n);
out:
	unmount(STRAY_MNT, 0);
	rmdir(STRAY_MNT);
	mounts_clean(0);
	if (fail != NULL)
		return (fail);
	/* Back for the cases after this one. */
	CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s", strerror(errno));
	fd = kqt_wait_node(DEV, O_RDWR, 3000);
	CHECK(fd >= 0, "open after reload: %s", strerror(errno));
	close(fd);
	CHECK(live_becomes(0) == 0, "live = %ld", stat_of("live"));
	CHECK((n = stray_instances()) == 1, "hw.kqemu.instances = %ld after reload",
	    n);
	return (NULL);
}

/* Operations kqemu does not implement, through a clone: an errno, never a
 * panic (each is forwarded to kqemu's dev_ops or its defaults). */
static const char *
other_ops(void)
{
	struct qvm vm;
	struct pollfd pf;
	char buf[64];
	void *p;
	const char *r;

	CHECK(qvm_alloc(&vm, 32) == 0, "mmap");
	vm.fd = open(DEV, O_RDWR);
	CHECK(vm.fd >= 0, "open: %s", strerror(errno));
	CHECK_OK(ioctl(vm.fd, KQEMU_IOC_INIT, &vm.init), "INIT");
	(void)read(vm.fd, buf, sizeof(buf));
	(void)write(vm.fd, buf, sizeof(buf));
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, vm.fd, 0);
	if (p != MAP_FAILED)
		munmap(p, 4096);
	pf.fd = vm.fd;
	pf.events = POLLIN | POLLOUT;
	pf.revents = 0;
	(void)poll(&pf, 1, 0);
	CHECK_ERR(ioctl(vm.fd, KQEMU_IOC_EXEC, NULL), EFAULT, "EXEC with a NULL argument");
	CHECK_ERR(ioctl(vm.fd, KQEMU_IOC_GET_VERSION, (void *)16), EFAULT,
	    "GET_VERSION into a bad pointer");
	/* The instance is unharmed. */
	if ((r = qvm_exec_check(&vm, 3)) != NULL)
		return (r);
	close(vm.fd);
	qvm_free(&vm);
	CHECK(live_becomes(0) == 0, "live = %ld after close", stat_of("live"));
	return (NULL);
}

/* autoclone: a clone's own node (/dev/kqemuN), opened by name by another
 * process, is a plain open of that single-instance cdev: EBUSY, no clone. */
static int
h_open_node(void *p)
{
	int fd = open((const char *)p, O_RDWR);

	if (fd >= 0)
		return (100);
	return (errno == EBUSY ? 0 : errno);
}

static const char *
clone_node_by_name(void)
{
	char path[32];
	int fd, u, st = 0;
	long opens;

	if (strcmp(mode, "autoclone") != 0)
		return t_skip("mode %s has no per-clone nodes", mode[0] ? mode : "default");
	fd = open(DEV, O_RDWR);
	CHECK(fd >= 0, "open: %s", strerror(errno));
	for (u = 0; u < 64; u++) {
		snprintf(path, sizeof(path), "/dev/kqemu%d", u);
		if (access(path, F_OK) == 0)
			break;
	}
	CHECK(u < 64, "no /dev/kqemuN node while a clone is open");
	opens = stat_of("opens");
	CHECK(kqt_run_child(h_open_node, path, 10, &st) == 0, "child hung");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "open %s by name from another process: %s", path,
	    WEXITSTATUS(st) == 100 ? "succeeded" : strerror(WEXITSTATUS(st)));
	CHECK(stat_of("opens") == opens, "opening %s by name made a clone", path);
	close(fd);
	{
		long deadline = now_ms() + 3000;

		while (access(path, F_OK) == 0 && now_ms() < deadline)
			sleep_ms(10);
	}
	CHECK(access(path, F_OK) != 0, "%s stays after its close", path);
	CHECK(live_becomes(0) == 0, "live = %ld", stat_of("live"));
	return (NULL);
}

static const char *
cycles(void)
{
	int i, a, b;

	if (is_proc())
		return t_skip("a proc mode kqemu_clone is never unloaded while the "
		    "system runs");
	if (kqt_loaded("kqemu_clone"))
		CHECK(kqt_unload("kqemu_clone") == 0, "kldunload kqemu_clone: %s", strerror(errno));
	for (i = 0; i < 3; i++) {
		if (!kqt_loaded("kqemu"))
			CHECK(kqt_load("kqemu") > 0, "cycle %d: kldload kqemu: %s", i,
			    strerror(errno));
		CHECK(kqt_load("kqemu_clone") > 0, "cycle %d: kldload kqemu_clone: %s", i,
		    strerror(errno));
		a = kqt_wait_node(DEV, O_RDWR, 3000);
		CHECK(a >= 0, "cycle %d: open: %s", i, strerror(errno));
		b = is_proc() ? -1 : open(DEV, O_RDWR);
		CHECK(is_proc() || b >= 0, "cycle %d: second open: %s", i, strerror(errno));
		close(a);
		if (b >= 0)
			close(b);
		CHECK(live_becomes(0) == 0, "cycle %d: live = %ld", i, stat_of("live"));
		CHECK(kqt_unload("kqemu_clone") == 0, "cycle %d: kldunload kqemu_clone: %s", i,
		    strerror(errno));
		if (kqt_loaded("kqemu"))
			kqt_unload("kqemu");
		CHECK(!kqt_loaded("kqemu_clone"), "cycle %d: kqemu_clone still loaded", i);
	}
	return (NULL);
}

static const struct kqt_case clone_cases[] = {
	{ "load__attach_in_mode", load, 0 },
	{ "open__16_vms_at_once", many_vms, 120 },
	{ "ioctl__errors_eio_enotty_efault_einval", errors, 0 },
	{ "dup__shares_one_clone", dup_shares, 0 },
	{ "fork__shares_child_close_not_last", fork_shares, 0 },
	{ "open__second_in_same_process", second_open_same_process, 0 },
	{ "ops__read_write_mmap_poll_bad_pointers", other_ops, 0 },
	{ "open__clone_node_by_name_ebusy", clone_node_by_name, 0 },
	{ "exit__without_close_reclaims", exit_reclaims, 0 },
	{ "kill__mid_exec_reclaims", kill_mid_exec, 0 },
	{ "unload__refused_while_clone_lives", unload_refused_while_clone_lives, 0 },
	{ "unload__kqemu_kept_under_clone", kqemu_kept_under_clone, 0 },
	{ "attach__load_while_bare_kqemu_open", attach_over_raw_open, 0 },
	{ "unload__autoclone_with_20_devfs_mounts", unload_many_devfs, 0 },
	{ "open__clone_node_takes_devfs_rule_attributes", devfs_rule_clone_node, 0 },
	{ "unload__stray_in_quick_window_cannot_use_held_instance",
	    unload_stray_cannot_touch_held, 0 },
	{ "unload__three_load_cycles", cycles, 0 },
	{ NULL, NULL, 0 },
};
const struct kqt_suite suite_clone = { "clone", setup, NULL, clone_cases };
