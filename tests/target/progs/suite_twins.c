/*
 * suite_twins.c: the host kernel's semantics, measured on the real kernel.
 *
 * Each case is the twin of the host-kernel test of the same name in
 * tests/hostkern/ (descrip_test, devfs_test, exit_test, clone_test): the
 * same scenario with the semcount test KLD (tests/kmod/semcount), asserting
 * the same counter values (sysctl debug.semcount.*).  A mismatch means the
 * host kernel models DragonFly wrongly.  semcount's loader tunables are set
 * with kenv(2) before each kldload (TUNABLE_INT reads them at MOD_LOAD), and
 * every case loads a fresh semcount, so its counters start at zero.
 */
#include "kqt.h"

#define TC	"/dev/semcount_tc"
#define PLAIN	"/dev/semcount"
#define CLONE	"/dev/semclone"

static const char *
setup(void)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/semcount.ko", kqt_module_dir());
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return ("semcount.ko is not in the image (build it: make kbuild-dfly)");
	close(fd);
	return (NULL);
}

static long
sc(const char *name)
{
	char full[96];
	long v = -1;

	snprintf(full, sizeof(full), "debug.semcount.%s", name);
	if (sysctl_int(full, &v) < 0)
		return (-1);
	return (v);
}

#define CHECK_SC(name, want) do {					\
	long _v = sc(name);						\
	if (_v != (want))						\
		return t_fail("debug.semcount.%s = %ld, the host kernel says %ld", \
		    (name), _v, (long)(want));				\
} while (0)

/* Is word one of the comma-separated words of list? */
static int
has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	while (*list) {
		if (strncmp(list, word, n) == 0 && (list[n] == ',' || list[n] == 0))
			return (1);
		list = strchr(list, ',');
		if (list == NULL)
			return (0);
		list++;
	}
	return (0);
}

/* Fresh semcount with these tunables ("a=1,b=1" style list, or ""). */
static const char *
load(const char *tunables)
{
	static const char *const names[] = { "semcount.cdevpriv",
	    "semcount.fail_open", "semcount.clone" };
	unsigned int i;

	for (i = 0; i < 3; i++)
		kenv_unset(names[i]);
	for (i = 0; i < 3; i++)
		if (has_word(tunables, names[i] + 9))
			CHECK_OK(kenv_set(names[i], "1"), "kenv set");
	if (kqt_loaded("semcount"))
		CHECK_OK(kqt_unload("semcount"), "kldunload stale semcount");
	CHECK(kqt_load("semcount") > 0, "kldload semcount: %s", strerror(errno));
	return (NULL);
}

static const char *
unload(void)
{
	CHECK(kqt_unload("semcount") == 0, "kldunload semcount: %s", strerror(errno));
	return (NULL);
}

#define LOAD(t) do { const char *_r = load(t); if (_r) return (_r); } while (0)
#define UNLOAD() do { const char *_r = unload(); if (_r) return (_r); } while (0)

static int
xopen(const char *path, int flags)
{
	return (kqt_wait_node(path, flags, 3000));
}

/* Waits for a devfs node to appear (want 1) or vanish (want 0). */
static int
node_is(const char *path, int want)
{
	long deadline = now_ms() + 3000;

	for (;;) {
		int has = access(path, F_OK) == 0;

		if (has == want)
			return (1);
		if (now_ms() > deadline)
			return (0);
		sleep_ms(10);
	}
}

static const char *
trackclose_once_per_description(void)
{
	int a, b, d;

	LOAD("");
	a = xopen(TC, O_RDWR);
	b = xopen(TC, O_RDWR);
	CHECK(a >= 0 && b >= 0, "open: %s", strerror(errno));
	d = dup(a);
	CHECK_OK(close(a), "close a");
	CHECK_SC("closes_tc", 0);
	CHECK_OK(close(d), "close d");
	CHECK_SC("closes_tc", 1);
	CHECK_OK(close(b), "close b");
	CHECK_SC("closes_tc", 2);
	CHECK_SC("closes_fp", 2);
	UNLOAD();
	return (NULL);
}

static const char *
plain_last_close_only(void)
{
	int a, b;

	LOAD("");
	a = xopen(PLAIN, O_RDWR);
	b = xopen(PLAIN, O_RDONLY);
	CHECK(a >= 0 && b >= 0, "open: %s", strerror(errno));
	CHECK_SC("opens", 2);
	CHECK_OK(close(a), "close a");
	CHECK_SC("closes", 0);
	CHECK_OK(close(b), "close b");
	CHECK_SC("closes", 1);
	UNLOAD();
	return (NULL);
}

static const char *
child_close_not_last(void)
{
	int fd, st, p[2];
	pid_t pid;
	char c;

	LOAD("");
	fd = xopen(TC, O_RDWR);
	CHECK(fd >= 0, "open: %s", strerror(errno));
	CHECK_OK(pipe(p), "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(fd);
		write(p[1], "c", 1);
		_exit(0);
	}
	CHECK_SC("forks", 1);
	CHECK(read(p[0], &c, 1) == 1, "child");
	waitpid(pid, &st, 0);
	CHECK_SC("closes_tc", 0);
	CHECK_OK(close(fd), "close");
	CHECK_SC("closes_tc", 1);
	UNLOAD();
	return (NULL);
}

static const char *
a_fp_modern(void)
{
	int fd;

	LOAD("");
	fd = xopen(TC, O_RDWR);
	CHECK(fd >= 0, "open: %s", strerror(errno));
	CHECK_OK(close(fd), "close");
	CHECK_SC("opens_fp", 1);
	CHECK_SC("closes_fp", 1);
	CHECK_SC("closes_nofp", 0);
	UNLOAD();
	return (NULL);
}

static const char *
dtor_after_close_on_last_fdrop(void)
{
	int fd, d;

	LOAD("cdevpriv");
	fd = xopen(TC, O_RDWR);
	CHECK(fd >= 0, "open: %s", strerror(errno));
	CHECK_SC("privs", 1);
	d = dup(fd);
	CHECK_OK(close(fd), "close");
	CHECK_SC("dtors", 0);
	CHECK_OK(close(d), "close dup");
	CHECK_SC("dtors", 1);
	CHECK_SC("dtor_after_close", 1);
	UNLOAD();
	return (NULL);
}

static const char *
dtor_not_run_on_failed_open(void)
{
	LOAD("cdevpriv,fail_open");
	/* The node appears asynchronously; EIO only once it is there. */
	CHECK(node_is(TC, 1), "%s never appeared", TC);
	CHECK_ERR(open(TC, O_RDWR), EIO, "open with fail_open");
	CHECK_SC("privs", 1);
	CHECK_SC("dtors", 0);
	CHECK_SC("closes_tc", 0);
	/* 5.8 leaks the record (no destructor): the unload reports it. */
	UNLOAD();
	kenv_unset("semcount.cdevpriv");
	kenv_unset("semcount.fail_open");
	return (NULL);
}

static int
h_open_exit(void *arg)
{
	(void)arg;
	return (xopen(TC, O_RDWR) >= 0 ? 0 : 1);
}

static const char *
at_exit_before_files_close(void)
{
	int st = 0;

	LOAD("");
	CHECK(node_is(TC, 1), "no node");
	CHECK(kqt_run_child(h_open_exit, NULL, 10, &st) == 0, "child hung");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %#x", st);
	CHECK_SC("exits", 1);
	CHECK_SC("exits_open", 1);
	CHECK_SC("closes_tc", 1);
	UNLOAD();
	return (NULL);
}

static const char *
fork_shared_closed_by_last_exit(void)
{
	int up[2], down[2], st;
	pid_t p;
	char c;

	LOAD("");
	CHECK(node_is(TC, 1), "no node");
	CHECK_OK(pipe(up), "pipe");
	CHECK_OK(pipe(down), "pipe");
	p = fork();
	CHECK(p >= 0, "fork");
	if (p == 0) {
		/* P: open, fork C, exit; C waits for the word. */
		pid_t cpid;

		if (xopen(TC, O_RDWR) < 0)
			_exit(1);
		cpid = fork();
		if (cpid == 0) {
			write(up[1], "c", 1);
			read(down[0], &c, 1);
			_exit(0);
		}
		_exit(cpid > 0 ? 0 : 2);
	}
	CHECK(read(up[0], &c, 1) == 1, "grandchild");
	waitpid(p, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "P: %#x", st);
	CHECK_SC("closes_tc", 0);
	write(down[1], "x", 1);
	/* C is not our child: wait for its close through the counter. */
	{
		long deadline = now_ms() + 3000;

		while (sc("exits") < 2 && now_ms() < deadline)
			sleep_ms(5);
		while (sc("closes_tc") < 1 && now_ms() < deadline)
			sleep_ms(5);
	}
	CHECK_SC("closes_tc", 1);
	CHECK_SC("exits", 2);
	UNLOAD();
	return (NULL);
}

static const char *
sigkill_reclaims(void)
{
	int p[2], st;
	pid_t pid;
	char c;

	LOAD("");
	CHECK(node_is(PLAIN, 1), "no node");
	CHECK_OK(pipe(p), "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		xopen(PLAIN, O_RDWR);
		xopen(PLAIN, O_RDWR);
		write(p[1], "o", 1);
		for (;;)
			sleep_ms(1000);
	}
	CHECK(read(p[0], &c, 1) == 1, "child");
	CHECK_OK(kill(pid, SIGKILL), "kill");
	waitpid(pid, &st, 0);
	CHECK(WIFSIGNALED(st), "child status %#x", st);
	CHECK_SC("closes", 1);
	CHECK_SC("exits", 1);
	UNLOAD();
	return (NULL);
}

static const char *
clone_node_per_open(void)
{
	int a, b, c;

	LOAD("clone");
	a = xopen(CLONE, O_RDWR);
	b = xopen(CLONE, O_RDWR);
	CHECK(a >= 0 && b >= 0, "open: %s", strerror(errno));
	CHECK_SC("clones", 2);
	CHECK(node_is("/dev/semclone0", 1), "no semclone0");
	CHECK(node_is("/dev/semclone1", 1), "no semclone1");
	CHECK_OK(close(a), "close a");
	CHECK(node_is("/dev/semclone0", 0), "semclone0 stays after its close");
	CHECK(node_is("/dev/semclone1", 1), "semclone1 went away");
	c = xopen(CLONE, O_RDWR);
	CHECK(c >= 0, "open: %s", strerror(errno));
	CHECK(node_is("/dev/semclone0", 1), "unit 0 not reused");
	close(b);
	close(c);
	CHECK(node_is("/dev/semclone0", 0), "semclone0 stays");
	CHECK_SC("clones_live", 0);
	CHECK(node_is(CLONE, 1), "the base node went away");
	UNLOAD();
	kenv_unset("semcount.clone");
	return (NULL);
}

static const char *
clone_dup_fork_share(void)
{
	int fd, d, p[2], q[2], st;
	pid_t pid;
	char c;

	LOAD("clone");
	fd = xopen(CLONE, O_RDWR);
	CHECK(fd >= 0, "open: %s", strerror(errno));
	d = dup(fd);
	CHECK_OK(pipe(p), "pipe");
	CHECK_OK(pipe(q), "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		write(p[1], "r", 1);
		read(q[0], &c, 1);
		_exit(0);
	}
	CHECK(read(p[0], &c, 1) == 1, "child");
	CHECK_OK(close(fd), "close");
	CHECK_OK(close(d), "close dup");
	CHECK_SC("clone_closes", 0);
	write(q[1], "x", 1);
	waitpid(pid, &st, 0);
	CHECK_SC("clone_closes", 1);
	CHECK_SC("clones", 1);
	UNLOAD();
	kenv_unset("semcount.clone");
	return (NULL);
}

static const char *
clone_by_name_plain(void)
{
	int a;

	LOAD("clone");
	a = xopen(CLONE, O_RDWR);
	CHECK(a >= 0, "open: %s", strerror(errno));
	CHECK(node_is("/dev/semclone0", 1), "no semclone0");
	CHECK_ERR(open("/dev/semclone0", O_RDWR), EBUSY, "open semclone0 by name");
	CHECK_SC("clones", 1);
	close(a);
	CHECK(node_is("/dev/semclone0", 0), "semclone0 stays");
	UNLOAD();
	kenv_unset("semcount.clone");
	return (NULL);
}

static const struct kqt_case twins_cases[] = {
	{ "devfs_spec_close__trackclose_once_per_description", trackclose_once_per_description, 0 },
	{ "devfs_spec_close__plain_last_close_only", plain_last_close_only, 0 },
	{ "fdcopy__child_close_not_last", child_close_not_last, 0 },
	{ "dev_dopen__a_fp_modern", a_fp_modern, 0 },
	{ "cdevpriv__dtor_after_close_on_last_fdrop", dtor_after_close_on_last_fdrop, 0 },
	{ "cdevpriv__dtor_not_run_on_failed_open", dtor_not_run_on_failed_open, 0 },
	{ "exit1__at_exit_before_files_close", at_exit_before_files_close, 0 },
	{ "exit1__fork_shared_file_closed_by_last_exit", fork_shared_closed_by_last_exit, 0 },
	{ "kill__sigkill_reclaims", sigkill_reclaims, 0 },
	{ "devfs_clone__node_per_open_destroyed_on_close", clone_node_per_open, 0 },
	{ "devfs_clone__dup_fork_share_one_clone", clone_dup_fork_share, 0 },
	{ "devfs_clone__by_name_is_plain_open", clone_by_name_plain, 0 },
	{ NULL, NULL, 0 },
};
const struct kqt_suite suite_twins = { "twins", setup, NULL, twins_cases };
