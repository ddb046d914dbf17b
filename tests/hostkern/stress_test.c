/*
 * stress_test - many host-kernel processes on OS threads at once: opens
 * (plain, D_TRACKCLOSE, clones), dup, ioctl, fork + exit, SIGKILL, sysctl
 * reads, for a bounded time.  Under SANITIZE=thread it shows the host
 * kernel's own locking is race-free; the counts must balance after.
 */
#include "h_common.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#define NWORKERS	8
#define ITERS		150

static volatile int failures;

static void
bad(void)
{
	__atomic_fetch_add(&failures, 1, __ATOMIC_SEQ_CST);
}

static void *
worker(void *arg)
{
	struct hk_proc *p = arg, *c;
	int i, a, b, d, v;

	hk_thread_enter(p);
	hk_proc_map_user(p, &v, sizeof(v), 1);
	for (i = 0; i < ITERS; i++) {
		if (hk_open("/dev/semclone", O_RDWR, &a) != 0) {
			bad();
			continue;
		}
		if (hk_open("/dev/semcount_tc", O_RDWR, &b) != 0)
			bad();
		if (hk_dup(b, &d) != 0)
			bad();
		if (hk_ioctl(d, SEMCOUNT_GETOPENS, &v) != 0)
			bad();
		if ((i % 8) == 0) {
			if (hk_fork(&c) != 0)
				bad();
			else if (hk_proc_exit(c, 0) != 0)
				bad();
		}
		hk_close(a);
		hk_close(b);
		hk_close(d);
	}
	hk_thread_leave();
	return (NULL);
}

static void *
killer(void *arg)
{
	struct hk_proc *p;
	int i, fd;

	for (i = 0; i < ITERS; i++) {
		p = h_proc(0, 0);
		hk_thread_enter(p);
		if (hk_open("/dev/semclone", O_RDWR, &fd) != 0)
			bad();
		if (hk_open("/dev/semcount", O_RDWR, &fd) != 0)
			bad();
		hk_thread_leave();
		if (hk_kill(p, SIGKILL) != 0)
			bad();
	}
	return (NULL);
}

static void *
reader(void *arg)
{
	long long v;
	int i;

	for (i = 0; i < ITERS * 4; i++) {
		if (hk_sysctl_int("debug.semcount.opens", &v) != 0)
			bad();
	}
	return (NULL);
}

ATF_TC(stress__open_dup_fork_kill);
ATF_TC_HEAD(stress__open_dup_fork_kill, tc)
{
	atf_tc_set_md_var(tc, "descr", "concurrency of the whole open/close "
	    "path (kern_descrip.c, devfs_vnops.c, devfs_core.c cloning, "
	    "kern_exit.c): counts balance, nothing leaks, no data race");
	atf_tc_set_md_var(tc, "timeout", "120");
}
ATF_TC_BODY(stress__open_dup_fork_kill, tc)
{
	pthread_t w[NWORKERS], k, r;
	int i;

	ATF_REQUIRE_EQ(hk_setenv("semcount.clone", "1"), 0);
	h_boot(HK_PROFILE_MODERN);
	h_load("semcount");
	for (i = 0; i < NWORKERS; i++)
		pthread_create(&w[i], NULL, worker, h_proc(1000 + i, 1000));
	pthread_create(&k, NULL, killer, NULL);
	pthread_create(&r, NULL, reader, NULL);
	for (i = 0; i < NWORKERS; i++)
		pthread_join(w[i], NULL);
	pthread_join(k, NULL);
	pthread_join(r, NULL);
	hk_devfs_sync();
	ATF_CHECK_EQ(failures, 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.clones"),
	    (NWORKERS + 1) * ITERS);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.clone_closes"),
	    (NWORKERS + 1) * ITERS);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.clones_live"), 0);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.opens_tc"),
	    h_sysctl("debug.semcount.closes_tc"));
	ATF_CHECK_EQ(h_sysctl("debug.semcount.closes"), ITERS);
	ATF_CHECK_EQ(h_sysctl("debug.semcount.forks"),
	    NWORKERS * ((ITERS + 7) / 8));
	ATF_CHECK_EQ(hk_kldunload("semcount"), 0);
	h_shutdown_clean();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, stress__open_dup_fork_kill);
	return (atf_no_error());
}
