/*
 * kqemu_unload_test.c - kqemu.ko's MOD_UNLOAD against opens it cannot see
 * yet (ATF-C, host kernel).
 *
 * Owns: the cases for an open that has found /dev/kqemu (its lookup holds
 * a reference on the node's vnode) but has not reached d_open when the
 * unload decides.  kqemu's own state (instances, kqemu_lk) knows nothing
 * of such an open; if the unload went on, the open would call d_open in
 * an unloaded module (on 5.8.1 also: devfs frees the node under a lookup,
 * or deadlocks on it: docs/design.md §8).  The unload must refuse (EBUSY)
 * while one is in flight and succeed once none is.
 *
 * Locking: the opener threads and the unloading main thread share the
 * counters below through atomics and two semaphores; the host kernel does
 * its own.  Every case boots a fresh host kernel and ends with
 * hk_shutdown_clean(): nothing leaked, nothing reported (a cdev using the
 * dev_ops of an unloaded module is reported at kldunload).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <atf-c.h>

#include "hk.h"
#include "kqemu.h"

static void
h_boot(void)
{
	ATF_REQUIRE_EQ(hk_boot(HK_PROFILE_MODERN, NULL), 0);
	ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.engine", "conform"), 0);
	ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
	hk_devfs_sync();
}

static void
h_end(void)
{
	hk_set_devfs_open_pause(NULL);
	ATF_REQUIRE_EQ_MSG(hk_shutdown_clean(), 0, "host kernel leaked or "
	    "reported (see stderr)");
}

static long
h_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1000L + ts.tv_nsec / 1000000L);
}

/* --- one opener stopped between its lookup and d_open --------------------- */

static sem_t h_arrived, h_go;
static int h_paused;

static void
h_pause_once(const char *name)
{
	if (strcmp(name, "kqemu") != 0 ||
	    __atomic_exchange_n(&h_paused, 1, __ATOMIC_SEQ_CST))
		return;
	sem_post(&h_arrived);
	while (sem_wait(&h_go) != 0)
		;
}

struct h_opener {
	struct hk_proc	*p;
	int		error;
	int		fd;
};

static void *
h_open_once(void *arg)
{
	struct h_opener *o = arg;

	if ((o->error = hk_thread_enter(o->p)) != 0)
		return (NULL);
	o->error = hk_open("/dev/kqemu", O_RDWR, &o->fd);
	if (o->error == 0)
		o->error = hk_close(o->fd);
	hk_thread_leave();
	return (NULL);
}

ATF_TC(unload__refused_while_open_in_flight);
ATF_TC_HEAD(unload__refused_while_open_in_flight, tc)
{
	atf_tc_set_md_var(tc, "descr", "An open that holds the /dev/kqemu "
	    "vnode from its lookup but has not reached d_open makes kldunload "
	    "return EBUSY (no instance, no open count shows it); the node stays "
	    "visible, the open then succeeds, and the unload after it does too");
}
ATF_TC_BODY(unload__refused_while_open_in_flight, tc)
{
	struct h_opener o = { .fd = -1 };
	pthread_t t;
	int error;

	h_boot();
	ATF_REQUIRE_EQ(sem_init(&h_arrived, 0, 0), 0);
	ATF_REQUIRE_EQ(sem_init(&h_go, 0, 0), 0);
	h_paused = 0;
	hk_set_devfs_open_pause(h_pause_once);
	ATF_REQUIRE_EQ(hk_proc_create(0, 0, &o.p), 0);
	ATF_REQUIRE_EQ(pthread_create(&t, NULL, h_open_once, &o), 0);
	while (sem_wait(&h_arrived) != 0)
		;
	error = hk_kldunload("kqemu");
	if (error == 0)
		/* The opener would now call d_open in unmapped code. */
		atf_tc_fail("kldunload(kqemu) returned 0 with an open in flight");
	ATF_REQUIRE_EQ(error, EBUSY);
	ATF_REQUIRE(hk_kld_isloaded("kqemu"));
	ATF_REQUIRE(hk_devfs_exists("kqemu"));
	sem_post(&h_go);
	ATF_REQUIRE_EQ(pthread_join(t, NULL), 0);
	ATF_REQUIRE_EQ_MSG(o.error, 0, "the paused open: %s", strerror(o.error));
	ATF_REQUIRE_EQ(hk_kldunload("kqemu"), 0);
	hk_devfs_sync();
	ATF_REQUIRE(!hk_devfs_exists("kqemu"));
	sem_destroy(&h_arrived);
	sem_destroy(&h_go);
	h_end();
}

/* --- real threads: opens, ioctls and closes against unload/reload --------- */

#define OPENERS		3
#define RUN_MS		1500
#define QUIET_EVERY_MS	25

static int h_stop, h_quiet, h_parked, h_running;

struct h_racer {
	struct hk_proc	*p;
	long		opens, refused, calls;
	int		version;	/* user memory of p (GET_VERSION's out) */
	int		bad;		/* an errno no racing open may give */
	char		why[96];
};

/* Widen the lookup-to-d_open window: the opener loses the CPU there. */
static void
h_pause_yield(const char *name)
{
	(void)name;
	sched_yield();
}

static void *
h_racer_main(void *arg)
{
	struct h_racer *r = arg;
	int fd, error;

	if (hk_thread_enter(r->p) != 0) {
		r->bad = -1;
		__atomic_sub_fetch(&h_running, 1, __ATOMIC_SEQ_CST);
		return (NULL);
	}
	while (!__atomic_load_n(&h_stop, __ATOMIC_SEQ_CST)) {
		if (__atomic_load_n(&h_quiet, __ATOMIC_SEQ_CST)) {
			__atomic_add_fetch(&h_parked, 1, __ATOMIC_SEQ_CST);
			while (__atomic_load_n(&h_quiet, __ATOMIC_SEQ_CST))
				usleep(100);
			__atomic_sub_fetch(&h_parked, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		error = hk_open("/dev/kqemu", O_RDWR, &fd);
		if (error != 0) {
			/* ENOENT: unloaded (or hidden by an unload deciding);
			 * ENXIO: its d_open saw the unload deciding; EBUSY:
			 * another racer holds the instance. */
			if (error == ENOENT || error == ENXIO || error == EBUSY) {
				r->refused++;
				continue;
			}
			r->bad = error;
			snprintf(r->why, sizeof(r->why), "open: %s",
			    strerror(error));
			break;
		}
		r->opens++;
		/* An open file reaches its instance, whatever the unloader
		 * does: the unload must be refused meanwhile. */
		r->version = 0;
		error = hk_ioctl(fd, KQEMU_IOC_GET_VERSION, &r->version);
		if (error == 0 && r->version != KQEMU_VERSION)
			error = EINVAL;
		r->calls++;
		if (error != 0 || (error = hk_close(fd)) != 0) {
			r->bad = error;
			snprintf(r->why, sizeof(r->why), "GET_VERSION/close: %s",
			    strerror(error));
			break;
		}
	}
	hk_thread_leave();
	__atomic_sub_fetch(&h_running, 1, __ATOMIC_SEQ_CST);
	return (NULL);
}

ATF_TC(unload__racing_opens_ioctls_closes);
ATF_TC_HEAD(unload__racing_opens_ioctls_closes, tc)
{
	atf_tc_set_md_var(tc, "descr", "Three processes open, call and close "
	    "/dev/kqemu as fast as they can (each open yielding between its "
	    "lookup and d_open) while the main thread unloads and reloads "
	    "kqemu back to back, and every 25 ms in a quiet window (all "
	    "openers parked, nothing open) where the unload must succeed: "
	    "every unload either succeeds with nothing in flight or returns "
	    "EBUSY, every open file works, nothing is reported or leaked");
	atf_tc_set_md_var(tc, "timeout", "60");
}
ATF_TC_BODY(unload__racing_opens_ioctls_closes, tc)
{
	struct h_racer r[OPENERS];
	pthread_t t[OPENERS];
	long end, next_quiet, racy = 0, busy = 0, quiet = 0, opens = 0;
	int error, loaded = 1;

	h_boot();
	hk_set_devfs_open_pause(h_pause_yield);
	h_stop = h_quiet = h_parked = 0;
	h_running = OPENERS;
	for (int i = 0; i < OPENERS; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		ATF_REQUIRE_EQ(hk_proc_create(0, 0, &r[i].p), 0);
		ATF_REQUIRE_EQ(hk_proc_map_user(r[i].p, &r[i].version,
		    sizeof(r[i].version), 1), 0);
		ATF_REQUIRE_EQ(pthread_create(&t[i], NULL, h_racer_main, &r[i]), 0);
	}
	end = h_now_ms() + RUN_MS;
	next_quiet = h_now_ms() + QUIET_EVERY_MS;
	while (h_now_ms() < end &&
	    __atomic_load_n(&h_running, __ATOMIC_SEQ_CST) == OPENERS) {
		if (h_now_ms() >= next_quiet) {
			__atomic_store_n(&h_quiet, 1, __ATOMIC_SEQ_CST);
			while (__atomic_load_n(&h_parked, __ATOMIC_SEQ_CST) <
			    __atomic_load_n(&h_running, __ATOMIC_SEQ_CST))
				usleep(100);
			if (__atomic_load_n(&h_running, __ATOMIC_SEQ_CST) !=
			    OPENERS)
				break;
			if (loaded) {
				error = hk_kldunload("kqemu");
				ATF_REQUIRE_EQ_MSG(error, 0, "unload in a quiet "
				    "window: %s", strerror(error));
				quiet++;
			}
			ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
			hk_devfs_sync();
			loaded = 1;
			__atomic_store_n(&h_quiet, 0, __ATOMIC_SEQ_CST);
			next_quiet = h_now_ms() + QUIET_EVERY_MS;
			continue;
		}
		if (loaded) {
			error = hk_kldunload("kqemu");
			if (error == 0) {
				racy++;
				loaded = 0;
			} else {
				ATF_REQUIRE_EQ_MSG(error, EBUSY, "racing unload: "
				    "%s", strerror(error));
				busy++;
				usleep(50);	/* fewer refusals to print */
			}
		} else {
			ATF_REQUIRE_EQ(hk_kldload("kqemu", NULL), 0);
			loaded = 1;
		}
	}
	__atomic_store_n(&h_stop, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&h_quiet, 0, __ATOMIC_SEQ_CST);
	for (int i = 0; i < OPENERS; i++) {
		ATF_REQUIRE_EQ(pthread_join(t[i], NULL), 0);
		ATF_REQUIRE_EQ_MSG(r[i].bad, 0, "opener %d: %s", i, r[i].why);
		opens += r[i].opens;
	}
	printf("unloads: %ld racing, %ld in quiet windows; %ld EBUSY; "
	    "%ld opens\n", racy, quiet, busy, opens);
	ATF_REQUIRE(quiet > 0);
	ATF_REQUIRE(opens > 0);
	if (loaded)
		ATF_REQUIRE_EQ(hk_kldunload("kqemu"), 0);
	h_end();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, unload__refused_while_open_in_flight);
	ATF_TP_ADD_TC(tp, unload__racing_opens_ioctls_closes);
	return (atf_no_error());
}
