/*
 * clone_cases.c - the cloning shim's test cases on the host kernel, for
 * one mode (CT_MODE, set by the including clone_<mode>_test.c), against
 * the single-instance test driver h_single (tests/clone/h_single).
 *
 * Every case boots a fresh host kernel in the profile the mode is meant
 * for (proc: LEGACY, no fp anywhere; others: MODERN) and ends with
 * ct_shutdown_clean() (nothing leaked but the documented autoclone copy).
 * Locking: the stress cases' threads share only atomics.
 */
#include <atf-c.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clone_util.h"
#include "h_single/h_single.h"

#ifndef CT_MODE
#error "CT_MODE must name the shim mode"
#endif

static const struct ct_target *T = &ct_hsingle;

#define IS_MODE(m)	(strcmp(CT_MODE, (m)) == 0)
#define AUTOCLONE	IS_MODE("autoclone")
#define PROCMODE	IS_MODE("proc")
/* autoclone and proc hold the driver's instance on the device itself. */
#define HELD		((AUTOCLONE || PROCMODE) ? 1 : 0)

static long
hs_holds(void)
{
	long long v = -1;

	hk_sysctl_int("debug.hsingle.holds", &v);
	return ((long)v);
}

/* A sysctl number by its full name (-1 on error). */
static long
ct_stat_path(const char *name)
{
	long long v = -1;

	if (hk_sysctl_int(name, &v) != 0)
		return (-1);
	return ((long)v);
}

static void
boot(void)
{
	ct_boot(T, CT_MODE, ct_profile_for(CT_MODE));
}

static void
boot_load(void)
{
	boot();
	ATF_REQUIRE_EQ_MSG(ct_load(T), 0, "kldload %s", T->shim);
	ATF_REQUIRE_MSG(ct_registered(T), "%s: MOD_LOAD failed", T->shim);
}

/* Stress: the fp index squeezed to one chain (tunable hash_buckets), so
 * every record shares a chain and its stripe lock. */
static void
boot_load_one_chain(void)
{
	boot();
	ct_setenv_int(T, "hash_buckets", 1);
	ATF_REQUIRE_EQ_MSG(ct_load(T), 0, "kldload %s", T->shim);
	ATF_REQUIRE_MSG(ct_registered(T), "%s: MOD_LOAD failed", T->shim);
	ATF_REQUIRE_EQ(ct_stat(T, "hash_chains"), 1);
}

static long long
hs_stat(const char *name)
{
	char full[64];
	long long v = -1;

	snprintf(full, sizeof(full), "debug.hsingle.%s", name);
	hk_sysctl_int(full, &v);
	return (v);
}

/* Monotonic milliseconds. */
static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1000L + ts.tv_nsec / 1000000L);
}

/* --------------------------------------------------------------------- */

ATF_TC(open__second_open_ebusy_without_shim);
ATF_TC_HEAD(open__second_open_ebusy_without_shim, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "Without the shim the driver is single-instance: a second open "
	    "from another process gets EBUSY");
}
ATF_TC_BODY(open__second_open_ebusy_without_shim, tc)
{
	struct ct_proc a, b;
	int fa, fb;

	boot();
	ATF_REQUIRE_EQ(hk_kldload(T->driver, NULL), 0);
	ct_proc_new(&a, 1000);
	ct_proc_new(&b, 1000);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fa), 0);
	ct_leave();
	ct_enter(&b);
	ATF_REQUIRE_EQ(ct_open(T, &fb), EBUSY);
	ct_leave();
	ct_enter(&a);
	ATF_REQUIRE_EQ(hk_close(fa), 0);
	ct_leave();
	ct_shutdown_clean();
}

ATF_TC(open__each_open_own_instance);
ATF_TC_HEAD(open__each_open_own_instance, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "With the shim, 8 processes each open and keep their own value; "
	    "the sysctl listing names each owner pid; live counts them");
}
ATF_TC_BODY(open__each_open_own_instance, tc)
{
	struct ct_proc p[8];
	int fd[8], i, v;

	boot_load();
	for (i = 0; i < 8; i++) {
		ct_proc_new(&p[i], 1000 + i);
		ct_enter(&p[i]);
		ATF_REQUIRE_EQ_MSG(ct_open(T, &fd[i]), 0, "open %d", i);
		ATF_REQUIRE_EQ(ct_set(&p[i], fd[i], 100 + i), 0);
		ct_leave();
	}
	ATF_CHECK_EQ(ct_stat(T, "live"), 8);
	ATF_CHECK_EQ(ct_instances(), HELD + 8);	/* + held base */
	for (i = 0; i < 8; i++) {
		ct_enter(&p[i]);
		ATF_REQUIRE_EQ(ct_get(&p[i], fd[i], &v), 0);
		ATF_CHECK_EQ_MSG(v, 100 + i, "instance %d sees %d", i, v);
		ct_leave();
		ATF_CHECK_EQ(ct_listing_count_pid(T, p[i].pid), 1);
	}
	if (AUTOCLONE)
		ATF_CHECK_EQ(ct_clone_nodes(T), 8);
	for (i = 0; i < 8; i++) {
		ct_enter(&p[i]);
		ATF_REQUIRE_EQ(hk_close(fd[i]), 0);
		ct_leave();
	}
	if (PROCMODE) {
		/* No fp: the device's last close reaped them all. */
		ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	}
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ATF_CHECK_EQ(ct_stat(T, "opens"), 8);
	ATF_CHECK_EQ(ct_stat(T, "closes"), 8);
	ATF_CHECK_EQ(ct_clone_nodes(T), 0);
	ct_shutdown_clean();
}

ATF_TC(open__readonly_refused_clean);
ATF_TC_HEAD(open__readonly_refused_clean, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "The driver's own refusal of an open (EPERM without FWRITE) "
	    "reaches the caller and leaves no clone behind");
}
ATF_TC_BODY(open__readonly_refused_clean, tc)
{
	struct ct_proc a;
	char path[64];
	int fd;

	boot_load();
	ct_proc_new(&a, 1000);
	ct_enter(&a);
	snprintf(path, sizeof(path), "/dev/%s", T->node);
	ATF_CHECK_EQ(hk_open(path, O_RDONLY, &fd), EPERM);
	ct_leave();
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ATF_CHECK_EQ(ct_clone_nodes(T), 0);
	ct_shutdown_clean();
}

/* 64 processes at once, each on its own OS thread. */
struct conc_arg {
	struct ct_proc p;
	int id;
	atomic_int *failures;
	pthread_barrier_t *bar;
};

static void *
conc_thread(void *v)
{
	struct conc_arg *a = v;
	int fd, val, i, err;

	if (hk_thread_enter(a->p.p) != 0) {
		atomic_fetch_add(a->failures, 1);
		return (NULL);
	}
	err = ct_open(T, &fd);
	pthread_barrier_wait(a->bar);	/* all 64 hold a clone at once */
	if (err == 0) {
		for (i = 0; i < 20 && err == 0; i++) {
			err = ct_set(&a->p, fd, a->id * 1000 + i);
			if (err == 0)
				err = ct_get(&a->p, fd, &val);
			if (err == 0 && val != a->id * 1000 + i)
				err = -1;
		}
	}
	pthread_barrier_wait(a->bar);
	if (err != 0)
		atomic_fetch_add(a->failures, 1);
	hk_thread_leave();
	return (NULL);
}

ATF_TC(open__64_concurrent_procs);
ATF_TC_HEAD(open__64_concurrent_procs, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "64 processes on 64 threads hold a clone each at the same time and "
	    "never see each other's values; exit reclaims all");
}
ATF_TC_BODY(open__64_concurrent_procs, tc)
{
	enum { N = 64 };
	static struct conc_arg a[N];
	pthread_t th[N];
	pthread_barrier_t bar;
	atomic_int failures = 0;
	int i;

	ct_set_limits(T, 0, 0, 0);
	boot_load();
	pthread_barrier_init(&bar, NULL, N);
	for (i = 0; i < N; i++) {
		ct_proc_new(&a[i].p, 1000 + i % 4);
		a[i].id = i;
		a[i].failures = &failures;
		a[i].bar = &bar;
	}
	for (i = 0; i < N; i++)
		ATF_REQUIRE_EQ(pthread_create(&th[i], NULL, conc_thread, &a[i]), 0);
	for (i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	ATF_CHECK_EQ(atomic_load(&failures), 0);
	ATF_CHECK_EQ(ct_stat(T, "live"), N);
	for (i = 0; i < N; i++)
		ATF_REQUIRE_EQ(hk_proc_exit(a[i].p.p, 0), 0);
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ATF_CHECK_EQ(ct_instances(), HELD + 0);
	pthread_barrier_destroy(&bar);
	ct_shutdown_clean();
}

ATF_TC(dup__shares_clone);
ATF_TC_HEAD(dup__shares_clone, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "dup() shares one clone; closing the dup is not the last close");
}
ATF_TC_BODY(dup__shares_clone, tc)
{
	struct ct_proc a;
	int fd, fd2, s1, s2, v;

	boot_load();
	ct_proc_new(&a, 1000);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fd), 0);
	ATF_REQUIRE_EQ(hk_dup(fd, &fd2), 0);
	ATF_REQUIRE_EQ(ct_set(&a, fd, 7), 0);
	ATF_REQUIRE_EQ(ct_get(&a, fd2, &v), 0);
	ATF_CHECK_EQ(v, 7);
	ATF_REQUIRE_EQ(ct_serial(&a, fd, &s1), 0);
	ATF_REQUIRE_EQ(ct_serial(&a, fd2, &s2), 0);
	ATF_CHECK_EQ(s1, s2);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ct_leave();
	ATF_CHECK_EQ(ct_stat(T, "live"), 1);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_get(&a, fd2, &v), 0);
	ATF_CHECK_EQ(v, 7);
	ATF_REQUIRE_EQ(hk_close(fd2), 0);
	ct_leave();
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ct_shutdown_clean();
}

ATF_TC(fork__child_shares_clone);
ATF_TC_HEAD(fork__child_shares_clone, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "fork(): the child's inherited descriptor reaches the parent's clone "
	    "(proc mode: ENXIO, the clone is per process); the child's close is "
	    "not the last close");
}
ATF_TC_BODY(fork__child_shares_clone, tc)
{
	struct ct_proc a, c;
	int fd, v, s1, s2;

	boot_load();
	ct_proc_new(&a, 1000);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fd), 0);
	ATF_REQUIRE_EQ(ct_set(&a, fd, 42), 0);
	ATF_REQUIRE_EQ(ct_serial(&a, fd, &s1), 0);
	ATF_REQUIRE_EQ(ct_fork(&a, &c), 0);
	ct_leave();

	ct_enter(&c);
	if (PROCMODE) {
		ATF_CHECK_EQ(ct_get(&c, fd, &v), ENXIO);
	} else {
		ATF_REQUIRE_EQ(ct_get(&c, fd, &v), 0);
		ATF_CHECK_EQ(v, 42);
		ATF_REQUIRE_EQ(ct_serial(&c, fd, &s2), 0);
		ATF_CHECK_EQ(s1, s2);
	}
	ATF_REQUIRE_EQ(hk_close(fd), 0);	/* the tap script's close */
	ct_leave();
	ATF_REQUIRE_EQ(hk_proc_exit(c.p, 0), 0);

	ATF_CHECK_EQ(ct_stat(T, "live"), 1);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_get(&a, fd, &v), 0);
	ATF_CHECK_EQ(v, 42);
	ct_leave();
	ATF_REQUIRE_EQ(hk_proc_exit(a.p, 0), 0);
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ct_shutdown_clean();
}

ATF_TC(close__last_close_destroys_that_clone);
ATF_TC_HEAD(close__last_close_destroys_that_clone, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "The last close of one open file destroys exactly its clone; the "
	    "other process's clone keeps working (proc mode: the close is not "
	    "the device's last, so the clone waits for its process's exit)");
}
ATF_TC_BODY(close__last_close_destroys_that_clone, tc)
{
	struct ct_proc a, b;
	int fa, fb, v;
	char name[64];

	boot_load();
	ct_proc_new(&a, 1000);
	ct_proc_new(&b, 1001);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fa), 0);
	ATF_REQUIRE_EQ(ct_set(&a, fa, 1), 0);
	ct_leave();
	ct_enter(&b);
	ATF_REQUIRE_EQ(ct_open(T, &fb), 0);
	ATF_REQUIRE_EQ(ct_set(&b, fb, 2), 0);
	ct_leave();

	ct_enter(&a);
	ATF_REQUIRE_EQ(hk_close(fa), 0);
	ct_leave();
	hk_devfs_sync();
	if (PROCMODE) {
		ATF_CHECK_EQ(ct_stat(T, "live"), 2);
		ATF_REQUIRE_EQ(hk_proc_exit(a.p, 0), 0);
	}
	ATF_CHECK_EQ(ct_stat(T, "live"), 1);
	ATF_CHECK_EQ(ct_listing_count_pid(T, a.pid), 0);
	ATF_CHECK_EQ(ct_listing_count_pid(T, b.pid), 1);
	if (AUTOCLONE) {
		/* a had unit 0, b unit 1: only kqemu1 remains. */
		snprintf(name, sizeof(name), "%s0", T->node);
		ATF_CHECK(!hk_devfs_exists(name));
		snprintf(name, sizeof(name), "%s1", T->node);
		ATF_CHECK(hk_devfs_exists(name));
	}
	ct_enter(&b);
	ATF_REQUIRE_EQ(ct_get(&b, fb, &v), 0);
	ATF_CHECK_EQ(v, 2);
	ATF_REQUIRE_EQ(hk_close(fb), 0);
	ct_leave();
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ct_shutdown_clean();
}

ATF_TC(exit__reclaims_without_close);
ATF_TC_HEAD(exit__reclaims_without_close, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "A process that exits without closing (as QEMU does) loses its "
	    "clones: driver instance freed, record gone, node gone");
}
ATF_TC_BODY(exit__reclaims_without_close, tc)
{
	struct ct_proc a, b;
	int fa, fb;

	boot_load();
	ct_proc_new(&a, 1000);
	ct_proc_new(&b, 1000);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fa), 0);
	ct_leave();
	ct_enter(&b);
	ATF_REQUIRE_EQ(ct_open(T, &fb), 0);
	ct_leave();
	ATF_REQUIRE_EQ(hk_proc_exit(a.p, 0), 0);
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 1);
	ATF_CHECK_EQ(ct_instances(), HELD + 1);
	ATF_REQUIRE_EQ(hk_proc_exit(b.p, 0), 0);
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ATF_CHECK_EQ(ct_instances(), HELD + 0);
	ATF_CHECK_EQ(ct_clone_nodes(T), 0);
	ct_shutdown_clean();
}

struct sleeper {
	struct ct_proc *p;
	int fd;
	int error;
	atomic_int started;
};

static void *
sleeper_thread(void *v)
{
	struct sleeper *s = v;

	if (hk_thread_enter(s->p->p) != 0)
		return (NULL);
	atomic_store(&s->started, 1);
	s->error = ct_sleep(s->p, s->fd, 30);
	hk_thread_leave();
	return (NULL);
}

ATF_TC(kill__during_ioctl_loses_nothing);
ATF_TC_HEAD(kill__during_ioctl_loses_nothing, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "SIGKILL while an ioctl sleeps in the driver (rendezvous: the "
	    "driver counts the sleeper in, and the kill is seen pending by "
	    "the ioctl before it returns): the process exits when the call "
	    "returns and its clone is reclaimed");
}
ATF_TC_BODY(kill__during_ioctl_loses_nothing, tc)
{
	struct ct_proc a;
	struct sleeper s;
	pthread_t th;

	boot_load();
	ct_proc_new(&a, 1000);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &s.fd), 0);
	ct_leave();
	s.p = &a;
	s.error = -1;
	atomic_store(&s.started, 0);
	ATF_REQUIRE_EQ(pthread_create(&th, NULL, sleeper_thread, &s), 0);
	while (hs_stat("sleepers") < 1)
		usleep(100);
	ATF_REQUIRE_EQ(hk_kill(a.p, SIGKILL), 0);
	pthread_join(th, NULL);
	ATF_CHECK_EQ(s.error, 0);
	/* The kill landed inside the ioctl. */
	ATF_CHECK_EQ(hs_stat("sleep_sigs"), 1);
	/* The last thread leaving the kernel ran the exit. */
	while (hk_proc_find(a.pid) != NULL)
		usleep(1000);
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ATF_CHECK_EQ(ct_instances(), HELD + 0);
	ct_shutdown_clean();
}

ATF_TC(unload__refused_while_clone_lives);
ATF_TC_HEAD(unload__refused_while_clone_lives, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "kldunload of the shim is EBUSY while a clone lives (the clone "
	    "keeps working) and 0 after; then the device is single-instance "
	    "again");
}
ATF_TC_BODY(unload__refused_while_clone_lives, tc)
{
	struct ct_proc a, b;
	int fa, fb, v;

	boot_load();
	ct_proc_new(&a, 1000);
	ct_proc_new(&b, 1000);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fa), 0);
	ATF_REQUIRE_EQ(ct_set(&a, fa, 5), 0);
	ct_leave();
	ATF_CHECK_EQ(ct_unload_shim(T), EBUSY);
	ATF_CHECK(hk_kld_isloaded(T->shim));
	ATF_CHECK_EQ(ct_stat(T, "live"), 1);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_get(&a, fa, &v), 0);
	ATF_CHECK_EQ(v, 5);
	ATF_REQUIRE_EQ(hk_close(fa), 0);
	ct_leave();
	hk_devfs_sync();
	if (PROCMODE) {
		/* Never while the system runs (proc__unload_refused...). */
		ATF_CHECK_EQ(ct_unload_shim(T), EBUSY);
		ct_shutdown_clean();
		return;
	}
	ATF_CHECK_EQ(ct_unload_shim(T), 0);
	ATF_CHECK(!hk_kld_isloaded(T->shim));
	ATF_CHECK(hk_kld_isloaded(T->driver));
	ATF_CHECK_EQ(hs_holds(), 0);
	/* Single-instance again. */
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fa), 0);
	ct_leave();
	ct_enter(&b);
	ATF_CHECK_EQ(ct_open(T, &fb), EBUSY);
	ct_leave();
	ct_enter(&a);
	ATF_REQUIRE_EQ(hk_close(fa), 0);
	ct_leave();
	ct_shutdown_clean();
}

ATF_TC(unload__driver_held_by_shim);
ATF_TC_HEAD(unload__driver_held_by_shim, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "kldunload of the driver never unloads it while the shim is "
	    "loaded, also after a vetoed kldunload of the shim (which costs "
	    "the shim's file a reference, kern_linker.c linker_file_unload): "
	    "the shim holds the driver through its export API.  The clone "
	    "keeps working throughout; once the shim goes, the driver (whose "
	    "user reference the kldunload took) goes with it");
}
ATF_TC_BODY(unload__driver_held_by_shim, tc)
{
	struct ct_proc a;
	int fa, v;

	boot_load();
	ct_proc_new(&a, 1000);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fa), 0);
	ATF_REQUIRE_EQ(ct_set(&a, fa, 9), 0);
	ct_leave();
	ATF_CHECK_EQ(ct_unload_shim(T), EBUSY);
	ATF_CHECK_EQ(hs_holds(), 1);
	(void)hk_kldunload(T->driver);
	(void)hk_kldunload(T->driver);
	ATF_CHECK(hk_kld_isloaded(T->driver));
	ATF_CHECK(hk_kld_isloaded(T->shim));
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_get(&a, fa, &v), 0);
	ATF_CHECK_EQ(v, 9);
	ATF_REQUIRE_EQ(hk_close(fa), 0);
	ct_leave();
	hk_devfs_sync();
	if (PROCMODE) {
		ATF_CHECK_EQ(ct_unload_shim(T), EBUSY);
		ATF_CHECK(hk_kld_isloaded(T->driver));
		ct_shutdown_clean();
		return;
	}
	ATF_CHECK_EQ(ct_unload_shim(T), 0);
	ATF_CHECK(!hk_kld_isloaded(T->shim));
	ATF_CHECK(!hk_kld_isloaded(T->driver));
	ct_shutdown_clean();
}

ATF_TC(unload__load_unload_cycles);
ATF_TC_HEAD(unload__load_unload_cycles, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "load, clone, close, unload five times over: every cycle clones "
	    "and every unload succeeds");
}
ATF_TC_BODY(unload__load_unload_cycles, tc)
{
	struct ct_proc a, b;
	int fa, fb, i, v;

	if (PROCMODE)
		atf_tc_skip("a proc mode shim is never unloaded while the "
		    "system runs (proc__unload_refused_keeps_cloning)");
	boot();
	ct_proc_new(&a, 1000);
	ct_proc_new(&b, 1000);
	for (i = 0; i < 5; i++) {
		ATF_REQUIRE_EQ_MSG(ct_load(T), 0, "cycle %d", i);
		ct_enter(&a);
		ATF_REQUIRE_EQ(ct_open(T, &fa), 0);
		ATF_REQUIRE_EQ(ct_set(&a, fa, i), 0);
		ct_leave();
		ct_enter(&b);
		ATF_REQUIRE_EQ(ct_open(T, &fb), 0);
		ATF_REQUIRE_EQ(ct_set(&b, fb, -i), 0);
		ATF_REQUIRE_EQ(hk_close(fb), 0);
		ct_leave();
		ct_enter(&a);
		ATF_REQUIRE_EQ(ct_get(&a, fa, &v), 0);
		ATF_CHECK_EQ(v, i);
		ATF_REQUIRE_EQ(hk_close(fa), 0);
		ct_leave();
		hk_devfs_sync();
		ATF_REQUIRE_EQ_MSG(ct_unload_shim(T), 0, "cycle %d", i);
	}
	ct_shutdown_clean();
}

ATF_TC(limits__per_proc_uid_total);
ATF_TC_HEAD(limits__per_proc_uid_total, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "Limits: per process EMFILE, per uid and total EAGAIN (autoclone: "
	    "devfs falls back to the base node, whose instance the shim holds: "
	    "EBUSY; proc mode: one per process, EBUSY); refusals counted");
}
ATF_TC_BODY(limits__per_proc_uid_total, tc)
{
	struct ct_proc a, b, c;
	int fd[8], e, n = 0;

	ct_set_limits(T, 2, 3, 4);
	boot_load();
	ct_proc_new(&a, 1000);
	ct_proc_new(&b, 1000);
	ct_proc_new(&c, 2000);

	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fd[n++]), 0);
	e = ct_open(T, &fd[n]);
	if (PROCMODE) {
		ATF_CHECK_EQ(e, EBUSY);
		ATF_CHECK_EQ(ct_stat(T, "refused_busy"), 1);
	} else {
		ATF_REQUIRE_EQ(e, 0);
		n++;
		e = ct_open(T, &fd[n]);
		ATF_CHECK_EQ(e, AUTOCLONE ? EBUSY : EMFILE);
		ATF_CHECK_EQ(ct_stat(T, "refused_proc"), 1);
	}
	ct_leave();
	if (!PROCMODE) {
		/* uid 1000 holds 2; b may take one more, then EAGAIN. */
		ct_enter(&b);
		ATF_REQUIRE_EQ(ct_open(T, &fd[n++]), 0);
		e = ct_open(T, &fd[n]);
		ATF_CHECK_EQ(e, AUTOCLONE ? EBUSY : EAGAIN);
		ATF_CHECK_EQ(ct_stat(T, "refused_uid"), 1);
		ct_leave();
		/* total 4: c gets one, then the total refuses. */
		ct_enter(&c);
		ATF_REQUIRE_EQ(ct_open(T, &fd[n++]), 0);
		e = ct_open(T, &fd[n]);
		ATF_CHECK_EQ(e, AUTOCLONE ? EBUSY : EAGAIN);
		ATF_CHECK_EQ(ct_stat(T, "refused_total"), 1);
		ct_leave();
		ATF_CHECK_EQ(ct_stat(T, "live"), 4);
	}
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_clone_nodes(T), AUTOCLONE ? 4 : 0);
	ATF_REQUIRE_EQ(hk_proc_exit(a.p, 0), 0);
	ATF_REQUIRE_EQ(hk_proc_exit(b.p, 0), 0);
	ATF_REQUIRE_EQ(hk_proc_exit(c.p, 0), 0);
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ct_shutdown_clean();
}

/* debug.<shim>.<what>: read (must exist) and write an int limit. */
static long
limit_get(const char *what)
{
	char name[96];
	long long v;

	snprintf(name, sizeof(name), "%s.%s", T->sysctl, what);
	ATF_REQUIRE_EQ_MSG(hk_sysctl_int(name, &v), 0, "read %s", name);
	return ((long)v);
}

static int
limit_set(const char *what, int v)
{
	char name[96];

	snprintf(name, sizeof(name), "%s.%s", T->sysctl, what);
	return (hk_sysctl(name, NULL, NULL, &v, sizeof(v)));
}

ATF_TC(limits__changed_at_run_time);
ATF_TC_HEAD(limits__changed_at_run_time, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "The limits are sysctls root can write while the shim is attached: "
	    "a lower max_total refuses the next open (autoclone: EBUSY), -1 "
	    "removes it and reads back -1, 0 restores the default (4096); a "
	    "max_per_uid below what a uid holds leaves its clones alone and "
	    "refuses its next open");
}
ATF_TC_BODY(limits__changed_at_run_time, tc)
{
	struct ct_proc a, b, c;
	int fd[3], e;

	ct_set_limits(T, 0, 0, 0);	/* the defaults of clone_shim.h */
	boot_load();
	ATF_CHECK_EQ(limit_get("max_per_proc"), 16);
	ATF_CHECK_EQ(limit_get("max_per_uid"), 256);
	ATF_CHECK_EQ(limit_get("max_total"), 4096);
	ct_proc_new(&a, 1000);
	ct_proc_new(&b, 1000);
	ct_proc_new(&c, 1000);

	ATF_REQUIRE_EQ(limit_set("max_total", 1), 0);
	ATF_CHECK_EQ(limit_get("max_total"), 1);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fd[0]), 0);
	ct_leave();
	ct_enter(&b);
	e = ct_open(T, &fd[1]);
	ct_leave();
	ATF_CHECK_EQ(e, AUTOCLONE ? EBUSY : EAGAIN);
	ATF_CHECK_EQ(ct_stat(T, "refused_total"), 1);

	ATF_REQUIRE_EQ(limit_set("max_total", -1), 0);
	ATF_CHECK_EQ(limit_get("max_total"), -1);
	ct_enter(&b);
	ATF_REQUIRE_EQ(ct_open(T, &fd[1]), 0);
	ct_leave();
	ATF_REQUIRE_EQ(limit_set("max_total", 0), 0);
	ATF_CHECK_EQ(limit_get("max_total"), 4096);

	/* uid 1000 holds 2: a limit of 1 keeps them, refuses a third. */
	ATF_REQUIRE_EQ(limit_set("max_per_uid", 1), 0);
	ATF_CHECK_EQ(ct_stat(T, "live"), 2);
	ct_enter(&c);
	e = ct_open(T, &fd[2]);
	ct_leave();
	ATF_CHECK_EQ(e, AUTOCLONE ? EBUSY : EAGAIN);
	ATF_CHECK_EQ(ct_stat(T, "refused_uid"), 1);
	ATF_REQUIRE_EQ(limit_set("max_per_uid", -7), 0);
	ATF_CHECK_EQ(limit_get("max_per_uid"), -1);
	ct_enter(&c);
	ATF_REQUIRE_EQ(ct_open(T, &fd[2]), 0);
	ct_leave();
	ATF_CHECK_EQ(ct_stat(T, "live"), 3);

	ATF_REQUIRE_EQ(hk_proc_exit(a.p, 0), 0);
	ATF_REQUIRE_EQ(hk_proc_exit(b.p, 0), 0);
	ATF_REQUIRE_EQ(hk_proc_exit(c.p, 0), 0);
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ct_shutdown_clean();
}

ATF_TC(kmalloc__open_failures_injected);
ATF_TC_HEAD(kmalloc__open_failures_injected, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "Every failable kmalloc of the open path failed in turn: the open "
	    "gets a clean errno, no record, clone or node is left, and the "
	    "next open works");
}
ATF_TC_BODY(kmalloc__open_failures_injected, tc)
{
	struct ct_proc a;
	long before, used;
	int fd, e, nth, failures = 0;

	boot_load();
	ct_proc_new(&a, 1000);
	for (nth = 1; nth < 64; nth++) {
		before = hk_kmalloc_failable_count();
		ATF_REQUIRE_EQ(hk_fail_kmalloc_nth(NULL, nth), 0);
		ct_enter(&a);
		e = ct_open(T, &fd);
		used = hk_kmalloc_failable_count() - before;
		hk_fail_kmalloc_nth(NULL, 0);
		if (e == 0)
			ATF_REQUIRE_EQ(hk_close(fd), 0);
		ct_leave();
		hk_devfs_sync();
		ATF_CHECK_EQ_MSG(ct_stat(T, "live"), 0, "nth %d", nth);
		ATF_CHECK_EQ_MSG(ct_clone_nodes(T), 0, "nth %d", nth);
		if (e != 0) {
			failures++;
			ATF_CHECK_MSG(e == ENOMEM || (AUTOCLONE && e == EBUSY),
			    "nth %d: open failed with %d", nth, e);
		}
		if (used < nth)
			break;	/* the injection was never reached: done */
	}
	ATF_CHECK_MSG(failures > 0, "no allocation point was reached");
	/* Still works. */
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fd), 0);
	ATF_REQUIRE_EQ(hk_close(fd), 0);
	ct_leave();
	ct_shutdown_clean();
}

ATF_TC(kmalloc__attach_failures_injected);
ATF_TC_HEAD(kmalloc__attach_failures_injected, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "Every failable kmalloc of kldload (attach) failed in turn: as on "
	    "5.8.1, kldload returns 0 and keeps the file while MOD_LOAD's "
	    "error leaves no module; nothing of the shim stays attached (the "
	    "device is single-instance), the empty file unloads, and a later "
	    "load works");
}
ATF_TC_BODY(kmalloc__attach_failures_injected, tc)
{
	struct ct_proc a, b;
	long before, used;
	int e, nth, fa, fb, failures = 0;

	boot();
	ATF_REQUIRE_EQ(hk_kldload(T->driver, NULL), 0);
	ct_proc_new(&a, 1000);
	ct_proc_new(&b, 1000);
	for (nth = 1; nth < 64; nth++) {
		before = hk_kmalloc_failable_count();
		ATF_REQUIRE_EQ(hk_fail_kmalloc_nth(NULL, nth), 0);
		e = hk_kldload(T->shim, NULL);
		used = hk_kmalloc_failable_count() - before;
		hk_fail_kmalloc_nth(NULL, 0);
		/* 5.8.1: module_register_init swallows MOD_LOAD's error. */
		ATF_REQUIRE_EQ_MSG(e, 0, "kldload failing #%d", nth);
		ATF_CHECK(hk_kld_isloaded(T->shim));
		if (ct_registered(T) && PROCMODE) {
			/* Loaded for good: nothing more to inject. */
			break;
		} else if (ct_registered(T)) {
			ATF_REQUIRE_EQ(ct_unload_shim(T), 0);
		} else {
			failures++;
			/* Nothing left: single-instance. */
			ct_enter(&a);
			ATF_REQUIRE_EQ(ct_open(T, &fa), 0);
			ct_leave();
			ct_enter(&b);
			ATF_CHECK_EQ(ct_open(T, &fb), EBUSY);
			ct_leave();
			ct_enter(&a);
			ATF_REQUIRE_EQ(hk_close(fa), 0);
			ct_leave();
			/* The empty file unloads. */
			ATF_REQUIRE_EQ(ct_unload_shim(T), 0);
			ATF_CHECK(!hk_kld_isloaded(T->shim));
		}
		if (used < nth)
			break;
	}
	ATF_CHECK(failures > 0);
	if (!hk_kld_isloaded(T->shim))
		ATF_REQUIRE_EQ(ct_load(T), 0);
	ct_shutdown_clean();
}

ATF_TC(kmalloc__sysctl_close_unload_failures_injected);
ATF_TC_HEAD(kmalloc__sysctl_close_unload_failures_injected, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "Each failable kmalloc in turn failed while reading the listing "
	    "(ENOMEM or the full listing, never a partial one), while closing "
	    "a clone (the close succeeds and the clone goes) and while "
	    "unloading the shim (it unloads, or refuses and keeps working "
	    "until a later unload): nothing leaks");
}
ATF_TC_BODY(kmalloc__sysctl_close_unload_failures_injected, tc)
{
	static char buf[4096];
	struct ct_proc p[3];
	int fd[8], nth, e, n, fails = 0, lines;
	long before;

	boot_load();
	for (n = 0; n < 3; n++) {
		ct_proc_new(&p[n], 1000);
		ct_enter(&p[n]);
		ATF_REQUIRE_EQ(ct_open(T, &fd[n]), 0);
		ct_leave();
	}
	for (nth = 1; nth < 16; nth++) {
		before = hk_kmalloc_failable_count();
		hk_fail_kmalloc_nth(NULL, nth);
		e = ct_listing(T, buf, sizeof(buf));
		hk_fail_kmalloc_nth(NULL, 0);
		ATF_CHECK_MSG(e == 0 || e == ENOMEM, "listing, failing #%d: %d",
		    nth, e);
		if (e == 0) {
			for (lines = 0, n = 0; buf[n] != '\0'; n++)
				lines += buf[n] == '\n';
			ATF_CHECK_EQ(lines, 3);
		} else
			fails++;
		if (hk_kmalloc_failable_count() - before < nth)
			break;
	}
	ATF_CHECK_MSG(fails > 0, "the listing never allocated");
	for (n = 0; n < 3; n++) {
		ct_enter(&p[n]);
		hk_fail_kmalloc_nth(NULL, 1);
		ATF_CHECK_EQ(hk_close(fd[n]), 0);
		hk_fail_kmalloc_nth(NULL, 0);
		ct_leave();
		hk_devfs_sync();
		/* proc: clones go at the device's last close or their
		 * process's exit, not at a file's close. */
		if (!PROCMODE)
			ATF_CHECK_EQ(ct_stat(T, "live"), 2 - n);
	}
	for (n = 0; n < 3; n++)
		ATF_REQUIRE_EQ(hk_proc_exit(p[n].p, 0), 0);
	hk_devfs_sync();
	for (nth = 1; nth < 32 && !PROCMODE && hk_kld_isloaded(T->shim);
	    nth++) {
		before = hk_kmalloc_failable_count();
		hk_fail_kmalloc_nth(NULL, nth);
		e = ct_unload_shim(T);
		hk_fail_kmalloc_nth(NULL, 0);
		if (e == 0)
			break;
		ATF_CHECK_MSG(e == ENOMEM || e == EBUSY, "unload, failing "
		    "#%d: %d", nth, e);
		/* Refused: the shim still clones (a new process: proc mode
		 * keeps a process's clone until it exits). */
		ct_proc_new(&p[0], 1000);
		ct_enter(&p[0]);
		ATF_CHECK_EQ(ct_open(T, &fd[0]), 0);
		ATF_CHECK_EQ(hk_close(fd[0]), 0);
		ct_leave();
		ATF_REQUIRE_EQ(hk_proc_exit(p[0].p, 0), 0);
		hk_devfs_sync();
		if (hk_kmalloc_failable_count() - before < nth)
			break;
	}
	if (hk_kld_isloaded(T->shim))
		ATF_CHECK_EQ(ct_unload_shim(T), PROCMODE ? EBUSY : 0);
	ct_shutdown_clean();
}

/* --- stress: bounded time, many threads ------------------------------- */

#define STRESS_MS	700

struct st_arg {
	struct ct_proc p;
	atomic_int *stop;
	atomic_long *ops;
	atomic_int *entered;	/* threads bound to their process */
	atomic_int fd;
	int id;
};

static void *
st_ioctl_loop(void *v)
{
	struct st_arg *a = v;
	int val;

	if (hk_thread_enter(a->p.p) != 0)
		return (NULL);
	if (a->entered != NULL)
		atomic_fetch_add(a->entered, 1);
	while (!atomic_load(a->stop)) {
		/* Any errno is fine (EBADF after the close); no crash, no
		 * sanitizer report, no leak. */
		(void)ct_get(&a->p, a->fd, &val);
		atomic_fetch_add(a->ops, 1);
	}
	hk_thread_leave();
	return (NULL);
}

ATF_TC(stress__ioctl_racing_close);
ATF_TC_HEAD(stress__ioctl_racing_close, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "Threads of 4 processes loop ioctls on their clone while another "
	    "thread of each closes and reopens it, for a bounded time");
}
ATF_TC_BODY(stress__ioctl_racing_close, tc)
{
	enum { NP = 4 };
	static struct st_arg a[NP];
	pthread_t th[NP];
	atomic_int stop = 0;
	atomic_long ops = 0;
	long t0;
	int i, fd;

	boot_load_one_chain();
	for (i = 0; i < NP; i++) {
		ct_proc_new(&a[i].p, 1000);
		a[i].stop = &stop;
		a[i].ops = &ops;
		ct_enter(&a[i].p);
		ATF_REQUIRE_EQ(ct_open(T, &fd), 0);
		atomic_store(&a[i].fd, fd);
		ct_leave();
		ATF_REQUIRE_EQ(pthread_create(&th[i], NULL, st_ioctl_loop, &a[i]), 0);
	}
	t0 = now_ms();
	while (now_ms() - t0 < STRESS_MS) {
		for (i = 0; i < NP; i++) {
			ct_enter(&a[i].p);
			if (hk_close(atomic_load(&a[i].fd)) == 0 &&
			    ct_open(T, &fd) == 0)
				atomic_store(&a[i].fd, fd);
			ct_leave();
		}
	}
	atomic_store(&stop, 1);
	for (i = 0; i < NP; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < NP; i++)
		ATF_REQUIRE_EQ(hk_proc_exit(a[i].p.p, 0), 0);
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ATF_CHECK(atomic_load(&ops) > 0);
	ct_shutdown_clean();
}

ATF_TC(stress__exit_racing_ioctl);
ATF_TC_HEAD(stress__exit_racing_ioctl, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "Processes exit (or are SIGKILLed) while their threads loop "
	    "ioctls; new processes replace them, for a bounded time");
}
ATF_TC_BODY(stress__exit_racing_ioctl, tc)
{
	enum { NP = 4 };
	static struct st_arg a[NP];
	pthread_t th[NP];
	atomic_int stop, entered;
	atomic_long ops = 0;
	long t0;
	int i, fd, round = 0;
	long before, kills = 0;

	boot_load_one_chain();
	t0 = now_ms();
	while (now_ms() - t0 < STRESS_MS) {
		atomic_store(&stop, 0);
		atomic_store(&entered, 0);
		for (i = 0; i < NP; i++) {
			ct_proc_new(&a[i].p, 1000 + i);
			a[i].stop = &stop;
			a[i].ops = &ops;
			a[i].entered = &entered;
			ct_enter(&a[i].p);
			ATF_REQUIRE_EQ(ct_open(T, &fd), 0);
			atomic_store(&a[i].fd, fd);
			ct_leave();
			ATF_REQUIRE_EQ(pthread_create(&th[i], NULL,
			    st_ioctl_loop, &a[i]), 0);
		}
		while (atomic_load(&entered) < NP)
			usleep(100);
		/* Rendezvous: every thread has looped its ioctls. */
		before = atomic_load(&ops);
		while (atomic_load(&ops) < before + 4 * NP)
			usleep(50);
		for (i = 0; i < NP; i++) {
			if ((i + round) % 2 && ++kills)
				ATF_REQUIRE_EQ(hk_kill(a[i].p.p, SIGKILL), 0);
			else
				ATF_REQUIRE_EQ(hk_proc_exit(a[i].p.p, 0), 0);
		}
		atomic_store(&stop, 1);
		for (i = 0; i < NP; i++)
			pthread_join(th[i], NULL);
		for (i = 0; i < NP; i++)
			while (hk_proc_find(a[i].p.pid) != NULL)
				usleep(500);
		round++;
	}
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ATF_CHECK_MSG(kills > 0 && round > kills / NP, "rounds %d kills %ld",
	    round, kills);
	ATF_CHECK_EQ(ct_stat(T, "opens"), (long)round * NP);
	ct_shutdown_clean();
}

struct iso_arg {
	struct ct_proc *p;
	atomic_int *stop;
	atomic_long *opened, *mismatch;
	atomic_int *entered;	/* bound before the process may exit */
	int id;
};

static void *
iso_loop(void *v)
{
	struct iso_arg *a = v;
	int *u = &a->p->buf[16 * (a->id % 64)];
	int fd, val, k, n = 0;

	if (hk_thread_enter(a->p->p) != 0) {
		atomic_fetch_add(a->entered, 1);
		return (NULL);
	}
	atomic_fetch_add(a->entered, 1);
	while (!atomic_load(a->stop)) {
		if (ct_open(T, &fd) != 0)
			continue;	/* proc: the process's second open */
		atomic_fetch_add(a->opened, 1);
		/* A word of the process's user page for this thread alone
		 * (ct_set/ct_get share one between threads). */
		val = a->id * 100000 + n++;
		*u = val;
		if (hk_ioctl(fd, HS_IOC_SET, u) == 0) {
			for (k = 0; k < 8; k++) {
				*u = -1;
				if (hk_ioctl(fd, HS_IOC_GET, u) == 0 &&
				    *u != val) {
					atomic_fetch_add(a->mismatch, 1);
					break;
				}
			}
		}
		(void)hk_close(fd);
	}
	hk_thread_leave();
	return (NULL);
}

ATF_TC(stress__one_chain_open_ioctl_close_isolated);
ATF_TC_HEAD(stress__one_chain_open_ioctl_close_isolated, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "The fp index squeezed to one chain (hash_buckets=1): 2 threads "
	    "in each of 6 processes (proc: 1, its files share its clone) "
	    "loop open, SET a value of their own, GET "
	    "it back, close, while processes exit and are replaced, for a "
	    "bounded time: every GET answers the opener's own value, opens "
	    "were cloned, nothing leaks");
}
ATF_TC_BODY(stress__one_chain_open_ioctl_close_isolated, tc)
{
	enum { NP = 6, NT = 2 };
	static struct ct_proc p[NP];
	static struct iso_arg a[NP][NT];
	pthread_t th[NP][NT];
	atomic_int stop, entered;
	atomic_long opened = 0, mismatch = 0;
	long t0, cloned = 0;
	int i, j, rounds = 0, nth;

	boot_load_one_chain();
	t0 = now_ms();
	while (now_ms() - t0 < STRESS_MS) {
		atomic_store(&stop, 0);
		atomic_store(&entered, 0);
		nth = 0;
		for (i = 0; i < NP; i++) {
			ct_proc_new(&p[i], 1000 + i);
			/* proc: a process's files share its one clone. */
			for (j = 0; j < (PROCMODE ? 1 : NT); j++) {
				a[i][j].p = &p[i];
				a[i][j].stop = &stop;
				a[i][j].opened = &opened;
				a[i][j].mismatch = &mismatch;
				a[i][j].entered = &entered;
				nth++;
				a[i][j].id = i * NT + j + 1;
				ATF_REQUIRE_EQ(pthread_create(&th[i][j], NULL,
				    iso_loop, &a[i][j]), 0);
			}
		}
		/* Rendezvous: every thread bound before any exit. */
		while (atomic_load(&entered) < nth)
			usleep(100);
		usleep(20000);
		atomic_store(&stop, 1);
		for (i = 0; i < NP; i++) {
			/* Half the processes exit with their threads still
			 * looping (their syscalls then fail), half after. */
			if ((i + rounds) % 2)
				ATF_REQUIRE_EQ(hk_proc_exit(p[i].p, 0), 0);
			for (j = 0; j < (PROCMODE ? 1 : NT); j++)
				pthread_join(th[i][j], NULL);
			if ((i + rounds) % 2 == 0)
				ATF_REQUIRE_EQ(hk_proc_exit(p[i].p, 0), 0);
		}
		rounds++;
	}
	hk_devfs_sync();
	cloned = ct_stat(T, "opens");
	ATF_CHECK_EQ(atomic_load(&mismatch), 0);
	ATF_CHECK_MSG(cloned > 0 && cloned >= atomic_load(&opened),
	    "cloned %ld of %ld opens", cloned, atomic_load(&opened));
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ct_shutdown_clean();
}

struct ou_arg {
	struct ct_proc p;
	atomic_int *stop;
	atomic_long *opened;
	atomic_int *pause, *paused;	/* quiet phases */
};

static void *
ou_open_loop(void *v)
{
	struct ou_arg *a = v;
	int fd, val;

	if (hk_thread_enter(a->p.p) != 0)
		return (NULL);
	while (!atomic_load(a->stop)) {
		if (atomic_load(a->pause)) {
			/* Rendezvous: no file open while paused. */
			atomic_fetch_add(a->paused, 1);
			while (atomic_load(a->pause) && !atomic_load(a->stop))
				usleep(100);
			atomic_fetch_sub(a->paused, 1);
			continue;
		}
		if (ct_open(T, &fd) == 0) {
			(void)ct_get(&a->p, fd, &val);
			(void)hk_close(fd);
			atomic_fetch_add(a->opened, 1);
		}
	}
	hk_thread_leave();
	return (NULL);
}

ATF_TC(stress__open_racing_unload);
ATF_TC_HEAD(stress__open_racing_unload, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "Threads of 6 processes open, use and close while the shim is "
	    "unloaded and reloaded in a loop (autoclone: the D_QUICK, vnode "
	    "lock, handler removal protocol of docs/devfs-clone-bug.md), for a "
	    "bounded time: never a crash or a sanitizer report");
}
ATF_TC_BODY(stress__open_racing_unload, tc)
{
	enum { NP = 6 };
	static struct ou_arg a[NP];
	pthread_t th[NP];
	atomic_int stop = 0, pause = 0, paused = 0;
	atomic_long opened = 0;
	long t0, tq;
	int i, e, unloads = 0, vetoes = 0, inert = 0, quiet = 0;
	long cloned = 0, o;

	boot_load_one_chain();
	for (i = 0; i < NP; i++) {
		ct_proc_new(&a[i].p, 1000 + i);
		a[i].stop = &stop;
		a[i].opened = &opened;
		a[i].pause = &pause;
		a[i].paused = &paused;
		ATF_REQUIRE_EQ(pthread_create(&th[i], NULL, ou_open_loop, &a[i]), 0);
	}
	/* At least STRESS_MS, longer (up to 5x) until a quiet phase came:
	 * a loaded machine can stall this thread past STRESS_MS in its
	 * first 100 ms. */
	t0 = tq = now_ms();
	while (now_ms() - t0 < STRESS_MS ||
	    (quiet == 0 && now_ms() - t0 < 5 * STRESS_MS)) {
		if (now_ms() - tq >= 100 && ct_registered(T)) {
			/* A quiet phase: every opener parked with no file
			 * open, so nothing lives and the unload must work. */
			atomic_store(&pause, 1);
			while (atomic_load(&paused) < NP)
				usleep(100);
			hk_devfs_sync();
			o = ct_stat(T, "opens");
			e = ct_unload_shim(T);
			/* proc mode (no D_TRACKCLOSE, clones share the device)
			 * learns of closes from the device's last close, which
			 * devfs's open count can miss under racing opens; its
			 * clones then go with their processes, which live on. */
			if (PROCMODE)	/* never unloads (docs/design.md) */
				ATF_CHECK_EQ_MSG(e, EBUSY, "proc unload: %d", e);
			else
				ATF_CHECK_EQ_MSG(e, 0, "unload with nothing open: "
				    "%d", e);
			if (e == 0) {
				unloads++;
				cloned += o;
			}
			quiet++;
			atomic_store(&pause, 0);
			tq = now_ms();
			continue;
		}
		if (hk_kld_isloaded(T->shim)) {
			int reg = ct_registered(T);

			/* Clones made by this load (the counters go with
			 * the unload). */
			o = reg ? ct_stat(T, "opens") : 0;
			e = ct_unload_shim(T);
			if (e == 0 && reg) {
				unloads++;
				cloned += o;
			} else if (e != 0)
				vetoes++;
			ATF_CHECK_MSG(e == 0 || e == EBUSY, "unload: %d", e);
		} else {
			/* Also while an opener holds the device itself
			 * (it keeps it; the shim clones every new open).
			 * On 5.8.1 a failed MOD_LOAD is no kldload error: the
			 * file would sit loaded with no module ("inert"). */
			ct_setenv_int(T, "hash_buckets", 1);
			e = ct_load(T);
			ATF_CHECK_MSG(e == 0, "load: %d", e);
			if (e == 0 && !ct_registered(T))
				inert++;
		}
	}
	atomic_store(&stop, 1);
	for (i = 0; i < NP; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < NP; i++)
		ATF_REQUIRE_EQ(hk_proc_exit(a[i].p.p, 0), 0);
	hk_devfs_sync();
	{
		long long bo = -1;

		hk_sysctl_int("debug.hsingle.base_opens", &bo);
		if (ct_registered(T))
			cloned += ct_stat(T, "opens");
		printf("opens %ld (cloned %ld), unloads %d, vetoes %d, inert "
		    "loads %d, shim loaded %d, instances %ld, base opens "
		    "%lld\n", atomic_load(&opened), cloned, unloads, vetoes,
		    inert, hk_kld_isloaded(T->shim), ct_instances(), bo);
		/* The events this case exists for. */
		ATF_CHECK_MSG(quiet > 0 && (PROCMODE ? unloads == 0 :
		    unloads > 0), "%d unloads of an attached shim in %d quiet "
		    "phases", unloads, quiet);
		ATF_CHECK_MSG(cloned > 0, "no open was cloned");
		/* Issue 13: attach never fails because the device is open. */
		ATF_CHECK_EQ(inert, 0);
	}
	if (PROCMODE)
		ATF_CHECK_EQ(unloads, 0);
	ct_shutdown_clean();
}

/* --- mode-specific ---------------------------------------------------- */

ATF_TC(autoclone__nodes_appear_and_vanish);
ATF_TC_HEAD(autoclone__nodes_appear_and_vanish, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "autoclone: each open makes a node <name>N (the devfs clone bitmap "
	    "reuses freed units); the node vanishes after the last close; "
	    "a clone node opened by name answers with the driver's EBUSY");
}
ATF_TC_BODY(autoclone__nodes_appear_and_vanish, tc)
{
	struct ct_proc a, b;
	char name[64], path[64];
	int f0, f1, fx, s;

	boot_load();
	ct_proc_new(&a, 1000);
	ct_proc_new(&b, 1000);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &f0), 0);
	ATF_REQUIRE_EQ(ct_open(T, &f1), 0);
	ct_leave();
	hk_devfs_sync();
	snprintf(name, sizeof(name), "%s0", T->node);
	ATF_CHECK(hk_devfs_exists(name));
	snprintf(name, sizeof(name), "%s1", T->node);
	ATF_CHECK(hk_devfs_exists(name));
	ATF_CHECK_EQ(ct_clone_nodes(T), 2);

	/* By name: a plain open of that cdev: the driver's own EBUSY. */
	ct_enter(&b);
	snprintf(path, sizeof(path), "/dev/%s1", T->node);
	ATF_CHECK_EQ(hk_open(path, O_RDWR, &fx), EBUSY);
	ct_leave();

	ct_enter(&a);
	ATF_REQUIRE_EQ(hk_close(f0), 0);
	ct_leave();
	hk_devfs_sync();
	snprintf(name, sizeof(name), "%s0", T->node);
	ATF_CHECK(!hk_devfs_exists(name));
	/* The freed unit is reused. */
	ct_enter(&b);
	ATF_REQUIRE_EQ(ct_open(T, &f0), 0);
	ATF_REQUIRE_EQ(ct_serial(&b, f0, &s), 0);
	ct_leave();
	hk_devfs_sync();
	ATF_CHECK(hk_devfs_exists(name));
	ATF_CHECK_EQ(ct_listing_count_pid(T, b.pid), 1);
	ATF_REQUIRE_EQ(hk_proc_exit(a.p, 0), 0);
	ATF_REQUIRE_EQ(hk_proc_exit(b.p, 0), 0);
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_clone_nodes(T), 0);
	ct_shutdown_clean();
}

ATF_TC(proc__second_open_same_process_ebusy);
ATF_TC_HEAD(proc__second_open_same_process_ebusy, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "proc mode: one clone per process: a second open in the same "
	    "process gets EBUSY, another process gets its own");
}
ATF_TC_BODY(proc__second_open_same_process_ebusy, tc)
{
	struct ct_proc a, b;
	int fa, fa2, fb;

	boot_load();
	ct_proc_new(&a, 1000);
	ct_proc_new(&b, 1000);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fa), 0);
	ATF_CHECK_EQ(ct_open(T, &fa2), EBUSY);
	ct_leave();
	ct_enter(&b);
	ATF_REQUIRE_EQ(ct_open(T, &fb), 0);
	ct_leave();
	ATF_CHECK_EQ(ct_stat(T, "live"), 2);
	ATF_REQUIRE_EQ(hk_proc_exit(a.p, 0), 0);
	ATF_CHECK_EQ(ct_stat(T, "live"), 1);
	ATF_REQUIRE_EQ(hk_proc_exit(b.p, 0), 0);
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ct_shutdown_clean();
}

/* --- what the shim refuses to wrap, and what it forwards -------------- */

ATF_TC(attach__refuses_drivers_it_cannot_keep_safe);
ATF_TC_HEAD(attach__refuses_drivers_it_cannot_keep_safe, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "The shim's MOD_LOAD fails with ENODEV (kldload returns 0 and "
	    "keeps the empty file, as 5.8.1 does), leaving the driver as it "
	    "was (single-instance), for a driver without D_MPSAFE or with its "
	    "own d_mmap, d_mmap_single, d_kqfilter or d_uksmap");
}
ATF_TC_BODY(attach__refuses_drivers_it_cannot_keep_safe, tc)
{
	static const char *variants[] = {
		"nompsafe", "mmap", "mmap_single", "kqfilter", "uksmap",
	};
	struct ct_proc a, b;
	unsigned i;
	int fa, fb;

	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		boot();
		ATF_REQUIRE_EQ(hk_setenv("hw.hsingle.variant", variants[i]), 0);
		ATF_REQUIRE_EQ(hk_kldload(T->driver, NULL), 0);
		/* MOD_LOAD fails with ENODEV; as on 5.8.1 kldload still
		 * returns 0 and keeps the file, with no module. */
		ATF_CHECK_EQ_MSG(hk_kldload(T->shim, NULL), 0,
		    "variant %s", variants[i]);
		ATF_CHECK_MSG(!ct_registered(T), "variant %s", variants[i]);
		ATF_CHECK_EQ(ct_unload_shim(T), 0);
		ATF_CHECK_MSG(!hk_kld_isloaded(T->shim), "variant %s",
		    variants[i]);
		ATF_CHECK_EQ(hs_holds(), 0);
		ct_proc_new(&a, 1000);
		ct_proc_new(&b, 1000);
		ct_enter(&a);
		ATF_REQUIRE_EQ(ct_open(T, &fa), 0);
		ct_leave();
		ct_enter(&b);
		ATF_CHECK_EQ(ct_open(T, &fb), EBUSY);
		ct_leave();
		ct_enter(&a);
		ATF_REQUIRE_EQ(hk_close(fa), 0);
		ct_leave();
		ct_shutdown_clean();
	}
}

ATF_TC(forward__device_operations_reach_driver);
ATF_TC_HEAD(forward__device_operations_reach_driver, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "With the shim loaded, d_psize and d_revoke of the device reach "
	    "the driver's own functions (kern_device.c dev_dpsize, "
	    "dev_drevoke), not the kernel's defaults");
}
ATF_TC_BODY(forward__device_operations_reach_driver, tc)
{
	boot_load();
	ATF_CHECK_EQ(ct_stat_path("debug.hsingle.psize"), 4242);
	ATF_CHECK_EQ(ct_stat_path("debug.hsingle.revoke"), 1);
	ATF_CHECK_EQ(ct_stat_path("debug.hsingle.revoke"), 2);
	ct_shutdown_clean();
}

ATF_TC(proc__unload_refused_keeps_cloning);
ATF_TC_HEAD(proc__unload_refused_keeps_cloning, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "proc mode: kldunload of the shim is EBUSY even with no clone "
	    "(its at_exit entry cannot be removed safely: kern_exit.c exit1 "
	    "walks exit_list unlocked, rm_at_exit frees at once), and the "
	    "shim keeps cloning and reaping at exit after each refusal");
}
ATF_TC_BODY(proc__unload_refused_keeps_cloning, tc)
{
	struct ct_proc a, b;
	int fa, fb, i, v;

	boot_load();
	for (i = 0; i < 3; i++) {
		ATF_CHECK_EQ_MSG(ct_unload_shim(T), EBUSY, "try %d", i);
		ATF_REQUIRE(hk_kld_isloaded(T->shim));
		ct_proc_new(&a, 1000);
		ct_proc_new(&b, 1000);
		ct_enter(&a);
		ATF_REQUIRE_EQ(ct_open(T, &fa), 0);
		ATF_REQUIRE_EQ(ct_set(&a, fa, 10 + i), 0);
		ct_leave();
		ct_enter(&b);
		ATF_REQUIRE_EQ(ct_open(T, &fb), 0);
		ATF_REQUIRE_EQ(ct_set(&b, fb, 20 + i), 0);
		ct_leave();
		ct_enter(&a);
		ATF_REQUIRE_EQ(ct_get(&a, fa, &v), 0);
		ATF_CHECK_EQ(v, 10 + i);
		ct_leave();
		/* The exit hook still reaps: no close, just exits. */
		ATF_REQUIRE_EQ(hk_proc_exit(a.p, 0), 0);
		ATF_REQUIRE_EQ(hk_proc_exit(b.p, 0), 0);
		ATF_CHECK_EQ(ct_stat(T, "live"), 0);
		ATF_CHECK_EQ(ct_instances(), 1);	/* the held base */
	}
	ct_shutdown_clean();
}

#include "clone_life_cases.c"

/* autoclone: orphans, records whose clone never got its open. */

/* An open whose clone node cannot be made (injected): 5.8.1 opens the
 * base device instead, which the shim holds: the driver's EBUSY, and the
 * handler's record is left unopened. */
static void
orphan_open(struct ct_proc *p)
{
	int fd;

	ATF_REQUIRE_EQ(hk_fail_clone_node(1), 0);
	ct_enter(p);
	ATF_CHECK_EQ(ct_open(T, &fd), EBUSY);
	ct_leave();
	hk_fail_clone_node(0);
	ATF_REQUIRE_EQ(ct_stat(T, "live"), 1);
}

ATF_TC(autoclone__orphan_reaped_at_unload);
ATF_TC_HEAD(autoclone__orphan_reaped_at_unload, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "autoclone: a record whose clone node could not be made (injected "
	    "at devfs_spec_open) keeps the unload refused while its process "
	    "lives (it may be an open in flight), and is reaped by the unload "
	    "once the process is gone: the unload succeeds, nothing leaks");
}
ATF_TC_BODY(autoclone__orphan_reaped_at_unload, tc)
{
	struct ct_proc a;

	boot_load();
	ct_proc_new(&a, 1000);
	orphan_open(&a);
	ATF_CHECK_EQ(ct_unload_shim(T), EBUSY);
	ATF_REQUIRE_EQ(hk_proc_exit(a.p, 0), 0);
	ATF_CHECK_EQ(ct_stat(T, "live"), 1);	/* no exit hook */
	ATF_CHECK_EQ(ct_unload_shim(T), 0);
	ATF_CHECK(!hk_kld_isloaded(T->shim));
	ct_shutdown_clean();
}

ATF_TC(autoclone__orphan_reaped_when_limit_refuses);
ATF_TC_HEAD(autoclone__orphan_reaped_when_limit_refuses, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "autoclone: with max_total 1, an orphan of a gone process is "
	    "reaped when a limit would refuse the next open, which then "
	    "succeeds; an orphan of a live process is not");
}
ATF_TC_BODY(autoclone__orphan_reaped_when_limit_refuses, tc)
{
	struct ct_proc a, b;
	int fd;

	boot();
	ct_set_limits(T, 0, 0, 1);
	ATF_REQUIRE_EQ(ct_load(T), 0);
	ATF_REQUIRE(ct_registered(T));
	ct_proc_new(&a, 1000);
	ct_proc_new(&b, 1001);
	orphan_open(&a);
	ct_enter(&b);
	ATF_CHECK_EQ(ct_open(T, &fd), EBUSY);	/* total 1: a's orphan */
	ct_leave();
	ATF_REQUIRE_EQ(hk_proc_exit(a.p, 0), 0);
	ct_enter(&b);
	ATF_REQUIRE_EQ(ct_open(T, &fd), 0);	/* reaped, then cloned */
	ATF_CHECK_EQ(ct_stat(T, "live"), 1);
	ATF_CHECK_EQ(hk_close(fd), 0);
	ct_leave();
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_stat(T, "live"), 0);
	ct_shutdown_clean();
}

/* autoclone: an open of a clone node by name, stalled before d_open. */
static struct hk_proc *volatile sn_proc;	/* the process to stall */
static atomic_int sn_parked, sn_go;

static void
sn_pause(const char *devname)
{
	char want[64];

	snprintf(want, sizeof(want), "%s0", T->node);
	if (hk_curproc() == NULL || hk_curproc() != sn_proc ||
	    strcmp(devname, want) != 0)
		return;
	atomic_store(&sn_parked, 1);
	while (!atomic_load(&sn_go))
		usleep(1000);
}

struct sn_open {
	struct ct_proc *p;
	int error;
	int fd;
};

static void *
sn_open_main(void *arg)
{
	struct sn_open *o = arg;
	char path[64];

	snprintf(path, sizeof(path), "/dev/%s0", T->node);
	if (hk_thread_enter(o->p->p) != 0) {
		o->error = -1;
		return (NULL);
	}
	o->error = hk_open(path, O_RDWR, &o->fd);
	if (o->error == 0)
		(void)hk_close(o->fd);
	hk_thread_leave();
	return (NULL);
}

ATF_TC(autoclone__open_by_name_outlives_unload);
ATF_TC_HEAD(autoclone__open_by_name_outlives_unload, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "autoclone: an open of a clone node by name (/dev/<name>0) holds "
	    "the node's vnode, and so its cdev, and is stalled before d_open "
	    "while the clone's last close destroys the cdev and the shim "
	    "unloads; it then calls the cdev's d_open.  That cdev's ops must "
	    "outlive the shim and no longer lead into the module: the open "
	    "fails cleanly (the kernel's dead-device ENODEV), the shim loads "
	    "and clones again, nothing leaks (the fuzz finding "
	    "autoclone_open_racing_unload: the ops were in the freed shim)");
}
ATF_TC_BODY(autoclone__open_by_name_outlives_unload, tc)
{
	struct ct_proc a, b;
	struct sn_open o;
	pthread_t th;
	int fd, i;

	boot_load();
	ct_proc_new(&a, 1000);
	ct_proc_new(&b, 1000);
	ct_enter(&a);
	ATF_REQUIRE_EQ(ct_open(T, &fd), 0);		/* <name>0 */
	ct_leave();
	hk_devfs_sync();
	ATF_REQUIRE_EQ(ct_clone_nodes(T), 1);

	sn_proc = b.p;
	hk_set_devfs_open_pause(sn_pause);
	o.p = &b;
	o.error = -2;
	ATF_REQUIRE_EQ(pthread_create(&th, NULL, sn_open_main, &o), 0);
	for (i = 0; i < 5000 && !atomic_load(&sn_parked); i++)
		usleep(1000);
	ATF_REQUIRE_MSG(atomic_load(&sn_parked), "the open by name never "
	    "reached d_open");

	/* The clone's last close, then the unload: nothing lives. */
	ct_enter(&a);
	ATF_CHECK_EQ(hk_close(fd), 0);
	ct_leave();
	hk_devfs_sync();
	ATF_CHECK_EQ(ct_clone_nodes(T), 0);
	ATF_CHECK_EQ(ct_unload_shim(T), 0);
	ATF_CHECK(!hk_kld_isloaded(T->shim));

	atomic_store(&sn_go, 1);
	pthread_join(th, NULL);
	hk_set_devfs_open_pause(NULL);
	ATF_CHECK_EQ_MSG(o.error, ENODEV, "open of the destroyed clone "
	    "after the unload: %d", o.error);

	/* The shim comes back and clones. */
	ATF_REQUIRE_EQ(ct_load(T), 0);
	ATF_REQUIRE(ct_registered(T));
	ct_enter(&a);
	ATF_CHECK_EQ(ct_open(T, &fd), 0);
	ATF_CHECK_EQ(hk_close(fd), 0);
	ct_leave();
	ATF_REQUIRE_EQ(hk_proc_exit(a.p, 0), 0);
	ATF_REQUIRE_EQ(hk_proc_exit(b.p, 0), 0);
	hk_devfs_sync();
	ct_shutdown_clean();
}

/* autoclone: opens of clone nodes by name racing the clones' closes and
 * the shim's unloads. */
struct bn_arg {
	struct ct_proc p;
	atomic_int *stop;
	atomic_long *tries;	/* opens by name */
	atomic_long *gone;	/* ... that reached a gone clone's d_open */
	atomic_long *unloaded;	/* ... whose shim had unloaded meanwhile */
	int byname;
};
static struct hk_proc *volatile bn_slow[2];	/* the openers by name */

/* An opener by name loses its CPU for 3 ms before d_open, holding the
 * node's vnode: long enough for a close and an unload to pass. */
static void
bn_pause(const char *devname)
{
	struct hk_proc *p = hk_curproc();

	if (p != NULL && (p == bn_slow[0] || p == bn_slow[1]) &&
	    strncmp(devname, T->node, strlen(T->node)) == 0)
		usleep(3000);
}

static void *
bn_loop(void *v)
{
	struct bn_arg *a = v;
	char path[64];
	int fd, e, unit = 0;

	if (hk_thread_enter(a->p.p) != 0)
		return (NULL);
	while (!atomic_load(a->stop)) {
		if (!a->byname) {
			/* A clone for a while, then a gap the unload fits in. */
			if (ct_open(T, &fd) == 0) {
				usleep(300);
				(void)hk_close(fd);
			}
			usleep(1000);
			continue;
		}
		snprintf(path, sizeof(path), "/dev/%s%d", T->node, unit);
		unit = (unit + 1) % 2;
		e = hk_open(path, O_RDWR, &fd);
		if (e == 0)
			(void)hk_close(fd);
		atomic_fetch_add(a->tries, 1);
		/* ENXIO: the clone (or its shim) went before d_open;
		 * ENODEV: the shim had unloaded (its retired ops). */
		if (e == ENXIO || e == ENODEV)
			atomic_fetch_add(a->gone, 1);
		if (e == ENODEV)
			atomic_fetch_add(a->unloaded, 1);
	}
	hk_thread_leave();
	return (NULL);
}

ATF_TC(autoclone__open_by_name_racing_unload);
ATF_TC_HEAD(autoclone__open_by_name_racing_unload, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "autoclone: threads of 2 processes open and close /dev/<name> (a "
	    "clone each time) while threads of 2 others open /dev/<name>0 and "
	    "/dev/<name>1 by name (each stalled 3 ms before d_open, holding "
	    "the node), and the shim is unloaded and reloaded in a loop, for "
	    "a bounded time: an open by name that reaches a clone whose shim "
	    "went fails cleanly; never a crash or a sanitizer report (the "
	    "fuzz finding autoclone_open_racing_unload)");
}
ATF_TC_BODY(autoclone__open_by_name_racing_unload, tc)
{
	enum { NP = 4 };
	static struct bn_arg a[NP];
	pthread_t th[NP];
	atomic_int stop = 0;
	atomic_long tries = 0, gone = 0, unloaded = 0;
	long t0;
	int i, e, unloads = 0, vetoes = 0;

	boot_load();
	for (i = 0; i < NP; i++) {
		ct_proc_new(&a[i].p, 1000 + i);
		a[i].stop = &stop;
		a[i].tries = &tries;
		a[i].gone = &gone;
		a[i].unloaded = &unloaded;
		a[i].byname = i % 2;
		if (a[i].byname)
			bn_slow[i / 2] = a[i].p.p;
	}
	hk_set_devfs_open_pause(bn_pause);
	for (i = 0; i < NP; i++)
		ATF_REQUIRE_EQ(pthread_create(&th[i], NULL, bn_loop, &a[i]), 0);
	/* At least STRESS_MS, longer (up to 5x) until 3 opens by name met
	 * a clone of an unloaded shim: the event this case exists for. */
	t0 = now_ms();
	while (now_ms() - t0 < STRESS_MS || (atomic_load(&unloaded) < 3 &&
	    now_ms() - t0 < 5 * STRESS_MS)) {
		if (ct_registered(T)) {
			e = ct_unload_shim(T);
			ATF_CHECK_MSG(e == 0 || e == EBUSY, "unload: %d", e);
			if (e == 0)
				unloads++;
			else
				vetoes++;
		} else {
			e = ct_load(T);
			ATF_CHECK_MSG(e == 0 && ct_registered(T), "load: %d", e);
		}
	}
	atomic_store(&stop, 1);
	for (i = 0; i < NP; i++)
		pthread_join(th[i], NULL);
	hk_set_devfs_open_pause(NULL);
	for (i = 0; i < NP; i++)
		ATF_REQUIRE_EQ(hk_proc_exit(a[i].p.p, 0), 0);
	hk_devfs_sync();
	printf("unloads %d, vetoes %d, opens by name %ld, of a gone clone "
	    "%ld, of an unloaded shim's clone %ld\n", unloads, vetoes,
	    atomic_load(&tries), atomic_load(&gone), atomic_load(&unloaded));
	ATF_CHECK_MSG(unloads > 0, "no unload");
	ATF_CHECK_MSG(atomic_load(&unloaded) > 0, "no open by name reached "
	    "a clone of an unloaded shim");
	ct_shutdown_clean();
}

/* proc: a walker of exit1's exit_list stalled on the shim's entry. */
static atomic_int pw_parked, pw_go;

static void
pw_pause(void *fn)
{
	const char *m = hk_addr_module_name(fn);

	if (m == NULL || strcmp(m, T->shim) != 0)
		return;
	atomic_store(&pw_parked, 1);
	while (!atomic_load(&pw_go))
		usleep(1000);
}

static void *
pw_exit_main(void *arg)
{
	(void)hk_proc_exit(arg, 0);
	return (NULL);
}

static void *
pw_unload_main(void *arg)
{
	*(int *)arg = ct_unload_shim(T);
	return (NULL);
}

ATF_TC(proc__unload_under_stalled_exit_walker);
ATF_TC_HEAD(proc__unload_under_stalled_exit_walker, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "proc: 5.8.1's exit1 walks exit_list unlocked; a process holds "
	    "the shim's entry but has lost its CPU before calling it "
	    "(P_POSTEXIT set) while the shim unloads.  Before issue 13 the "
	    "shim waited a bounded time, then rm_at_exit freed the entry "
	    "under the walker (this case died); proc mode now refuses every "
	    "unload with EBUSY, and the walker goes on safely");
}
ATF_TC_BODY(proc__unload_under_stalled_exit_walker, tc)
{
	struct ct_proc a;
	pthread_t te, tu;
	int i, e = -1;

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
	atf_tc_skip("under TSan the use after free shows as a race report, "
	    "not a crash; the plain and ASan runs check it");
#endif
#endif
	boot_load();
	ct_proc_new(&a, 1000);
	hk_set_exit_walk_pause(pw_pause);
	ATF_REQUIRE_EQ(pthread_create(&te, NULL, pw_exit_main, a.p), 0);
	for (i = 0; i < 5000 && !atomic_load(&pw_parked); i++)
		usleep(1000);
	ATF_REQUIRE_MSG(atomic_load(&pw_parked), "the exiting process never "
	    "reached the shim's exit_list entry");
	ATF_REQUIRE_EQ(pthread_create(&tu, NULL, pw_unload_main, &e), 0);
	/* A safe unload waits (or refuses); give it 3 s, then let the
	 * walker go either way. */
	for (i = 0; i < 3000 && e == -1; i++)
		usleep(1000);
	if (e == 0)
		atf_tc_expect_death("issue 13: the shim's bounded wait "
		    "gave up and rm_at_exit freed the entry the stalled exit1 "
		    "walker holds");
	atomic_store(&pw_go, 1);
	pthread_join(te, NULL);
	pthread_join(tu, NULL);
	hk_set_exit_walk_pause(NULL);
	ATF_CHECK_EQ_MSG(e, EBUSY, "kldunload: %d", e);
	ct_shutdown_clean();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, open__second_open_ebusy_without_shim);
	ATF_TP_ADD_TC(tp, open__each_open_own_instance);
	ATF_TP_ADD_TC(tp, open__readonly_refused_clean);
	ATF_TP_ADD_TC(tp, open__64_concurrent_procs);
	ATF_TP_ADD_TC(tp, dup__shares_clone);
	ATF_TP_ADD_TC(tp, fork__child_shares_clone);
	ATF_TP_ADD_TC(tp, close__last_close_destroys_that_clone);
	ATF_TP_ADD_TC(tp, exit__reclaims_without_close);
	ATF_TP_ADD_TC(tp, kill__during_ioctl_loses_nothing);
	ATF_TP_ADD_TC(tp, unload__refused_while_clone_lives);
	ATF_TP_ADD_TC(tp, unload__driver_held_by_shim);
	ATF_TP_ADD_TC(tp, unload__load_unload_cycles);
	ATF_TP_ADD_TC(tp, limits__per_proc_uid_total);
	ATF_TP_ADD_TC(tp, limits__changed_at_run_time);
	ATF_TP_ADD_TC(tp, kmalloc__open_failures_injected);
	ATF_TP_ADD_TC(tp, kmalloc__attach_failures_injected);
	ATF_TP_ADD_TC(tp, kmalloc__sysctl_close_unload_failures_injected);
	ATF_TP_ADD_TC(tp, stress__ioctl_racing_close);
	ATF_TP_ADD_TC(tp, stress__exit_racing_ioctl);
	ATF_TP_ADD_TC(tp, stress__open_racing_unload);
	ATF_TP_ADD_TC(tp, attach__refuses_drivers_it_cannot_keep_safe);
	ATF_TP_ADD_TC(tp, forward__device_operations_reach_driver);
	ATF_TP_ADD_TC(tp, stress__one_chain_open_ioctl_close_isolated);
	if (AUTOCLONE) {
		ATF_TP_ADD_TC(tp, autoclone__nodes_appear_and_vanish);
		ATF_TP_ADD_TC(tp, autoclone__orphan_reaped_at_unload);
		ATF_TP_ADD_TC(tp, autoclone__orphan_reaped_when_limit_refuses);
		ATF_TP_ADD_TC(tp, autoclone__open_by_name_outlives_unload);
		ATF_TP_ADD_TC(tp, autoclone__open_by_name_racing_unload);
	}
	if (PROCMODE) {
		ATF_TP_ADD_TC(tp, proc__second_open_same_process_ebusy);
		ATF_TP_ADD_TC(tp, proc__unload_under_stalled_exit_walker);
		ATF_TP_ADD_TC(tp, proc__unload_refused_keeps_cloning);
	}
	return (life_add_tcs(tp));
}
