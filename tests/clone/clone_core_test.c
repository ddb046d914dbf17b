/*
 * clone_core_test.c - the shim's hermetic core (kmod/clone/clone_core*.cc)
 * alone, on an OS interface of this file's own (clone_os_*: calloc, pthread
 * spinlocks that count how often the table lock is taken and assert it is
 * free between calls), so the orders a reaper can meet are written out
 * step by step instead of hoped for under load.
 *
 * What it checks: a reaper ends the record it found, never another one
 * that took its key meanwhile (a reused cdev address or pid) nor one a
 * second reaper already ended; a walk hands out only published records it
 * could reference; a walk holds the table lock one chunk at a time, lists
 * every record that lived throughout exactly once, and lets opens and
 * closes run between its chunks; the count of never-opened records.
 *
 * Locking: the stress case's threads share only the core and atomics.
 */
#include <atf-c.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clone/clone_core.h"

/*
 * LeakSanitizer: libatf-c keeps its test-case list until exit (not ours;
 * the cases check the core's own records).  Without the host kernel,
 * which carries the same suppressions, this program says so itself.
 */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return ("leak:atf_tp_get_tcs\nleak:libatf-c.so\n");
}

const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return ("print_suppressions=0:abort_on_error=1");
}

/* --- the OS interface ------------------------------------------------- */

struct clone_os_spin {
	int		n;
	int		is_table;	/* created with n == 1: the table lock */
	pthread_spinlock_t l[];
};

static atomic_long table_takes;		/* table lock acquisitions */
static atomic_int table_held;		/* table lock held now */

void *
clone_os_alloc(size_t size)
{
	return (calloc(1, size));
}

void
clone_os_free(void *p)
{
	free(p);
}

struct clone_os_spin *
clone_os_spin_create(int n)
{
	struct clone_os_spin *s;
	int i;

	s = calloc(1, sizeof(*s) + sizeof(pthread_spinlock_t) * (size_t)n);
	if (s == NULL)
		return (NULL);
	s->n = n;
	s->is_table = (n == 1);
	for (i = 0; i < n; i++)
		pthread_spin_init(&s->l[i], PTHREAD_PROCESS_PRIVATE);
	return (s);
}

void
clone_os_spin_destroy(struct clone_os_spin *s, int n)
{
	int i;

	for (i = 0; i < n; i++)
		pthread_spin_destroy(&s->l[i]);
	free(s);
}

void
clone_os_spin_lock(struct clone_os_spin *s, int i)
{
	pthread_spin_lock(&s->l[i]);
	if (s->is_table) {
		atomic_fetch_add(&table_takes, 1);
		atomic_store(&table_held, 1);
	}
}

void
clone_os_spin_unlock(struct clone_os_spin *s, int i)
{
	if (s->is_table)
		atomic_store(&table_held, 0);
	pthread_spin_unlock(&s->l[i]);
}

void
clone_os_panic(const char *msg)
{
	fprintf(stderr, "clone core panic: %s\n", msg);
	abort();
}

int
clone_os_errno(int which)
{
	return (1000 + which);	/* distinct, never 0 */
}

/* --- a core with a counting finalize ----------------------------------- */

static atomic_int finalized;
static struct clone_core *t_cur;	/* the core of the running case */

static void
t_finalize(void *ctx, struct clone_rec *rec)
{
	atomic_fetch_add(&finalized, 1);
	clone_core_free(t_cur, rec);
}

static struct clone_core *
t_core(void)
{
	struct clone_core_params p;

	memset(&p, 0, sizeof(p));
	p.hash_size_hint = 1024;
	p.finalize = t_finalize;
	ATF_REQUIRE_EQ(clone_core_create(&p, &t_cur), 0);
	atomic_store(&finalized, 0);
	atomic_store(&table_takes, 0);
	return (t_cur);
}

/* An open: reserve, (driver opened), publish under key. */
static struct clone_rec *
t_open(struct clone_core *c, int pid, const void *key, int opened)
{
	struct clone_rec *r;

	ATF_REQUIRE_EQ(clone_core_reserve(c, pid, 1000, NULL, &r), 0);
	if (opened)
		clone_rec_mark_driver_opened(r);
	ATF_REQUIRE_EQ(clone_core_publish(c, r, key), 0);
	return (r);
}

/* A close by key (the file's own close: its key is live). */
static void
t_close(struct clone_core *c, const void *key)
{
	struct clone_rec *r = clone_core_unpublish(c, key);

	ATF_REQUIRE(r != NULL);
	clone_core_rele(c, r);
}

/* The reaper's end of a record it holds a reference on (as the glue's
 * clone_reap_rec). */
static int
t_reap(struct clone_core *c, struct clone_rec *r)
{
	int mine = clone_core_unpublish_rec(c, r);

	if (mine)
		clone_core_rele(c, r);
	clone_core_rele(c, r);
	return (mine);
}

static int
t_collect(struct clone_core *c, enum clone_walk_kind kind, int pid,
    struct clone_rec **recs, int max)
{
	struct clone_core_walk w;
	int n = 0;

	clone_core_walk_begin(c, &w);
	while (!w.done && n < max)
		n += clone_core_walk_next(c, &w, kind, pid, recs + n, max - n);
	clone_core_walk_end(c, &w);
	return (n);
}

/* --------------------------------------------------------------------- */

ATF_TC(reap__key_reused_meanwhile_untouched);
ATF_TC_HEAD(reap__key_reused_meanwhile_untouched, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "A reaper found record A (autoclone orphan walk, key = its cdev); "
	    "A is closed and a new record B is published under the same key "
	    "(a reused address, or pid in proc mode) before the reaper acts: "
	    "the reaper ends A only, B stays published and findable");
}
ATF_TC_BODY(reap__key_reused_meanwhile_untouched, tc)
{
	struct clone_core *c = t_core();
	struct clone_rec *a, *b, *found[4], *l;
	static char key;

	a = t_open(c, 100, &key, 0);
	ATF_REQUIRE_EQ(t_collect(c, CLONE_WALK_UNOPENED, 0, found, 4), 1);
	ATF_REQUIRE(found[0] == a);
	/* Meanwhile: A's own close, and B under A's key. */
	t_close(c, &key);
	ATF_CHECK_EQ(atomic_load(&finalized), 0);	/* the reaper's ref */
	b = t_open(c, 101, &key, 0);
	/* The reaper acts on what it found. */
	ATF_CHECK_EQ(t_reap(c, found[0]), 0);
	ATF_CHECK_EQ(atomic_load(&finalized), 1);	/* A, now */
	ATF_CHECK(clone_core_find(c, &key) == b);	/* fp's lock-free lookup */
	l = clone_core_lookup(c, &key);
	ATF_CHECK(l == b);
	if (l != NULL)
		clone_core_rele(c, l);
	ATF_CHECK_EQ(clone_core_live(c), 1);
	t_close(c, &key);
	ATF_CHECK_EQ(atomic_load(&finalized), 2);
	ATF_CHECK(clone_core_find(c, &key) == NULL);
	ATF_CHECK_EQ(clone_core_begin_detach(c), 0);
	clone_core_destroy(c);
}

ATF_TC(reap__two_reapers_end_once);
ATF_TC_HEAD(reap__two_reapers_end_once, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "Two reapers (proc mode's exit hook and the device's last close) "
	    "both found record A: exactly one unpublishes it, it is finalized "
	    "once, after both let go");
}
ATF_TC_BODY(reap__two_reapers_end_once, tc)
{
	struct clone_core *c = t_core();
	struct clone_rec *r1[2], *r2[2];
	static char key;

	(void)t_open(c, 200, &key, 1);
	ATF_REQUIRE_EQ(clone_core_recs_of_pid(c, 200, r1, 2), 1);
	ATF_REQUIRE_EQ(t_collect(c, CLONE_WALK_IDLE, 200, r2, 2), 1);
	ATF_REQUIRE(r1[0] == r2[0]);
	ATF_CHECK_EQ(t_reap(c, r1[0]), 1);
	ATF_CHECK_EQ(atomic_load(&finalized), 0);
	ATF_CHECK_EQ(t_reap(c, r2[0]), 0);
	ATF_CHECK_EQ(atomic_load(&finalized), 1);
	ATF_CHECK_EQ(clone_core_live(c), 0);
	clone_core_destroy(c);
}

ATF_TC(walk__hands_out_only_published);
ATF_TC_HEAD(walk__hands_out_only_published, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "A walk never returns a record still being opened (it may yet be "
	    "aborted and freed with no reference count) nor one already "
	    "closing; the idle kind returns the closer's and the used ones, "
	    "the unopened kind the never-opened ones");
}
ATF_TC_BODY(walk__hands_out_only_published, tc)
{
	struct clone_core *c = t_core();
	struct clone_rec *opening, *recs[8], *closing;
	static char k1, k2, k3;
	int n;

	ATF_REQUIRE_EQ(clone_core_reserve(c, 300, 1000, NULL, &opening), 0);
	(void)t_open(c, 301, &k1, 1);		/* opened, unused */
	closing = t_open(c, 302, &k2, 1);
	clone_rec_count_op_call(closing);
	clone_core_ref(closing);		/* a call in flight */
	t_close(c, &k2);			/* CLOSING, still referenced */
	(void)t_open(c, 303, &k3, 0);		/* never opened */
	n = t_collect(c, CLONE_WALK_IDLE, 301, recs, 8);
	ATF_CHECK_EQ(n, 1);
	if (n == 1) {
		ATF_CHECK_EQ(clone_rec_pid(recs[0]), 301);
		clone_core_rele(c, recs[0]);
	}
	n = t_collect(c, CLONE_WALK_UNOPENED, 0, recs, 8);
	ATF_CHECK_EQ(n, 1);
	if (n == 1) {
		ATF_CHECK_EQ(clone_rec_pid(recs[0]), 303);
		clone_core_rele(c, recs[0]);
	}
	clone_core_rele(c, closing);		/* the call returns: finalized */
	ATF_CHECK_EQ(atomic_load(&finalized), 1);
	clone_core_abort(c, opening);
	t_close(c, &k1);
	t_close(c, &k3);
	ATF_CHECK_EQ(clone_core_live(c), 0);
	clone_core_destroy(c);
}

ATF_TC(walk__listing_in_chunks);
ATF_TC_HEAD(walk__listing_in_chunks, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "The listing of 1000 records takes the table lock once per chunk "
	    "of at most CLONE_CORE_WALK_CHUNK records and releases it between "
	    "chunks; opens and closes run between chunks; every record that "
	    "lived throughout is listed exactly once");
}
ATF_TC_BODY(walk__listing_in_chunks, tc)
{
	enum { N = 1000 };
	static char keys[N + 64];
	static int seen[N + 64];
	struct clone_core *c = t_core();
	struct clone_rec *extra[64];
	struct clone_core_walk w;
	char buf[CLONE_CORE_LISTING_CHUNK_BYTES + 1], *line, *save;
	long takes0;
	int i, n, chunks = 0, lines, pid, nextra = 0;

	for (i = 0; i < N; i++)
		(void)t_open(c, 10000 + i, &keys[i], 1);
	takes0 = atomic_load(&table_takes);
	clone_core_walk_begin(c, &w);
	while (!w.done) {
		n = clone_core_walk_listing(c, &w, buf, sizeof(buf) - 1);
		ATF_REQUIRE_EQ(atomic_load(&table_held), 0);
		buf[n] = '\0';
		lines = 0;
		for (line = strtok_r(buf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			ATF_REQUIRE_EQ(sscanf(line, "%*d %d", &pid), 1);
			if (pid >= 10000 && pid < 10000 + N)
				seen[pid - 10000]++;
			lines++;
		}
		ATF_CHECK(lines <= CLONE_CORE_WALK_CHUNK);
		chunks++;
		/* Between chunks: an open and a close elsewhere. */
		if (nextra < 64) {
			extra[nextra] = t_open(c, 20000 + nextra, &keys[N + nextra], 1);
			nextra++;
		}
	}
	clone_core_walk_end(c, &w);
	for (i = 0; i < N; i++)
		ATF_CHECK_EQ_MSG(seen[i], 1, "record %d listed %d times", i, seen[i]);
	ATF_CHECK(chunks >= N / CLONE_CORE_WALK_CHUNK);
	ATF_CHECK(atomic_load(&table_takes) - takes0 >= N / CLONE_CORE_WALK_CHUNK);
	for (i = 0; i < N + nextra; i++)
		t_close(c, &keys[i]);
	(void)extra;
	ATF_CHECK_EQ(clone_core_live(c), 0);
	clone_core_destroy(c);
}

ATF_TC(unopened__counted_without_walk);
ATF_TC_HEAD(unopened__counted_without_walk, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "clone_core_unopened counts published records whose driver open "
	    "has not succeeded: up at publish, down at the open or at free, "
	    "once; records opened before publish are never counted");
}
ATF_TC_BODY(unopened__counted_without_walk, tc)
{
	struct clone_core *c = t_core();
	struct clone_rec *a;
	static char k1, k2, k3;

	(void)t_open(c, 1, &k1, 1);
	ATF_CHECK_EQ(clone_core_unopened(c), 0);
	a = t_open(c, 2, &k2, 0);
	(void)t_open(c, 3, &k3, 0);
	ATF_CHECK_EQ(clone_core_unopened(c), 2);
	clone_rec_mark_driver_opened(a);
	ATF_CHECK_EQ(clone_core_unopened(c), 1);
	clone_rec_mark_driver_opened(a);
	ATF_CHECK_EQ(clone_core_unopened(c), 1);
	t_close(c, &k3);
	ATF_CHECK_EQ(clone_core_unopened(c), 0);
	t_close(c, &k1);
	t_close(c, &k2);
	ATF_CHECK_EQ(clone_core_unopened(c), 0);
	clone_core_destroy(c);
}

/* --- stress: opens, closes and reapers at once ------------------------- */

struct st {
	struct clone_core *c;
	atomic_int stop;
	atomic_long ends;
	int id;
};

static char st_keys[4][256];	/* the openers' keys, one row each */

static void *
st_opener(void *v)
{
	struct st *s = v;
	char *k = st_keys[s->id];
	int i = 0;

	while (!atomic_load(&s->stop)) {
		struct clone_rec *r;

		if (clone_core_reserve(s->c, 1 + s->id, 1000, NULL, &r) != 0)
			continue;
		if (i & 1)
			clone_rec_mark_driver_opened(r);
		if (clone_core_publish(s->c, r, &k[i % 256]) != 0) {
			clone_core_abort(s->c, r);
		} else if (i % 3 == 0) {
			/* a close of its own */
			if ((r = clone_core_unpublish(s->c, &k[i % 256])) != NULL) {
				clone_core_rele(s->c, r);
				atomic_fetch_add(&s->ends, 1);
			}
		}
		i++;
	}
	return (NULL);
}

/* fp mode's per-call lookup, racing every change of the chains and the
 * reuse of freed records (it dereferences nothing it finds: in the shim
 * the caller's file pins its record, here nothing does). */
static void *
st_finder(void *v)
{
	struct st *s = v;
	unsigned i = 0;

	while (!atomic_load(&s->stop)) {
		if (clone_core_find(s->c, &st_keys[i % 4][(i / 4) % 256]) != NULL)
			atomic_fetch_add(&s->ends, 0);
		i++;
	}
	return (NULL);
}

static void *
st_reaper(void *v)
{
	struct st *s = v;
	struct clone_rec *recs[8];
	struct clone_core_walk w;
	char buf[CLONE_CORE_LISTING_CHUNK_BYTES];
	int i, n, round = 0;

	while (!atomic_load(&s->stop)) {
		clone_core_walk_begin(s->c, &w);
		while (!w.done) {
			if (round & 1) {
				(void)clone_core_walk_listing(s->c, &w, buf,
				    sizeof(buf));
				continue;
			}
			n = clone_core_walk_next(s->c, &w, (round & 2) ?
			    CLONE_WALK_IDLE : CLONE_WALK_UNOPENED, 1, recs, 8);
			for (i = 0; i < n; i++)
				if (t_reap(s->c, recs[i]))
					atomic_fetch_add(&s->ends, 1);
		}
		clone_core_walk_end(s->c, &w);
		n = clone_core_recs_of_pid(s->c, 2, recs, 8);
		for (i = 0; i < n; i++)
			if (t_reap(s->c, recs[i]))
				atomic_fetch_add(&s->ends, 1);
		round++;
	}
	return (NULL);
}

ATF_TC(stress__opens_closes_reapers);
ATF_TC_HEAD(stress__opens_closes_reapers, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "4 threads open and close under a small set of reused keys while "
	    "2 walk, reap and list and 2 look keys up without a lock (fp's "
	    "clone_core_find), for a bounded time: every record is finalized "
	    "exactly once, nothing leaks (ASan, TSan)");
}
ATF_TC_BODY(stress__opens_closes_reapers, tc)
{
	struct st s[8];
	pthread_t th[8];
	struct clone_core *c = t_core();
	struct timespec ts = { 0, 400 * 1000 * 1000 };
	long ends = 0;
	int i, k;

	for (i = 0; i < 8; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		s[i].c = c;
		s[i].id = i < 4 ? i : 0;
		ATF_REQUIRE_EQ(pthread_create(&th[i], NULL,
		    i < 4 ? st_opener : i < 6 ? st_reaper : st_finder, &s[i]), 0);
	}
	nanosleep(&ts, NULL);
	for (i = 0; i < 8; i++)
		atomic_store(&s[i].stop, 1);
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ends += atomic_load(&s[i].ends);
	}
	/* Close what is left, by every key the openers used. */
	{
		struct clone_rec *left[64];
		int n;

		while ((n = t_collect(c, CLONE_WALK_IDLE, 0, left, 64)) > 0 ||
		    (n = t_collect(c, CLONE_WALK_UNOPENED, 0, left, 64)) > 0)
			for (k = 0; k < n; k++)
				if (t_reap(c, left[k]))
					ends++;
		/* Opened, never used, not pid 0: the idle walk left them. */
		for (i = 1; i <= 4; i++)
			while ((n = clone_core_recs_of_pid(c, i, left, 64)) > 0)
				for (k = 0; k < n; k++)
					if (t_reap(c, left[k]))
						ends++;
	}
	ATF_CHECK_EQ(clone_core_live(c), 0);
	ATF_CHECK_EQ((long)atomic_load(&finalized), ends);
	ATF_CHECK_EQ(clone_core_begin_detach(c), 0);
	clone_core_destroy(c);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, reap__key_reused_meanwhile_untouched);
	ATF_TP_ADD_TC(tp, reap__two_reapers_end_once);
	ATF_TP_ADD_TC(tp, walk__hands_out_only_published);
	ATF_TP_ADD_TC(tp, walk__listing_in_chunks);
	ATF_TP_ADD_TC(tp, unopened__counted_without_walk);
	ATF_TP_ADD_TC(tp, stress__opens_closes_reapers);
	return (atf_no_error());
}
