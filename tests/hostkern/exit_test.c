/*
 * exit_test - process exit and kill: at_exit hooks before the files close
 * (kern_exit.c exit1), SIGKILL reclaim, fork hooks, CURSIG.
 */
#include "h_common.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

ATF_TC(exit1__at_exit_before_files_close);
ATF_TC_HEAD(exit1__at_exit_before_files_close, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_exit.c exit1: at_exit "
	    "hooks run while the process's files are still open, then fdfree "
	    "closes them (d_close once)");
}
ATF_TC_BODY(exit1__at_exit_before_files_close, tc)
{
	struct hk_proc *p;

	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	p = h_proc(1000, 1000);
	hk_thread_enter(p);
	(void)h_open("/dev/semcount_tc", O_RDWR);
	hk_thread_leave();
	ATF_REQUIRE_EQ(hk_proc_exit(p, 0), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.exits"), 1);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.exits_open"), 1);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes_tc"), 1);
	h_shutdown_clean();
}

ATF_TC(exit1__fork_shared_file_closed_by_last_exit);
ATF_TC_HEAD(exit1__fork_shared_file_closed_by_last_exit, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_exit.c exit1 + "
	    "kern_descrip.c fdrop: a file shared by fork is closed by the exit "
	    "of the last process holding it, not the first");
}
ATF_TC_BODY(exit1__fork_shared_file_closed_by_last_exit, tc)
{
	struct hk_proc *p, *c;

	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	p = h_proc(0, 0);
	hk_thread_enter(p);
	(void)h_open("/dev/semcount_tc", O_RDWR);
	ATF_REQUIRE_EQ(hk_fork(&c), 0);
	hk_thread_leave();
	ATF_REQUIRE_EQ(hk_proc_exit(p, 0), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes_tc"), 0);
	ATF_REQUIRE_EQ(hk_proc_exit(c, 0), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes_tc"), 1);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.exits"), 2);
	h_shutdown_clean();
}

ATF_TC(kill__sigkill_reclaims);
ATF_TC_HEAD(kill__sigkill_reclaims, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_sig.c kill + exit1: "
	    "SIGKILL of a process outside the kernel exits it at once: hooks "
	    "run, files close, the pid is gone");
}
ATF_TC_BODY(kill__sigkill_reclaims, tc)
{
	struct hk_proc *p;
	pid_t pid;

	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	p = h_proc(0, 0);
	pid = hk_proc_pid(p);
	hk_thread_enter(p);
	(void)h_open("/dev/semcount", O_RDWR);
	(void)h_open("/dev/semcount", O_RDWR);
	hk_thread_leave();
	ATF_REQUIRE_EQ(hk_kill(p, SIGKILL), 0);
	ATF_CHECK(hk_proc_find(pid) == NULL);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes"), 1);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.exits"), 1);
	h_shutdown_clean();
}

ATF_TC(kill__exited_thread_syscalls_fail);
ATF_TC_HEAD(kill__exited_thread_syscalls_fail, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_exit.c: once its process "
	    "exited, a remaining thread's syscalls fail (EINTR on the host) "
	    "and touch nothing");
}
ATF_TC_BODY(kill__exited_thread_syscalls_fail, tc)
{
	struct hk_proc *p;
	int fd;

	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	p = h_proc(0, 0);
	hk_thread_enter(p);
	fd = h_open("/dev/semcount", O_RDWR);
	ATF_REQUIRE_EQ(hk_kill(p, SIGKILL), 0);
	ATF_CHECK_EQ(hk_close(fd), EINTR);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes"), 1);
	h_shutdown_clean();
}

struct sleeper {
	struct hk_proc *p;
	int fd;
	int error;
};

static void *
sleeper_main(void *arg)
{
	struct sleeper *s = arg;

	hk_thread_enter(s->p);
	s->error = hk_ioctl(s->fd, SEMCOUNT_SLEEP, NULL);
	hk_thread_leave();
	return (NULL);
}

ATF_TC(kill__sigkill_during_syscall);
ATF_TC_HEAD(kill__sigkill_during_syscall, tc)
{
	atf_tc_set_md_var(tc, "descr", "kern/kern_sig.c + kern_synch.c "
	    "tsleep(PCATCH): SIGKILL interrupts a thread sleeping in a driver "
	    "(EINTR); the process exits when that thread leaves the kernel: "
	    "at_exit runs, files close, the pid is gone");
}
ATF_TC_BODY(kill__sigkill_during_syscall, tc)
{
	struct sleeper s;
	long long n = 0;
	pthread_t t;
	pid_t pid;
	int i;

	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	s.p = h_proc(0, 0);
	pid = hk_proc_pid(s.p);
	hk_thread_enter(s.p);
	s.fd = h_open("/dev/semcount_tc", O_RDWR);
	hk_thread_leave();
	ATF_REQUIRE_EQ(pthread_create(&t, NULL, sleeper_main, &s), 0);
	for (i = 0; i < 5000 && n == 0; i++) {
		usleep(1000);
		n = h_sysctl("debug.semcount.sleeping");
	}
	ATF_REQUIRE_EQ(n, 1);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.exits"), 0);
	ATF_REQUIRE_EQ(hk_kill(s.p, SIGKILL), 0);
	ATF_REQUIRE_EQ(pthread_join(t, NULL), 0);
	ATF_CHECK_EQ(s.error, EINTR);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.exits"), 1);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.exits_open"), 1);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes_tc"), 1);
	ATF_CHECK(hk_proc_find(pid) == NULL);
	h_shutdown_clean();
}

ATF_TC(cursig__pending_signal);
ATF_TC_HEAD(cursig__pending_signal, tc)
{
	atf_tc_set_md_var(tc, "descr", "sys/signal2.h CURSIG(lp): a pending "
	    "signal (hk_kill SIGALRM) is what the driver sees; cleared, 0");
}
ATF_TC_BODY(cursig__pending_signal, tc)
{
	struct hk_proc *p;
	int fd, sig = -1;

	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	p = h_proc(0, 0);
	hk_thread_enter(p);
	hk_proc_map_user(p, &sig, sizeof(sig), 1);
	fd = h_open("/dev/semcount", O_RDWR);
	ATF_REQUIRE_EQ(hk_ioctl(fd, SEMCOUNT_CURSIG, &sig), 0);
	ATF_CHECK_EQ(sig, 0);
	ATF_REQUIRE_EQ(hk_kill(p, SIGALRM), 0);
	ATF_REQUIRE_EQ(hk_ioctl(fd, SEMCOUNT_CURSIG, &sig), 0);
	ATF_CHECK_EQ(sig, SIGALRM);
	ATF_REQUIRE_EQ(hk_ioctl(fd, SEMCOUNT_SLEEP, NULL), EINTR);
	ATF_REQUIRE_EQ(hk_sig_clear(p, SIGALRM), 0);
	ATF_REQUIRE_EQ(hk_ioctl(fd, SEMCOUNT_CURSIG, &sig), 0);
	ATF_CHECK_EQ(sig, 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	h_shutdown_clean();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, exit1__at_exit_before_files_close);
	ATF_TP_ADD_TC(tp, exit1__fork_shared_file_closed_by_last_exit);
	ATF_TP_ADD_TC(tp, kill__sigkill_reclaims);
	ATF_TP_ADD_TC(tp, kill__exited_thread_syscalls_fail);
	ATF_TP_ADD_TC(tp, kill__sigkill_during_syscall);
	ATF_TP_ADD_TC(tp, cursig__pending_signal);
	return (atf_no_error());
}
