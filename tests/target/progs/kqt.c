/*
 * kqt.c: the case framework (see kqt.h) and module helpers.
 * Locking: none.  Each case runs in a child; its result travels back
 * through a pipe as one line of text.
 */
#include "kqt.h"

int kqt_passed, kqt_failed, kqt_skipped;
static char t_msg[400];

const char *
t_fail(const char *fmt, ...)
{
	va_list ap;

	memcpy(t_msg, "F", 2);
	va_start(ap, fmt);
	vsnprintf(t_msg + 1, sizeof(t_msg) - 1, fmt, ap);
	va_end(ap);
	return (t_msg);
}
const char *
t_skip(const char *fmt, ...)
{
	va_list ap;

	memcpy(t_msg, "S", 2);
	va_start(ap, fmt);
	vsnprintf(t_msg + 1, sizeof(t_msg) - 1, fmt, ap);
	va_end(ap);
	return (t_msg);
}

/* Waits for pid for at most timeout_s; SIGKILLs it after.  -1: timed out. */
static int
wait_timeout(pid_t pid, int timeout_s, int *status)
{
	long deadline = now_ms() + timeout_s * 1000L;
	long nap = 1;

	for (;;) {
		pid_t r = wait4(pid, status, WNOHANG, NULL);

		if (r == pid)
			return (0);
		if (r < 0 && errno != EINTR)
			return (0);
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			return (-1);
		}
		sleep_ms(nap);
		if (nap < 50)
			nap *= 2;
	}
}

int
kqt_run_child(int (*fn)(void *), void *arg, int timeout_s, int *status)
{
	pid_t pid = fork();

	if (pid < 0)
		return (-1);
	if (pid == 0)
		_exit(fn(arg));
	return (wait_timeout(pid, timeout_s, status));
}

int
kqt_run_suite(const struct kqt_suite *s, const char *label)
{
	const struct kqt_case *c;
	const char *why = NULL;
	int failed = 0;
	long t0 = now_ms();

	if (s->setup != NULL)
		why = s->setup();
	for (c = s->cases; c->name != NULL; c++) {
		char res[400];
		int fds[2], status = 0, n = 0, timeout;
		long t1 = now_ms();
		pid_t pid;

		if (why != NULL) {
			printf("%s:%s skipped: %s\n", label, c->name, why);
			kqt_skipped++;
			continue;
		}
		timeout = c->timeout_s ? c->timeout_s : 60;
		if (pipe(fds) < 0) {
			printf("%s:%s failed: pipe: %s\n", label, c->name,
			    strerror(errno));
			kqt_failed++, failed++;
			continue;
		}
		pid = fork();
		if (pid == 0) {
			const char *r;

			close(fds[0]);
			r = c->fn();
			if (r == NULL)
				r = "P";
			write(fds[1], r, strlen(r));
			_exit(0);
		}
		close(fds[1]);
		if (pid < 0) {
			close(fds[0]);
			printf("%s:%s failed: fork: %s\n", label, c->name,
			    strerror(errno));
			kqt_failed++, failed++;
			continue;
		}
		if (wait_timeout(pid, timeout, &status) < 0) {
			snprintf(res, sizeof(res), "Ftimed out after %d s", timeout);
		} else {
			ssize_t r;

			while (n < (int)sizeof(res) - 1 &&
			    (r = read(fds[0], res + n, sizeof(res) - 1 - n)) > 0)
				n += (int)r;
			res[n] = 0;
			if (n == 0) {
				if (WIFSIGNALED(status))
					snprintf(res, sizeof(res),
					    "Fcase process died of signal %d",
					    WTERMSIG(status));
				else
					snprintf(res, sizeof(res),
					    "Fcase process exited %d without a result",
					    WEXITSTATUS(status));
			}
		}
		close(fds[0]);
		if (res[0] == 'P') {
			printf("%s:%s passed (%ld ms)\n", label, c->name,
			    now_ms() - t1);
			kqt_passed++;
		} else if (res[0] == 'S') {
			printf("%s:%s skipped: %s\n", label, c->name, res + 1);
			kqt_skipped++;
		} else {
			printf("%s:%s failed: %s\n", label, c->name, res + 1);
			kqt_failed++, failed++;
		}
	}
	if (s->teardown != NULL && why == NULL)
		s->teardown();
	printf("kqt: suite %s done in %ld ms\n", label, now_ms() - t0);
	return (failed);
}

int
kqt_wait_node(const char *path, int flags, long ms)
{
	long deadline = now_ms() + ms;
	int fd;

	for (;;) {
		fd = open(path, flags);
		if (fd >= 0 || errno != ENOENT || now_ms() > deadline)
			return (fd);
		sleep_ms(10);
	}
}

static const char *moddir = "/boot/modules";

const char *
kqt_module_dir(void)
{
	return (moddir);
}

void
kqt_set_module_dir(const char *dir)
{
	moddir = dir;
}

int
kqt_load(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s.ko", moddir, name);
	return (kldload(path));
}

int
kqt_loaded(const char *name)
{
	char file[128];

	snprintf(file, sizeof(file), "%s.ko", name);
	return (kldfind(file) >= 0);
}

int
kqt_unload(const char *name)
{
	char file[128];
	int id;

	snprintf(file, sizeof(file), "%s.ko", name);
	id = kldfind(file);
	if (id < 0)
		return (-1);
	return (kldunload(id));
}
