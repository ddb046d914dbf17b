/*
 * kqt.h: the target suite's case framework (runs on the real DragonFly
 * kernel, as /sbin/init in the QEMU guest or as a program on a DragonFly
 * host).
 *
 * A suite is a list of cases run in order; each case runs in its own forked
 * process with a time limit, so a crash or hang of one case is reported as
 * that case's failure and the suite goes on.  Every case prints exactly one
 * line:  <suite>:<case> passed | failed: <reason> | skipped: <reason>
 * A case returns NULL on success, t_fail(...) or t_skip(...) otherwise.
 * Locking: none; the framework is single-threaded per process.
 */
#ifndef KQT_H
#define KQT_H

#include "../rt/rt.h"

typedef const char *(*kqt_case_fn)(void);

struct kqt_case {
	const char *name;
	kqt_case_fn fn;
	int timeout_s;		/* 0: the default (60 s) */
};

struct kqt_suite {
	const char *name;
	const char *(*setup)(void);	/* in the runner; non-NULL = reason to skip all */
	void (*teardown)(void);
	const struct kqt_case *cases;	/* ends with { NULL } */
};

const char *t_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *t_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CHECK(cond, ...) do {						\
	if (!(cond))							\
		return t_fail(__VA_ARGS__);				\
} while (0)
/* A call that must fail with exactly this errno. */
#define CHECK_ERR(expr, err, what) do {					\
	errno = 0;							\
	long _r = (long)(expr);						\
	if (_r != -1 || errno != (err))					\
		return t_fail("%s: got %ld/%s, want -1/%s", (what), _r,	\
		    strerror(errno), strerror(err));			\
} while (0)
#define CHECK_OK(expr, what) do {					\
	errno = 0;							\
	long _r = (long)(expr);						\
	if (_r == -1)							\
		return t_fail("%s: %s", (what), strerror(errno));	\
} while (0)

/* Runs a suite; returns the number of failed cases. */
int kqt_run_suite(const struct kqt_suite *s, const char *label);
extern int kqt_passed, kqt_failed, kqt_skipped;

/* Common helpers for the module suites. */
int kqt_wait_node(const char *path, int flags, long ms);	/* open, retrying ENOENT */
int kqt_load(const char *name);		/* kldload /boot/modules/NAME.ko or ./NAME.ko; fileid or -1 */
int kqt_unload(const char *name);	/* kldunload by name: 0 / -1 errno (ENOENT if not loaded) */
int kqt_loaded(const char *name);	/* kldfind != -1 */
const char *kqt_module_dir(void);
void kqt_set_module_dir(const char *dir);	/* default /boot/modules */
int kqt_run_child(int (*fn)(void *), void *arg, int timeout_s, int *status);

#endif
