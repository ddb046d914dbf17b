/*
 * suite_rt.c: checks of the freestanding runtime itself on the real kernel
 * (fork's %rdx, pipe's two registers, wait4 status, sysctl by name, kenv,
 * errno through the carry flag).  If these fail, nothing else can be read.
 */
#include "kqt.h"

static const char *
rt_fork_wait(void)
{
	int status = -1;
	pid_t pid = fork();

	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(42);
	CHECK(waitpid(pid, &status, 0) == pid, "wait4: %s", strerror(errno));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42,
	    "child status %#x", status);
	return (NULL);
}

static const char *
rt_pipe(void)
{
	int fds[2];
	char buf[8] = { 0 };

	CHECK_OK(pipe(fds), "pipe");
	CHECK(fds[0] != fds[1] && fds[0] >= 0 && fds[1] >= 0,
	    "pipe fds %d %d", fds[0], fds[1]);
	CHECK(write(fds[1], "abc", 3) == 3, "write: %s", strerror(errno));
	CHECK(read(fds[0], buf, sizeof(buf)) == 3 && strcmp(buf, "abc") == 0,
	    "read back '%s'", buf);
	close(fds[0]);
	close(fds[1]);
	return (NULL);
}

static const char *
rt_errno(void)
{
	CHECK_ERR(open("/nonexistent", O_RDONLY), ENOENT, "open nonexistent");
	CHECK_ERR(close(977), EBADF, "close bad fd");
	CHECK_ERR(kldfind("no_such_module.ko"), ENOENT, "kldfind");
	return (NULL);
}

static const char *
rt_sysctl(void)
{
	char buf[32] = { 0 };
	size_t len = sizeof(buf) - 1;
	long ncpu = 0;

	CHECK_OK(sysctlbyname("kern.ostype", buf, &len, NULL, 0), "kern.ostype");
	CHECK(strcmp(buf, "DragonFly") == 0, "kern.ostype = '%s'", buf);
	CHECK_OK(sysctl_int("hw.ncpu", &ncpu), "hw.ncpu");
	CHECK(ncpu >= 1, "hw.ncpu = %ld", ncpu);
	CHECK_ERR(sysctlbyname("no.such.name", buf, &len, NULL, 0), ENOENT,
	    "sysctl of a missing name");
	return (NULL);
}

static const char *
rt_mmap(void)
{
	char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
	    MAP_ANON | MAP_PRIVATE, -1, 0);

	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	CHECK(((unsigned long)p & 4095) == 0, "not page aligned: %p", p);
	p[0] = 1;
	p[(1 << 20) - 1] = 2;
	CHECK_OK(munmap(p, 1 << 20), "munmap");
	return (NULL);
}

static const struct kqt_case rt_cases[] = {
	{ "fork__wait_status", rt_fork_wait, 0 },
	{ "pipe__two_registers", rt_pipe, 0 },
	{ "errno__carry_flag", rt_errno, 0 },
	{ "sysctl__by_name", rt_sysctl, 0 },
	{ "mmap__anonymous", rt_mmap, 0 },
	{ NULL, NULL, 0 },
};
const struct kqt_suite suite_rt = { "rt", NULL, NULL, rt_cases };
