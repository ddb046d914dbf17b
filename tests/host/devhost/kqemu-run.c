/*
 * kqemu-run.c - a qemu-like client of /dev/kqemu for real processes.
 *
 * Does what QEMU 0.10 does with the device, in its order, through the
 * sequence library tests/kqemu/qemu_seq (shared with the host-kernel tests):
 * open O_RDWR, GET_VERSION (must equal KQEMU_VERSION), page-aligned RAM and
 * page arrays, INIT, SET_PHYS_MEM for a PC map (RAM, ROMs, COMM page), an
 * EXEC loop that checks the CPU state comes back unchanged apart from the
 * exit reason and the consumed counters, MODIFY_RAM_PAGES whenever its
 * 512-entry table fills, and then no close: exit does it (like QEMU).  The
 * ioctls go out in the Linux encoding (KQEMU_IOC_SWAP_DIR of the BSD word);
 * devhost translates them back.
 *
 * Prints one status line:
 *   pid 1234  fd 3  clone kqemu2  ram 4M  ioctls 57  result ok
 * "clone" is what devhost's /.files says the open created ("-" when the
 * clone has no devfs node, "?" when the device is not served by devhost).
 * "result" is ok or the errno name of the first failing step.  Exit status:
 * 0 when the result is the expected one (--expect, default ok), else 1.
 *
 * Options for the tests make it hold the instance (--wait-file, --sleep),
 * take SIGALRMs during EXEC (--alarm-us), pass a bad INIT pointer
 * (--bad-init), fork children that close or keep the file (--fork-child,
 * --orphan-child), run in a second thread (--thread) or send one raw
 * ioctl (--ioctl).
 *
 * Threads: one runs the sequence (the main one, or a second with
 * --thread); signal handlers only set flags.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kqemu.h"
#include "qemu_seq.h"

static struct {
	const char *dev;
	const char *ctl;
	unsigned long ram_mb;
	long execs;
	bool do_close;
	bool sleep_after;
	const char *wait_file;
	long alarm_us;
	bool bad_init;
	bool fork_child;
	bool orphan_child;
	bool in_thread;			/* --thread: run in a second thread */
	bool child_exec;		/* --child-exec */
	const char *expect;
	bool quiet;
	bool wait_sigusr1;
	unsigned long raw_cmd;		/* --ioctl: one raw command, no sequence */
} opt = { .dev = KQEMU_DEVICE_PATH, .ram_mb = 4, .execs = 100,
	  .expect = "ok" };

static volatile sig_atomic_t g_alarms;
static volatile sig_atomic_t g_go;
static long g_ioctls;
static long g_intr, g_softmmu, g_eintr;
static char g_step[64] = "";

static void
on_alarm(int sig)
{
	(void)sig;
	g_alarms++;
}

static void
on_usr1(int sig)
{
	(void)sig;
	g_go = 1;
}

static int g_fd = -1;
static bool g_is_orphan;		/* --orphan-child: we are the child */
static int g_hostpid = -1;		/* devhost: host pid owning our file */
static char g_child_res[32];		/* --child-exec: what the child got */
static struct kqs_vm g_vm;	/* lives until exit, as QEMU's RAM does */

/* qemu_seq's ioctl callback: BSD command words, sent the Linux way. */
static int
real_ioctl(void *ctx, unsigned long bsd_cmd, void *arg)
{
	(void)ctx;
	g_ioctls++;
	if (ioctl(g_fd, KQEMU_IOC_SWAP_DIR((unsigned int)bsd_cmd), arg) < 0)
		return (errno);
	return (0);
}

static void *
page_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return (p == MAP_FAILED ? NULL : p);
}

/*
 * devhost's line for the file opened by process `pid` (its /.files: pid
 * hostpid fd node clone ioctls): the clone node and the host-kernel pid
 * that owns the file now.  0, or -1 when not served by devhost.
 */
static int
devhost_file(pid_t pid, char *clone, size_t clonelen, int *hostpid)
{
	char path[PATH_MAX], dir[PATH_MAX], line[512], node[128], cl[128];
	int p, hpid, hfd, i, found = -1;
	unsigned long ioc;
	char *d;
	FILE *f = NULL;

	snprintf(dir, sizeof(dir), "%s", opt.dev);
	d = dirname(dir);
	for (i = 0; i < 3 && f == NULL; i++) {
		if (i == 0 && opt.ctl == NULL)
			continue;
		snprintf(path, sizeof(path), i == 0 ? "%s/.files" :
		    i == 1 ? "%s/.files" : "%s/.devhost/.files",
		    i == 0 ? opt.ctl : d);
		f = fopen(path, "re");
	}
	if (f == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%d %d %d %127s %127s %lu", &p, &hpid, &hfd,
		    node, cl, &ioc) == 6 && p == (int)pid) {
			if (clone != NULL)
				snprintf(clone, clonelen, "%s", cl);
			if (hostpid != NULL)
				*hostpid = hpid;
			found = 0;
			break;
		}
	}
	fclose(f);
	return (found);
}

#define FAIL(stepname, err) do {					\
	snprintf(g_step, sizeof(g_step), "%s", (stepname));		\
	return (err);							\
} while (0)

static int
run_sequence(char *clone, size_t clonelen)
{
	struct kqs_vm *vmp = &g_vm;
	int version = 0, error, rv, modify_calls = 0;
	unsigned int seed = (unsigned int)getpid() * 100003U;
	long i;

	g_fd = open(opt.dev, O_RDWR);
	if (g_fd < 0)
		FAIL("open", errno);
	if (devhost_file(getpid(), clone, clonelen, &g_hostpid) != 0)
		snprintf(clone, clonelen, "?");
	if (opt.raw_cmd != 0) {
		/* Room for the largest restricted FUSE ioctl (16383 bytes). */
		static unsigned char raw[16384];

		g_ioctls++;
		if (ioctl(g_fd, opt.raw_cmd, raw) < 0)
			FAIL("ioctl", errno);
		return (0);
	}

	error = kqs_vm_alloc(vmp, opt.ram_mb << 20);
	if (error != 0)
		FAIL("RAM", error);
	error = kqs_get_version(real_ioctl, NULL, vmp, &version);
	if (error != 0)
		FAIL("GET_VERSION", error);
	if (version != KQEMU_VERSION) {
		snprintf(g_step, sizeof(g_step), "version 0x%x", version);
		return (EPROTO);
	}
	if (opt.bad_init) {
		/* A page-aligned address that is not mapped in this process. */
		void *hole = page_alloc(KQEMU_PAGE_SIZE);

		munmap(hole, KQEMU_PAGE_SIZE);
		vmp->pages_to_flush = hole;
	}
	error = kqs_init(real_ioctl, NULL, vmp);
	if (error != 0)
		FAIL("INIT", error);

	if (opt.fork_child) {
		/* Like QEMU's tap script: forked children close their copy,
		 * one after exec, one without. */
		pid_t c = fork();
		int status;

		if (c == 0) {
			char script[64];

			snprintf(script, sizeof(script), "exec %d>&-", g_fd);
			execlp("sh", "sh", "-c", script, (char *)NULL);
			_exit(127);
		}
		if (c < 0 || waitpid(c, &status, 0) != c ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			FAIL("fork child", ECHILD);
		c = fork();
		if (c == 0)
			_exit(close(g_fd) == 0 ? 0 : 1);
		if (c < 0 || waitpid(c, &status, 0) != c ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			FAIL("fork child", ECHILD);
	}

	/* QEMU only prints SET_PHYS_MEM refusals; we insist. */
	if (kqs_map_pc(real_ioctl, NULL, vmp) != 0)
		FAIL("SET_PHYS_MEM", EINVAL);

	if (opt.child_exec) {
		/*
		 * A forked child runs one EXEC on the inherited file (shared
		 * instance; DragonFly's proc mode refuses it with ENXIO), and
		 * reports through its exit status.
		 */
		pid_t c = fork();
		int status, rv, mc = 0;

		if (c == 0) {
			error = kqs_exec_once(real_ioctl, NULL, vmp, seed, &rv, &mc);
			_exit(error > 0 && error < 256 ? error : error ? 255 : 0);
		}
		if (c < 0 || waitpid(c, &status, 0) != c || !WIFEXITED(status))
			FAIL("fork child", ECHILD);
		snprintf(g_child_res, sizeof(g_child_res), "%s",
		    WEXITSTATUS(status) == 0 ? "ok" :
		    WEXITSTATUS(status) == 255 ? "EPROTO" :
		    strerrorname_np(WEXITSTATUS(status)));
	}

	if (opt.orphan_child) {
		/*
		 * A child that outlives us with the inherited file: the parent
		 * reports and exits at once; the child waits for that, then
		 * runs the EXEC loop on the same instance (its memory is a
		 * copy of ours at the same addresses) and reports as "child".
		 */
		pid_t parent = getpid(), c = fork();

		if (c < 0)
			FAIL("fork", errno);
		if (c > 0)
			return (0);	/* the parent: done, exit */
		g_is_orphan = true;
		while (getppid() == parent)
			usleep(1000);
		/* Through devhost, also until it has run the parent's exit
		 * (the file then belongs to another host process). */
		for (int n = 0; n < 5000 && g_hostpid >= 0; n++) {
			int hp = -1;

			if (devhost_file(parent, NULL, 0, &hp) != 0 ||
			    hp != g_hostpid)
				break;
			usleep(1000);
		}
	}

	if (opt.alarm_us > 0) {
		struct itimerval it;
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_alarm;	/* QEMU's timer: no SA_RESTART */
		sigaction(SIGALRM, &sa, NULL);
		memset(&it, 0, sizeof(it));
		it.it_value.tv_usec = opt.alarm_us % 1000000;
		it.it_value.tv_sec = opt.alarm_us / 1000000;
		it.it_interval = it.it_value;
		setitimer(ITIMER_REAL, &it, NULL);
	}
	for (i = 0; i < opt.execs; i++) {
		error = kqs_exec_once(real_ioctl, NULL, vmp, seed + (unsigned)i,
		    &rv, &modify_calls);
		if (error == EINTR) {
			/* Interrupted before the driver saw it: QEMU retries. */
			g_eintr++;
			continue;
		}
		if (error == KQS_EROUNDTRIP)
			FAIL("EXEC state round trip", EPROTO);
		if (error == KQS_ERETVAL)
			FAIL("EXEC retval", EPROTO);
		if (error != 0)
			FAIL("EXEC", error);	/* or its MODIFY_RAM_PAGES */
		if (rv == KQEMU_RET_INTR)
			g_intr++;
		else
			g_softmmu++;
		if (opt.alarm_us > 0 && g_intr > 0)
			break;	/* the driver saw the signal: done */
	}
	if (opt.alarm_us > 0) {
		struct itimerval it;

		memset(&it, 0, sizeof(it));
		setitimer(ITIMER_REAL, &it, NULL);
		if (g_intr == 0) {
			snprintf(g_step, sizeof(g_step), "no INTR in %ld EXECs", i);
			return (EPROTO);
		}
	}
	/* The VM stays allocated: QEMU exits with it. */
	return (0);
}

struct seq_job {
	char *clone;
	size_t clonelen;
	int error;
};

static void *
seq_thread(void *arg)
{
	struct seq_job *j = arg;

	j->error = run_sequence(j->clone, j->clonelen);
	return (NULL);
}

static void
usage(void)
{
	fprintf(stderr,
"usage: kqemu-run [options]\n"
"  --dev PATH        device (default /dev/kqemu)\n"
"  --ctl DIR         devhost mount, to name our clone (default: the device's dir)\n"
"  --ram MB          guest RAM, at least 2 (default 4)\n"
"  --execs N         EXEC calls (default 100)\n"
"  --close           close the device before exit (QEMU does not)\n"
"  --wait-file PATH  after the sequence, wait until PATH exists\n"
"  --wait-usr1       after the sequence, wait for SIGUSR1\n"
"  --sleep           after the sequence, sleep until killed\n"
"  --alarm-us N      SIGALRM every N us during EXECs; needs an INTR\n"
"  --bad-init        INIT with an unmapped page array (expect EFAULT)\n"
"  --fork-child      after INIT, children close their inherited copy\n"
"  --orphan-child    after the map, exit; a forked child runs the EXECs\n"
"  --thread          run the sequence in a second thread\n"
"  --child-exec      after the map, a forked child runs one EXEC\n"
"  --ioctl CMD       only open and send the raw ioctl CMD (Linux encoding)\n"
"  --expect RESULT   ok (default) or an errno name (EBUSY, EFAULT ...)\n"
"  -q                no status line\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "ram", required_argument, NULL, 'r' },
		{ "execs", required_argument, NULL, 'e' },
		{ "close", no_argument, NULL, 'C' },
		{ "wait-file", required_argument, NULL, 'w' },
		{ "wait-usr1", no_argument, NULL, 'u' },
		{ "sleep", no_argument, NULL, 's' },
		{ "alarm-us", required_argument, NULL, 'a' },
		{ "bad-init", no_argument, NULL, 'b' },
		{ "fork-child", no_argument, NULL, 'f' },
		{ "orphan-child", no_argument, NULL, 'o' },
		{ "thread", no_argument, NULL, 't' },
		{ "child-exec", no_argument, NULL, 'X' },
		{ "expect", required_argument, NULL, 'x' },
		{ "ioctl", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	char clone[128] = "?", line[512], res[96], ram[24];
	const char *name;
	struct sigaction sa;
	sigset_t set, old;
	int c, fd = -1, error;

	while ((c = getopt_long(argc, argv, "q", lopts, NULL)) != -1) {
		switch (c) {
		case 'd': opt.dev = optarg; break;
		case 'c': opt.ctl = optarg; break;
		case 'r': opt.ram_mb = strtoul(optarg, NULL, 0); break;
		case 'e': opt.execs = strtol(optarg, NULL, 0); break;
		case 'C': opt.do_close = true; break;
		case 'w': opt.wait_file = optarg; break;
		case 'u': opt.wait_sigusr1 = true; break;
		case 's': opt.sleep_after = true; break;
		case 'a': opt.alarm_us = strtol(optarg, NULL, 0); break;
		case 'b': opt.bad_init = true; break;
		case 'f': opt.fork_child = true; break;
		case 'o': opt.orphan_child = true; break;
		case 't': opt.in_thread = true; break;
		case 'X': opt.child_exec = true; break;
		case 'x': opt.expect = optarg; break;
		case 'q': opt.quiet = true; break;
		case 'i': opt.raw_cmd = strtoul(optarg, NULL, 0); break;
		default: usage();
		}
	}
	if (optind != argc || opt.ram_mb < 2 || opt.ram_mb > 2000)
		usage();

	/* SIGUSR1 is blocked until we wait for it, so none is lost. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);

	if (opt.in_thread) {
		/* Not the main thread: FUSE then reports a thread id that is
		 * not the process id. */
		struct seq_job j = { clone, sizeof(clone), 0 };
		pthread_t t;

		if (pthread_create(&t, NULL, seq_thread, &j) != 0 ||
		    pthread_join(t, NULL) != 0) {
			snprintf(g_step, sizeof(g_step), "thread");
			j.error = EAGAIN;
		}
		error = j.error;
	} else
		error = run_sequence(clone, sizeof(clone));
	fd = g_fd;
	name = error == 0 ? "ok" : strerrorname_np(error);
	if (name == NULL)
		name = "E?";
	if (error == 0)
		snprintf(res, sizeof(res), "ok");
	else
		snprintf(res, sizeof(res), "%s (%s)", name, g_step);
	if (opt.alarm_us > 0 && error == 0)
		snprintf(res + strlen(res), sizeof(res) - strlen(res),
		    " intr %ld eintr %ld", g_intr, g_eintr);
	if (g_child_res[0] != '\0')
		snprintf(res + strlen(res), sizeof(res) - strlen(res),
		    " child-exec %s", g_child_res);

	/* Hold the instance until told (the demo's snapshot, tests). */
	if (opt.wait_file != NULL) {
		struct timespec ts = { 0, 10 * 1000000L };
		int n;

		for (n = 0; n < 6000 && access(opt.wait_file, F_OK) != 0; n++)
			nanosleep(&ts, NULL);
	}
	if (opt.wait_sigusr1) {
		while (!g_go)
			sigsuspend(&old);
	}
	snprintf(ram, sizeof(ram), "%luM", opt.ram_mb);
	if (!opt.quiet) {
		int len = snprintf(line, sizeof(line),
		    "pid %-7d fd %-3d clone %-9s ram %-6s ioctls %-6ld result %s%s\n",
		    (int)getpid(), fd, clone, ram, g_ioctls, res,
		    g_is_orphan ? " (orphan child)" : "");

		/* One write, so concurrent clients' lines never interleave. */
		if (write(STDOUT_FILENO, line, (size_t)len) != len)
			return (1);
	}
	if (opt.sleep_after)
		for (;;)
			pause();
	if (opt.do_close && fd >= 0 && close(fd) != 0)
		return (1);
	return (strcmp(name, opt.expect) == 0 ? 0 : 1);
}
