/*
 * devhost.c - main: a FUSE server that runs the host kernel with modules
 * loaded and exposes its devfs nodes as files, so that real Linux processes
 * open, ioctl, read, write and close the DragonFly drivers in tests/host.
 * devhost.h lists the parts and the locking rules they share.
 *
 * Owns:
 *  - the options, booting the host kernel (profile, tunables, kldloads);
 *  - the FUSE session: mount, the loop thread, stopping it;
 *  - signals: every thread blocks them and the main thread takes them by
 *    sigtimedwait; for `devhost run` they are forwarded to the command;
 *  - shutdown: the loop stops, the mount goes, then every host process
 *    exits, the modules unload in reverse and the leak report decides the
 *    exit status (0 clean, 3 leaks, 77 no FUSE).
 *
 * Locking: the main thread owns the session and the loop thread; the state
 * is freed only after the loop and the reaper have stopped, so no lock is
 * needed for it then.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devhost.h"

struct devhost_options g_opt = { .profile = HK_PROFILE_MODERN, .threads = 64,
	.ready_fd = -1, .run_node = "kqemu" };
int g_stopping;
int g_epfd = -1;
static int g_evfd = -1;
static struct fuse_session *g_se;
static size_t g_devbuf_base;	/* devbuf allocations before the kldloads */

void
logmsg(const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "devhost: %s\n", buf);
}

/* --- the loop thread ------------------------------------------------------ */

static pthread_t g_loop_thread;
static volatile int g_loop_done;
static int g_loop_rc;

static void
wake_handler(int sig)
{
	(void)sig;
}

static void *
loop_main(void *arg)
{
	struct fuse_loop_config *cfg;
	sigset_t set;

	(void)arg;
	/* Only this thread takes SIGUSR2, to leave sem_wait in the loop. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, (unsigned)g_opt.threads);
	g_loop_rc = fuse_session_loop_mt(g_se, cfg);
	fuse_loop_cfg_destroy(cfg);
	__atomic_store_n(&g_loop_done, 1, __ATOMIC_SEQ_CST);
	return (NULL);
}

static void
loop_stop(void)
{
	struct timespec ts = { 0, 20 * 1000000L };

	__atomic_store_n(&g_stopping, 1, __ATOMIC_SEQ_CST);
	fuse_session_exit(g_se);
	/* Repeat: one signal may land before the loop sleeps. */
	while (!__atomic_load_n(&g_loop_done, __ATOMIC_SEQ_CST)) {
		pthread_kill(g_loop_thread, SIGUSR2);
		nanosleep(&ts, NULL);
	}
	pthread_join(g_loop_thread, NULL);
}

/* --- main ----------------------------------------------------------------- */

/*
 * Exit every host process devhost made, unload the modules it loaded (in
 * reverse), then hk_shutdown and report.  A cloning shim's detach leaves
 * one struct dev_ops in the kernel's devbuf on purpose (the interposer or
 * autoclone's quiesce copy, which a thread may still be reading: see
 * kqemu_clone(4), CAVEATS).  So the one leak accepted is at most
 * one devbuf allocation per unloaded shim (a module with a debug.NAME.mode
 * sysctl) beyond those present before the loads; anything else is a leak.
 */
static int
shutdown_kernel(const char **loads, int nloads, int exitcode)
{
	struct hk_leaks lk;
	size_t bytes = 0, count = 0, kept;
	int nproc, shims = 0, error, i;
	bool clean;

	nproc = hproc_exit_all();
	for (i = nloads - 1; i >= 0; i--) {
		char name[128], mode[32];
		size_t len = sizeof(mode);
		bool shim;

		if (!hk_kld_isloaded(loads[i]))
			continue;
		snprintf(name, sizeof(name), "debug.%s.mode", loads[i]);
		shim = hk_sysctl(name, mode, &len, NULL, 0) == 0;
		error = hk_kldunload(loads[i]);
		if (error == EBUSY && shim && strcmp(mode, "proc") == 0)
			shims++;	/* stays until hk_shutdown (MOD_SHUTDOWN) */
		else if (error != 0)
			logmsg("kldunload %s: %s", loads[i], strerror(error));
		else if (shim && !hk_kld_isloaded(loads[i]))
			shims++;
	}
	hk_kmalloc_stats("devbuf", &bytes, &count);
	kept = count > g_devbuf_base ? count - g_devbuf_base : 0;
	error = hk_shutdown(&lk);
	clean = error == 0 && lk.kmalloc_count == kept &&
	    kept <= (size_t)shims && lk.cdevs == 0 && lk.files == 0 &&
	    lk.procs == 0 && lk.modules == 0;
	logmsg("shutdown: %d process%s exited; leaks: %zu kmalloc bytes "
	    "(%zu allocations%s), %d cdevs, %d files, %d procs, %d modules%s",
	    nproc, nproc == 1 ? "" : "es", lk.kmalloc_bytes, lk.kmalloc_count,
	    kept > 0 && lk.kmalloc_count == kept ?
	    ": the shim's dev_ops kept on unload, documented" : "",
	    lk.cdevs, lk.files, lk.procs, lk.modules, clean ? " -- clean" : "");
	if (!clean && exitcode == 0)
		exitcode = 3;
	return (exitcode);
}

static void
usage(void)
{
	fprintf(stderr,
"usage: devhost [options] MOUNTPOINT\n"
"       devhost run [options] -- CMD [ARGS...]\n"
"options:\n"
"  --load NAME        kldload NAME (repeatable, in order)\n"
"  -t NAME=VALUE      loader tunable, set before the loads (repeatable)\n"
"  --profile P        kernel profile: modern (default), nocdevpriv, legacy, devfs24\n"
"  --modules DIR      where NAME.so modules live (default: the build's)\n"
"  --node NAME        run: the node bound at /dev/NAME (default kqemu)\n"
"  --hold CMD=MS      test instrument: hold ioctl CMD (Linux encoding) up to\n"
"                     MS ms in the server or until the caller is interrupted\n"
"  --ready-fd FD      write \"ready\\n\" to FD once the mount serves\n"
"  --threads N        max FUSE worker threads (default 64)\n"
"  -v                 log every open, release, death and interrupt\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "load", required_argument, NULL, 'l' },
		{ "profile", required_argument, NULL, 'p' },
		{ "modules", required_argument, NULL, 'm' },
		{ "node", required_argument, NULL, 'n' },
		{ "hold", required_argument, NULL, 'H' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *loads[32], *tunables[64];
	int nloads = 0, ntun = 0, c, i, error, status = 0, exitcode = 0;
	char mnt[PATH_MAX], *eq;
	struct hk_leaks lk;
	pid_t child = -1;
	sigset_t sigs, all;
	struct sigaction sa;
	struct epoll_event ev;
	pthread_t reaper;
	bool child_done = false;
	int sigcount = 0;

again:
	while ((c = getopt_long(argc, argv, "+t:vh", lopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (nloads == 32)
				usage();
			loads[nloads++] = optarg;
			break;
		case 't':
			if (ntun == 64 || strchr(optarg, '=') == NULL)
				usage();
			tunables[ntun++] = optarg;
			break;
		case 'p':
			g_opt.profile = hk_profile_by_name(optarg);
			if (g_opt.profile < 0) {
				logmsg("unknown profile %s", optarg);
				usage();
			}
			break;
		case 'm':
			g_opt.module_path = optarg;
			break;
		case 'n':
			g_opt.run_node = optarg;
			break;
		case 'H':
			eq = strchr(optarg, '=');
			if (eq == NULL)
				usage();
			g_opt.hold_cmd = (unsigned int)strtoul(optarg, NULL, 0);
			g_opt.hold_ms = atoi(eq + 1);
			break;
		case 'r':
			g_opt.ready_fd = atoi(optarg);
			break;
		case 'T':
			g_opt.threads = atoi(optarg);
			if (g_opt.threads < 2)
				g_opt.threads = 2;
			break;
		case 'v':
			g_opt.verbose = true;
			break;
		default:
			usage();
		}
	}
	/* "run" may come first or after options; options may follow it. */
	if (!g_opt.run && optind < argc && strcmp(argv[optind], "run") == 0) {
		g_opt.run = true;
		optind++;
		goto again;
	}
	if (g_opt.run) {
		if (optind < argc && strcmp(argv[optind - 1], "--") != 0 &&
		    strcmp(argv[optind], "--") == 0)
			optind++;
		if (optind >= argc)
			usage();
		g_opt.run_argv = argv + optind;
	} else {
		if (optind != argc - 1)
			usage();
		g_opt.mountpoint = argv[optind];
	}

	if (access("/dev/fuse", R_OK | W_OK) != 0) {
		logmsg("FUSE is unavailable: /dev/fuse: %s%s", strerror(errno),
		    geteuid() != 0 ? " (run as root)" : " (modprobe fuse?)");
		return (77);
	}

	/* Signals: every thread blocks these; main takes them by sigtimedwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGCHLD);
	sigemptyset(&all);
	sigaddset(&all, SIGINT);
	sigaddset(&all, SIGTERM);
	sigaddset(&all, SIGHUP);
	sigaddset(&all, SIGCHLD);
	sigaddset(&all, SIGUSR2);
	sigaddset(&all, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wake_handler;	/* no SA_RESTART: interrupts sem_wait */
	sigaction(SIGUSR2, &sa, NULL);

	/* The host kernel, tunables, modules. */
	error = hk_boot(g_opt.profile, g_opt.module_path);
	if (error != 0) {
		logmsg("hk_boot: %s", strerror(error));
		return (1);
	}
	for (i = 0; i < ntun; i++) {
		char name[256];
		const char *v = strchr(tunables[i], '=');

		snprintf(name, sizeof(name), "%.*s", (int)(v - tunables[i]),
		    tunables[i]);
		error = hk_setenv(name, v + 1);
		if (error != 0) {
			logmsg("setenv %s: %s", tunables[i], strerror(error));
			return (1);
		}
	}
	{
		size_t b;

		hk_kmalloc_stats("devbuf", &b, &g_devbuf_base);
	}
	for (i = 0; i < nloads; i++) {
		error = hk_kldload(loads[i], NULL);
		if (error == 0 && hk_modfind(loads[i]) != 0) {
			/* As on 5.8.1, a failed MOD_LOAD is no kldload
			 * error: the file stays loaded with no module. */
			logmsg("kldload %s: its MOD_LOAD failed (the kernel "
			    "messages above say why)", loads[i]);
			hk_shutdown(&lk);
			return (1);
		}
		if (error != 0) {
			logmsg("kldload %s: %s", loads[i], strerror(error));
			hk_shutdown(&lk);
			return (1);
		}
	}
	hk_devfs_sync();

	if (g_opt.run) {
		if (run_prepare(mnt, sizeof(mnt)) != 0) {
			hk_shutdown(&lk);
			return (1);
		}
		g_opt.mountpoint = mnt;
	}

	/* The FUSE session. */
	{
		char *fargv[] = { argv[0], "-o",
		    "allow_other,default_permissions,auto_unmount,"
		    "fsname=devhost,subtype=devhost", NULL };
		struct fuse_args args = FUSE_ARGS_INIT(3, fargv);

		g_se = fuse_session_new(&args, &dh_ops, sizeof(dh_ops), NULL);
		fuse_opt_free_args(&args);
		if (g_se == NULL) {
			logmsg("fuse_session_new failed");
			hk_shutdown(&lk);
			return (1);
		}
		if (fuse_session_mount(g_se, g_opt.mountpoint) != 0) {
			logmsg("FUSE is unavailable: cannot mount on %s",
			    g_opt.mountpoint);
			fuse_session_destroy(g_se);
			hk_shutdown(&lk);
			return (77);
		}
	}

	g_epfd = epoll_create1(EPOLL_CLOEXEC);
	g_evfd = eventfd(0, EFD_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_evfd, &ev);
	pthread_create(&reaper, NULL, reaper_main, NULL);
	pthread_create(&g_loop_thread, NULL, loop_main, NULL);

	if (g_opt.run) {
		if (run_bind(mnt) != 0) {
			exitcode = 1;
			goto stop;
		}
	}
	logmsg("serving %s (profile %d, %d module%s loaded)%s",
	    g_opt.mountpoint, g_opt.profile, nloads, nloads == 1 ? "" : "s",
	    g_opt.run ? ", running the command" : "");
	if (g_opt.ready_fd >= 0) {
		if (write(g_opt.ready_fd, "ready\n", 6) != 6)
			logmsg("ready-fd: %s", strerror(errno));
		close(g_opt.ready_fd);
	}
	if (g_opt.run) {
		child = fork();
		if (child == 0) {
			/* Its device dies with devhost: so does it. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			pthread_sigmask(SIG_UNBLOCK, &all, NULL);
			execvp(g_opt.run_argv[0], g_opt.run_argv);
			fprintf(stderr, "devhost: exec %s: %s\n", g_opt.run_argv[0],
			    strerror(errno));
			_exit(127);
		}
		if (child < 0) {
			logmsg("fork: %s", strerror(errno));
			exitcode = 1;
			goto stop;
		}
	}

	for (;;) {
		struct timespec to = { 0, 200 * 1000000L };
		siginfo_t si;
		int s = sigtimedwait(&sigs, &si, &to);

		if (s == SIGINT || s == SIGTERM || s == SIGHUP) {
			if (child > 0 && !child_done) {
				/* Forward; a second signal is final. */
				kill(child, ++sigcount > 1 ? SIGKILL : s);
				continue;
			}
			logmsg("signal %d: shutting down", s);
			break;
		}
		if (child > 0 && !child_done &&
		    waitpid(child, &status, WNOHANG) == child) {
			child_done = true;
			exitcode = WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
			break;
		}
		if (__atomic_load_n(&g_loop_done, __ATOMIC_SEQ_CST)) {
			logmsg("unmounted from outside: shutting down");
			break;
		}
	}

stop:
	if (child > 0 && !child_done) {
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
	}
	if (!__atomic_load_n(&g_loop_done, __ATOMIC_SEQ_CST))
		loop_stop();
	else
		pthread_join(g_loop_thread, NULL);
	if (g_opt.run) {
		char dst[PATH_MAX];

		snprintf(dst, sizeof(dst), "/dev/%s", g_opt.run_node);
		umount2(dst, MNT_DETACH);
	}
	fuse_session_unmount(g_se);
	fuse_session_destroy(g_se);
	if (g_opt.run)
		umount2("/dev", MNT_DETACH);

	/* Stop the reaper, then the host kernel: every process exits. */
	{
		uint64_t one = 1;

		if (write(g_evfd, &one, sizeof(one)) != sizeof(one))
			logmsg("eventfd: %s", strerror(errno));
		pthread_join(reaper, NULL);
	}
	exitcode = shutdown_kernel(loads, nloads, exitcode);
	hproc_free_all();
	/* Files whose release never came (the loop stopped first). */
	fuse_ops_free();
	text_files_free();
	close(g_epfd);
	close(g_evfd);
	return (exitcode);
}
