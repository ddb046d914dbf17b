/*
 * suite_stress.c: a bounded stress run on 2 CPUs in the boot's shim mode.
 *
 * Workers run "sessions": a session process opens /dev/kqemu, INITs, EXECs,
 * dups, forks a child that EXECs on the inherited descriptor, and ends by
 * closing, by exiting without close, or by being SIGKILLed mid-EXEC by the
 * killer, which picks random live sessions.  The unloader keeps calling
 * kldunload(kqemu_clone) and loads it back whenever that succeeds; every few
 * hundred milliseconds it also opens a quiet window (workers pause) so that
 * the unload provably succeeds, besides the racy attempts.  Afterwards every
 * module must unload and reload cleanly with nothing left over (clones,
 * instances, locked pages).  State shared between the processes lives in
 * one MAP_SHARED anonymous page, updated with atomics.
 */
#include "qseq.h"

#define DEV		"/dev/kqemu"
#define NWORK		6
#define NSLOT		64
#define RUN_MS		8000	/* kenv kqtest.stress_ms overrides (manual hunts) */

struct shared {
	volatile int stop;
	volatile int pause;		/* quiet window requested */
	volatile int slot[NSLOT];	/* session pids the killer may hit */
	long opens, open_err[100], ioctls, ioctl_err[100], kills, sessions;
	long forks, dups, exits_noclose, closes;
	long foreign;			/* a fresh open's first INIT saw a READY instance */
	long unload_try, unload_ok, unload_ok_racy, unload_busy, unload_other;
	long reload_ok, reload_err[100];
	volatile long gen;		/* odd: kqemu_clone loaded and attached */
	long inert_loads;		/* kldload returned 0, shim not attached */
	long loaded_opens, loaded_open_err[100], bare_holds;
};
static struct shared *sh;
static char mode[32];

#define ADD(f, n)	__atomic_fetch_add(&sh->f, (n), __ATOMIC_RELAXED)
#define ERRIDX(e)	((e) >= 0 && (e) < 100 ? (e) : 99)

static int
is_proc(void)
{
	return (strcmp(mode, "proc") == 0);
}

static long
stat_of(const char *name)
{
	long v = -1;

	if (sysctl_int(name, &v) < 0)
		return (-1);
	return (v);
}

static void
session(int w)
{
	struct qvm vm;
	int slot = -1, i, n, fd2 = -1;
	unsigned long r;

	rnd_seed((unsigned long)getpid() * 2654435761UL + (unsigned long)now_ms());
	for (i = 0; i < NSLOT; i++) {
		if (__atomic_compare_exchange_n(&sh->slot[i], &(int){ 0 }, getpid(), 0,
		    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			slot = i;
			break;
		}
	}
	if (qvm_alloc(&vm, 32 + (unsigned long)w * 8) != 0)
		_exit(1);
	vm.fd = open(DEV, O_RDWR);
	if (vm.fd < 0) {
		ADD(open_err[ERRIDX(errno)], 1);
		goto out;
	}
	ADD(opens, 1);
	if (ioctl(vm.fd, KQEMU_IOC_INIT, &vm.init) < 0) {
		/* EIO is "INIT twice": this descriptor, fresh from open(2),
		 * reached an instance someone else had initialised. */
		if (errno == EIO)
			ADD(foreign, 1);
		ADD(ioctl_err[ERRIDX(errno)], 1);
		goto out;
	}
	ADD(ioctls, 1);
	n = (int)(rnd() % 40);
	for (i = 0; i < n; i++) {
		r = rnd() % 16;
		if (r == 0 && fd2 < 0) {
			fd2 = dup(vm.fd);
			if (fd2 >= 0)
				ADD(dups, 1);
		} else if (r == 1) {
			pid_t c = fork();

			if (c == 0) {
				struct kqemu_cpu_state cs;

				memset(&cs, 0, sizeof(cs));
				ioctl(vm.fd, KQEMU_IOC_EXEC, &cs);
				if (rnd() & 1)
					close(vm.fd);
				_exit(0);
			}
			if (c > 0) {
				ADD(forks, 1);
				waitpid(c, NULL, 0);
			}
		} else {
			struct kqemu_cpu_state cs;

			memset(&cs, 0, sizeof(cs));
			cs.regs[0] = rnd();
			if (ioctl(fd2 >= 0 && (r & 1) ? fd2 : vm.fd, KQEMU_IOC_EXEC, &cs) < 0)
				ADD(ioctl_err[ERRIDX(errno)], 1);
			else
				ADD(ioctls, 1);
		}
	}
	if (rnd() & 1) {
		if (fd2 >= 0)
			close(fd2);
		close(vm.fd);
		ADD(closes, 1);
	} else {
		ADD(exits_noclose, 1);
	}
out:
	if (slot >= 0)
		sh->slot[slot] = 0;
	_exit(0);
}

static void
worker(int w)
{
	rnd_seed((unsigned long)w * 7919 + 1);
	while (!sh->stop) {
		pid_t s;

		if (sh->pause) {
			sleep_ms(5);
			continue;
		}
		s = fork();
		if (s == 0)
			session(w);
		if (s < 0) {
			sleep_ms(5);
			continue;
		}
		ADD(sessions, 1);
		waitpid(s, NULL, 0);
		if (rnd() % 4 == 0)
			sleep_ms((long)(rnd() % 3));
	}
	_exit(0);
}

static void
killer(void)
{
	rnd_seed(12345);
	while (!sh->stop) {
		int i = (int)(rnd() % NSLOT), pid = sh->slot[i];

		if (pid > 0 && kill(pid, SIGKILL) == 0)
			ADD(kills, 1);
		sleep_ms(2 + (long)(rnd() % 10));
	}
	_exit(0);
}

static int
reload(void)
{
	if (kqt_load("kqemu_clone") > 0) {
		ADD(reload_ok, 1);
		return (0);
	}
	ADD(reload_err[ERRIDX(errno)], 1);
	return (-1);
}

static void
unloader(void)
{
	long next_quiet = now_ms() + 300;
	int loaded = 1;

	while (!sh->stop) {
		int quiet = 0;

		if (!loaded) {
			loaded = reload() == 0;
			sleep_ms(1);
			continue;
		}
		if (now_ms() >= next_quiet) {
			long deadline;

			quiet = 1;
			sh->pause = 1;
			deadline = now_ms() + 2000;
			while (stat_of("debug.kqemu_clone.live") != 0 && now_ms() < deadline)
				sleep_ms(5);
			next_quiet = now_ms() + 300;
		}
		ADD(unload_try, 1);
		if (kqt_unload("kqemu_clone") == 0) {
			ADD(unload_ok, 1);
			if (!quiet)
				ADD(unload_ok_racy, 1);
			loaded = reload() == 0;
		} else if (errno == EBUSY) {
			ADD(unload_busy, 1);
		} else {
			ADD(unload_other, 1);
		}
		sh->pause = 0;
		sleep_ms(quiet ? 1 : (long)(rnd() % 3));
	}
	/* Leave the shim loaded for the checks that follow. */
	while (!kqt_loaded("kqemu_clone") && reload() < 0)
		sleep_ms(10);
	_exit(0);
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

static void
print_errs(const char *what, const long *v)
{
	char buf[300];
	int i, n = 0;

	buf[0] = 0;
	for (i = 0; i < 100; i++)
		if (v[i] != 0)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, " %s=%ld",
			    strerror(i), v[i]);
	printf("stress: %s errnos:%s\n", what, n ? buf : " none");
}

static const char *
race(void)
{
	pid_t pids[NWORK + 2];
	int i, st;
	long t0;

	sh = mmap(NULL, 4096 * 4, PROT_READ | PROT_WRITE, MAP_ANON | MAP_SHARED, -1, 0);
	CHECK(sh != MAP_FAILED, "mmap shared: %s", strerror(errno));
	memset(sh, 0, sizeof(*sh));
	if (!kqt_loaded("kqemu"))
		CHECK(kqt_load("kqemu") > 0, "kldload kqemu: %s", strerror(errno));
	if (!kqt_loaded("kqemu_clone"))
		CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s", strerror(errno));
	i = kqt_wait_node(DEV, O_RDWR, 3000);
	CHECK(i >= 0, "open: %s", strerror(errno));
	close(i);
	t0 = now_ms();
	for (i = 0; i < NWORK + 2; i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0, "fork: %s", strerror(errno));
		if (pids[i] == 0) {
			if (i < NWORK)
				worker(i);
			else if (i == NWORK)
				killer();
			else
				unloader();
		}
	}
	{
		char ms[16];
		long run = RUN_MS;

		if (kenv_get("kqtest.stress_ms", ms, sizeof(ms)) > 0 && atol(ms) > 0)
			run = atol(ms);
		sleep_ms(run);
	}
	sh->stop = 1;
	for (i = 0; i < NWORK + 2; i++)
		waitpid(pids[i], &st, 0);
	printf("stress: %s mode, %ld ms: sessions %ld opens %ld ioctls %ld dups %ld forks %ld "
	    "closes %ld exits-without-close %ld kills %ld\n", mode, now_ms() - t0,
	    sh->sessions, sh->opens, sh->ioctls, sh->dups, sh->forks, sh->closes,
	    sh->exits_noclose, sh->kills);
	printf("stress: kldunload(kqemu_clone) attempts %ld succeeded %ld (with workers "
	    "running %ld) busy %ld other %ld; reloads %ld\n", sh->unload_try, sh->unload_ok,
	    sh->unload_ok_racy, sh->unload_busy, sh->unload_other, sh->reload_ok);
	print_errs("open", sh->open_err);
	print_errs("ioctl", sh->ioctl_err);
	print_errs("reload", sh->reload_err);
	CHECK(sh->opens > 50 && sh->ioctls > 200, "too little work: %ld opens %ld ioctls",
	    sh->opens, sh->ioctls);
	CHECK(sh->foreign == 0, "%ld fresh opens reached an instance another open had "
	    "initialised (first INIT -> EIO)", sh->foreign);
	CHECK(sh->kills > 0, "the killer never hit a session");
	if (is_proc())	/* never unloaded while the system runs (its exit hook) */
		CHECK(sh->unload_ok == 0, "a proc mode kqemu_clone was unloaded %ld times",
		    sh->unload_ok);
	else
		CHECK(sh->unload_ok > 0, "kldunload(kqemu_clone) never succeeded: the unload "
		    "race was not reached (%ld attempts, %ld EBUSY)", sh->unload_try,
		    sh->unload_busy);
	CHECK(sh->unload_busy > 0, "kldunload(kqemu_clone) was never refused: no clone was live");
	CHECK(sh->unload_other == 0, "kldunload(kqemu_clone) failed with another errno %ld times",
	    sh->unload_other);
	return (NULL);
}

/*
 * Opens racing the unload itself: openers open and close as fast as they
 * can (clones live only a moment, so kldunload(kqemu_clone) often finds
 * none and proceeds) while the unloader unloads and reloads back to back.
 * An open that read /dev/kqemu's ops before the detach restored them enters
 * the shim while it is being torn down: this is where a detach that frees
 * the shim before unpublishing it is caught (an INVARIANTS kernel panics in
 * kmalloc on the corrupted slab, or on the freed record).
 */
/* One open, maybe a GET_VERSION, one close. */
static void
open_round(void)
{
	int fd = open(DEV, O_RDWR);

	if (fd < 0) {
		ADD(open_err[ERRIDX(errno)], 1);
		return;
	}
	ADD(opens, 1);
	if (rnd() & 1) {
		int v;

		if (ioctl(fd, KQEMU_IOC_GET_VERSION, &v) == 0)
			ADD(ioctls, 1);
		else
			ADD(ioctl_err[ERRIDX(errno)], 1);
	}
	close(fd);
}

static void
opener(int w)
{
	rnd_seed((unsigned long)w * 31 + 7);
	while (!sh->stop) {
		pid_t c;

		if (!is_proc()) {
			open_round();
			continue;
		}
		/* proc mode keeps a process's clone until the device's last
		 * close or the process's exit, and refuses its second open
		 * meanwhile: one open per process there, as QEMU does. */
		c = fork();
		if (c == 0) {
			open_round();
			_exit(0);
		}
		if (c > 0)
			waitpid(c, NULL, 0);
	}
	_exit(0);
}

static void
tight_unloader(void)
{
	while (!sh->stop) {
		ADD(unload_try, 1);
		if (kqt_unload("kqemu_clone") == 0) {
			ADD(unload_ok, 1);
			while (reload() < 0 && !sh->stop)
				sleep_ms(1);
		} else if (errno == EBUSY) {
			ADD(unload_busy, 1);
		} else {
			ADD(unload_other, 1);
		}
	}
	while (!kqt_loaded("kqemu_clone") && reload() < 0)
		sleep_ms(10);
	_exit(0);
}

static const char *
open_vs_unload(void)
{
	pid_t pids[5];
	int i, st;
	long run = 6000;
	char ms[16];

	sh = mmap(NULL, 4096 * 4, PROT_READ | PROT_WRITE, MAP_ANON | MAP_SHARED, -1, 0);
	CHECK(sh != MAP_FAILED, "mmap shared: %s", strerror(errno));
	memset(sh, 0, sizeof(*sh));
	if (!kqt_loaded("kqemu"))
		CHECK(kqt_load("kqemu") > 0, "kldload kqemu: %s", strerror(errno));
	if (!kqt_loaded("kqemu_clone"))
		CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s", strerror(errno));
	if (kenv_get("kqtest.stress_ms", ms, sizeof(ms)) > 0 && atol(ms) > 0)
		run = atol(ms);
	for (i = 0; i < 5; i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0, "fork: %s", strerror(errno));
		if (pids[i] == 0) {
			if (i < 4)
				opener(i);
			tight_unloader();
		}
	}
	sleep_ms(run);
	sh->stop = 1;
	for (i = 0; i < 5; i++)
		waitpid(pids[i], &st, 0);
	printf("stress: open vs unload, %s mode: opens %ld ioctls %ld; kldunload attempts %ld "
	    "succeeded %ld busy %ld other %ld; reloads %ld\n", mode, sh->opens, sh->ioctls,
	    sh->unload_try, sh->unload_ok, sh->unload_busy, sh->unload_other, sh->reload_ok);
	print_errs("open", sh->open_err);
	print_errs("ioctl", sh->ioctl_err);
	if (is_proc())
		CHECK(sh->unload_ok == 0, "a proc mode kqemu_clone was unloaded %ld times",
		    sh->unload_ok);
	else
		CHECK(sh->unload_ok > 0, "kldunload(kqemu_clone) never succeeded while opens "
		    "ran");
	CHECK(sh->opens > 0, "no open succeeded");
	CHECK(sh->unload_other == 0, "kldunload failed with another errno %ld times",
	    sh->unload_other);
	return (NULL);
}

static const char *
clean_after(void)
{
	long v;
	int fd, i;

	if (!kqt_loaded("kqemu_clone"))
		CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s", strerror(errno));
	for (i = 0; i < 300 && stat_of("debug.kqemu_clone.live") != 0; i++)
		sleep_ms(10);
	if ((v = stat_of("debug.kqemu_clone.live")) < 0) {
		/* 5.8's kldload returns 0 even when MOD_LOAD fails (it only
		 * prints the error): the file is loaded, the shim is not. */
		char list[400] = { 0 };
		size_t len = sizeof(list) - 1;

		sysctlbyname("hw.kqemu.list", list, &len, NULL, 0);
		if (strchr(list, '\n') != NULL)
			*strchr(list, '\n') = 0;
		return t_fail("kqemu_clone.ko is loaded but its shim is not attached "
		    "(MOD_LOAD failed); hw.kqemu.list: %s", list[0] ? list : "(empty)");
	}
	CHECK(v == 0, "%ld clones left after the run", v);
	if (is_proc()) {
		/* Stays while the system runs (its exit hook), and clones. */
		CHECK_ERR(kqt_unload("kqemu_clone"), EBUSY, "kldunload of a proc mode "
		    "kqemu_clone");
		CHECK(kqt_loaded("kqemu_clone"), "proc mode kqemu_clone went away");
		fd = kqt_wait_node(DEV, O_RDWR, 3000);
		CHECK(fd >= 0, "open after the refused unload: %s", strerror(errno));
		CHECK(ioctl(fd, KQEMU_IOC_GET_VERSION, &(int){ 0 }) == 0, "GET_VERSION: %s",
		    strerror(errno));
		close(fd);
		CHECK((v = stat_of("hw.kqemu.instances")) == 1,
		    "%ld kqemu instances with no clone open (the held base only: 1)", v);
		return (NULL);
	}
	CHECK(kqt_unload("kqemu_clone") == 0, "kldunload kqemu_clone: %s", strerror(errno));
	/* Only now: in autoclone mode the shim itself holds the base instance. */
	if (kqt_loaded("kqemu")) {
		if ((v = stat_of("hw.kqemu.instances")) != 0) {
			char list[400] = { 0 };
			size_t len = sizeof(list) - 1;

			sysctlbyname("hw.kqemu.list", list, &len, NULL, 0);
			if (strchr(list, '\n') != NULL)
				*strchr(list, '\n') = 0;
			return t_fail("%ld kqemu instances left with the shim unloaded "
			    "(hw.kqemu.list: %s)", v, list);
		}
		CHECK((v = stat_of("hw.kqemu.locked_pages")) == 0, "%ld locked pages left", v);
	}
	if (kqt_loaded("kqemu"))
		CHECK(kqt_unload("kqemu") == 0 || errno == EBUSY, "kldunload kqemu: %s",
		    strerror(errno));
	/* kqemu had lost its user reference to the unloader's cycles: it left
	 * with the shim, or it is still here held by nobody but the kernel. */
	if (kqt_loaded("kqemu")) {
		fd = kqt_wait_node(DEV, O_RDWR, 3000);
		CHECK(fd >= 0, "kqemu still loaded but /dev/kqemu fails: %s", strerror(errno));
		close(fd);
	} else {
		CHECK(kqt_load("kqemu") > 0, "reload kqemu: %s", strerror(errno));
	}
	CHECK(kqt_load("kqemu_clone") > 0, "reload kqemu_clone: %s", strerror(errno));
	fd = kqt_wait_node(DEV, O_RDWR, 3000);
	CHECK(fd >= 0, "open after reload: %s", strerror(errno));
	{
		int fd2 = is_proc() ? -1 : open(DEV, O_RDWR);

		CHECK(is_proc() || fd2 >= 0, "second open after reload: %s", strerror(errno));
		if (fd2 >= 0)
			close(fd2);
	}
	close(fd);
	for (i = 0; i < 300 && stat_of("debug.kqemu_clone.live") != 0; i++)
		sleep_ms(10);
	CHECK(kqt_unload("kqemu_clone") == 0, "final kldunload kqemu_clone: %s", strerror(errno));
	if (kqt_loaded("kqemu"))
		CHECK(kqt_unload("kqemu") == 0 || errno == EBUSY, "final kldunload kqemu: %s",
		    strerror(errno));
	return (NULL);
}

/*
 * Process exits racing load/unload cycles of the shim.  5.8's exit1()
 * walks the at_exit list with no lock (kern_exit.c: TAILQ_FOREACH over
 * exit_list) while at_exit()/rm_at_exit() insert and kfree entries, also
 * with no lock: a module that registers or removes an exit hook while
 * processes exit on another CPU can make exit1() follow a freed entry.
 * Forkers fork children that exit at once; the cycler loads and unloads
 * kqemu_clone back to back (nothing is open, so every unload succeeds).
 */
static void
forker(void)
{
	while (!sh->stop) {
		pid_t c = fork();

		if (c == 0)
			_exit(0);
		if (c > 0) {
			ADD(forks, 1);
			waitpid(c, NULL, 0);
		}
	}
	_exit(0);
}

static void
cycler(void)
{
	while (!sh->stop) {
		if (kqt_loaded("kqemu_clone")) {
			ADD(unload_try, 1);
			if (kqt_unload("kqemu_clone") == 0)
				ADD(unload_ok, 1);
			else if (errno == EBUSY)
				ADD(unload_busy, 1);
			else
				ADD(unload_other, 1);
		} else {
			reload();
		}
	}
	while (!kqt_loaded("kqemu_clone") && reload() < 0)
		sleep_ms(10);
	_exit(0);
}

static const char *
exit_vs_load_unload(void)
{
	pid_t pids[4];
	int i, st;

	sh = mmap(NULL, 4096 * 4, PROT_READ | PROT_WRITE, MAP_ANON | MAP_SHARED, -1, 0);
	CHECK(sh != MAP_FAILED, "mmap shared: %s", strerror(errno));
	memset(sh, 0, sizeof(*sh));
	if (!kqt_loaded("kqemu"))
		CHECK(kqt_load("kqemu") > 0, "kldload kqemu: %s", strerror(errno));
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0, "fork: %s", strerror(errno));
		if (pids[i] == 0) {
			if (i < 3)
				forker();
			cycler();
		}
	}
	/* 4 s, longer if the machine is slow (a loaded host under TCG): up
	 * to 30 s until there was enough work to mean something. */
	{
		long t0 = now_ms();

		sleep_ms(4000);
		while ((sh->forks <= 100 || (!is_proc() && sh->reload_ok <= 10)) &&
		    now_ms() - t0 < 30000)
			sleep_ms(100);
	}
	sh->stop = 1;
	for (i = 0; i < 4; i++)
		waitpid(pids[i], &st, 0);
	printf("stress: exits vs load/unload, %s mode: exits %ld; kldunload %ld (ok %ld busy %ld "
	    "other %ld); kldload ok %ld\n", mode, sh->forks, sh->unload_try, sh->unload_ok,
	    sh->unload_busy, sh->unload_other, sh->reload_ok);
	print_errs("reload", sh->reload_err);
	if (is_proc())	/* one load, then every unload refused: exits run past the
			 * hook, which is never removed */
		CHECK(sh->forks > 100 && sh->unload_ok == 0, "%ld exits; a proc mode "
		    "kqemu_clone was unloaded %ld times", sh->forks, sh->unload_ok);
	else
		CHECK(sh->forks > 100 && sh->reload_ok > 10, "too little work: %ld exits, "
		    "%ld loads", sh->forks, sh->reload_ok);
	CHECK(sh->unload_other == 0, "kldunload failed with another errno %ld times",
	    sh->unload_other);
	CHECK(kqt_unload("kqemu_clone") == 0 || errno == EBUSY, "final kldunload: %s",
	    strerror(errno));
	return (NULL);
}

/*
 * Loads and unloads while other processes hold the bare /dev/kqemu (opened
 * while kqemu_clone was unloaded, kept across its reload): every load must
 * attach (5.8's kldload returns 0 even when MOD_LOAD fails, leaving the
 * module loaded and inert, and later opens got kqemu's EBUSY), and every
 * open made entirely while kqemu_clone is loaded and attached must clone:
 * it succeeds, never EBUSY.  sh->gen is odd while the shim is loaded and
 * attached; an opener checks only opens that began and ended in the same
 * odd generation.  Each open runs in its own process (proc mode keeps one
 * clone per process until it exits).
 */
static void
bare_holder(int w)
{
	rnd_seed((unsigned long)w * 131 + 3);
	while (!sh->stop) {
		pid_t c = fork();

		if (c == 0) {
			int fd;

			/* Only while kqemu_clone is (being) unloaded: a
			 * clone held here would veto the cycler's unload. */
			while ((sh->gen & 1) != 0 && !sh->stop)
				sleep_ms(1);
			fd = open(DEV, O_RDWR);
			if (fd >= 0 && (sh->gen & 1) == 0 &&
			    !kqt_loaded("kqemu_clone"))
				ADD(bare_holds, 1);
			sleep_ms(5 + (long)(rnd() % 40));
			if (fd >= 0)
				close(fd);
			_exit(0);
		}
		if (c > 0)
			waitpid(c, NULL, 0);
		else
			sleep_ms(5);
	}
	_exit(0);
}

static void
loaded_opener(int w)
{
	rnd_seed((unsigned long)w * 977 + 5);
	while (!sh->stop) {
		pid_t c = fork();

		if (c == 0) {
			long g1 = sh->gen, g2;
			int fd = open(DEV, O_RDWR), e = errno, v;

			g2 = sh->gen;
			if (g1 == g2 && (g1 & 1)) {
				if (fd >= 0)
					ADD(loaded_opens, 1);
				else
					ADD(loaded_open_err[ERRIDX(e)], 1);
			}
			if (fd >= 0) {
				(void)ioctl(fd, KQEMU_IOC_GET_VERSION, &v);
				close(fd);
			}
			_exit(0);
		}
		if (c > 0)
			waitpid(c, NULL, 0);
		else
			sleep_ms(5);
	}
	_exit(0);
}

static void
gen_cycler(void)
{
	while (!sh->stop) {
		long deadline;

		/* Loaded: let the openers work a little. */
		sleep_ms((long)(rnd() % 20));
		__atomic_fetch_add(&sh->gen, 1, __ATOMIC_SEQ_CST);	/* even */
		ADD(unload_try, 1);
		deadline = now_ms() + 2000;
		while (kqt_unload("kqemu_clone") != 0) {
			if (errno != EBUSY) {
				ADD(unload_other, 1);
				break;
			}
			ADD(unload_busy, 1);
			if (now_ms() > deadline || sh->stop)
				break;
			sleep_ms(1);
		}
		if (!kqt_loaded("kqemu_clone"))
			ADD(unload_ok, 1);
		/* Unloaded: the holders open the bare device. */
		sleep_ms(5 + (long)(rnd() % 30));
		if (!kqt_loaded("kqemu_clone") && reload() < 0) {
			sleep_ms(5);
			continue;
		}
		if (stat_of("debug.kqemu_clone.live") < 0) {
			ADD(inert_loads, 1);
			continue;	/* stays even: nothing is checked */
		}
		__atomic_fetch_add(&sh->gen, 1, __ATOMIC_SEQ_CST);	/* odd */
	}
	while (!kqt_loaded("kqemu_clone") && reload() < 0)
		sleep_ms(10);
	_exit(0);
}

static const char *
bare_holders_vs_reload(void)
{
	pid_t pids[5];
	int i, st;
	long run = 6000;
	char ms[16];

	if (is_proc())
		return t_skip("a proc mode kqemu_clone is never unloaded while the "
		    "system runs (the host kernel covers its load over an open "
		    "device: attach__while_device_open)");
	sh = mmap(NULL, 4096 * 4, PROT_READ | PROT_WRITE, MAP_ANON | MAP_SHARED, -1, 0);
	CHECK(sh != MAP_FAILED, "mmap shared: %s", strerror(errno));
	memset(sh, 0, sizeof(*sh));
	if (!kqt_loaded("kqemu"))
		CHECK(kqt_load("kqemu") > 0, "kldload kqemu: %s", strerror(errno));
	if (!kqt_loaded("kqemu_clone"))
		CHECK(kqt_load("kqemu_clone") > 0, "kldload kqemu_clone: %s", strerror(errno));
	CHECK(stat_of("debug.kqemu_clone.live") >= 0, "kqemu_clone is not attached");
	sh->gen = 1;
	if (kenv_get("kqtest.stress_ms", ms, sizeof(ms)) > 0 && atol(ms) > 0)
		run = atol(ms);
	for (i = 0; i < 5; i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0, "fork: %s", strerror(errno));
		if (pids[i] == 0) {
			if (i < 2)
				bare_holder(i);
			else if (i < 4)
				loaded_opener(i);
			gen_cycler();
		}
	}
	{
		long t0 = now_ms();

		sleep_ms(run);
		/* Longer on a slow machine, until there was enough work. */
		while ((sh->reload_ok < 8 || sh->loaded_opens < 20 ||
		    sh->bare_holds == 0) && now_ms() - t0 < 20000)
			sleep_ms(100);
	}
	sh->stop = 1;
	for (i = 0; i < 5; i++)
		waitpid(pids[i], &st, 0);
	printf("stress: bare holders vs load/unload, %s mode: loads %ld (inert %ld), "
	    "bare holds %ld, opens while loaded %ld; kldunload %ld (ok %ld busy %ld "
	    "other %ld)\n", mode, sh->reload_ok, sh->inert_loads, sh->bare_holds,
	    sh->loaded_opens, sh->unload_try, sh->unload_ok, sh->unload_busy,
	    sh->unload_other);
	print_errs("open while loaded", sh->loaded_open_err);
	print_errs("reload", sh->reload_err);
	CHECK(sh->inert_loads == 0, "%ld of %ld loads of kqemu_clone left it loaded but "
	    "not attached", sh->inert_loads, sh->reload_ok);
	CHECK(sh->loaded_open_err[EBUSY] == 0, "%ld opens made while kqemu_clone was "
	    "loaded got EBUSY (%ld succeeded)", sh->loaded_open_err[EBUSY],
	    sh->loaded_opens);
	for (i = 0; i < 100; i++)
		CHECK(sh->loaded_open_err[i] == 0, "%ld opens made while kqemu_clone was "
		    "loaded failed: %s", sh->loaded_open_err[i], strerror(i));
	CHECK(sh->reload_ok >= 8 && sh->loaded_opens >= 20 && sh->bare_holds > 0,
	    "too little work: %ld loads, %ld opens while loaded, %ld bare holds",
	    sh->reload_ok, sh->loaded_opens, sh->bare_holds);
	CHECK(sh->unload_other == 0, "kldunload failed with another errno %ld times",
	    sh->unload_other);
	return (NULL);
}

static const struct kqt_case stress_cases[] = {
	{ "race__open_ioctl_fork_kill_unload", race, 900 },
	{ "race__open_close_vs_unload_reload", open_vs_unload, 900 },
	{ "race__bare_holders_vs_load_unload", bare_holders_vs_reload, 120 },
	{ "after__unload_reload_nothing_left", clean_after, 0 },
	{ "race__exit_vs_load_unload", exit_vs_load_unload, 120 },
	{ NULL, NULL, 0 },
};
const struct kqt_suite suite_stress = { "stress", setup, NULL, stress_cases };
