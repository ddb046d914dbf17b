/*
 * rt.c: system call wrappers and small helpers of the freestanding
 * DragonFly runtime (see rt.h).  Locking: none; per-process globals only.
 */
#include "rt.h"

int errno;
char **environ;

int main(int argc, char **argv, char **envp);
void rt_start(long *block) __attribute__((noreturn));

void
rt_start(long *block)
{
	int argc = (int)block[0];
	char **argv = (char **)(block + 1);

	environ = argv + argc + 1;
	exit(main(argc, argv, environ));
}

static long
ret(long r)
{
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return (-1);
	}
	return (r);
}
#define SC0(n)			ret(rt_syscall(n, 0, 0, 0, 0, 0, 0))
#define SC1(n, a)		ret(rt_syscall(n, (long)(a), 0, 0, 0, 0, 0))
#define SC2(n, a, b)		ret(rt_syscall(n, (long)(a), (long)(b), 0, 0, 0, 0))
#define SC3(n, a, b, c)		ret(rt_syscall(n, (long)(a), (long)(b), (long)(c), 0, 0, 0))
#define SC4(n, a, b, c, d)	ret(rt_syscall(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0))

void
_exit(int status)
{
	for (;;)
		rt_syscall(SYS_exit, status, 0, 0, 0, 0, 0);
}
void exit(int status) { _exit(status); }

pid_t
fork(void)
{
	long rdx = 0;
	long r = ret(rt_syscall2(SYS_fork, 0, 0, &rdx));

	if (r < 0)
		return (-1);
	return (rdx ? 0 : (pid_t)r);
}
int
pipe(int fds[2])
{
	long rdx = 0;
	long r = ret(rt_syscall2(SYS_pipe, 0, 0, &rdx));

	if (r < 0)
		return (-1);
	fds[0] = (int)r;
	fds[1] = (int)rdx;
	return (0);
}
ssize_t read(int fd, void *b, size_t n) { return SC3(SYS_read, fd, b, n); }
ssize_t write(int fd, const void *b, size_t n) { return SC3(SYS_write, fd, b, n); }
int
open(const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	va_start(ap, flags);
	mode = (flags & O_CREAT) ? va_arg(ap, int) : 0;
	va_end(ap);
	return (int)SC3(SYS_open, path, flags, mode);
}
int close(int fd) { return (int)SC1(SYS_close, fd); }
pid_t wait4(pid_t p, int *st, int o, void *ru) { return (pid_t)SC4(SYS_wait4, p, st, o, ru); }
pid_t
waitpid(pid_t p, int *st, int o)
{
	pid_t r;

	do {
		r = wait4(p, st, o, NULL);
	} while (r < 0 && errno == EINTR);
	return (r);
}
pid_t getpid(void) { return (pid_t)SC0(SYS_getpid); }
pid_t getppid(void) { return (pid_t)SC0(SYS_getppid); }
int kill(pid_t p, int s) { return (int)SC2(SYS_kill, p, s); }
int dup(int fd) { return (int)SC1(SYS_dup, fd); }
int dup2(int a, int b) { return (int)SC2(SYS_dup2, a, b); }
int ioctl(int fd, unsigned long c, void *a) { return (int)SC3(SYS_ioctl, fd, c, a); }
int reboot(int how) { return (int)SC1(SYS_reboot, how); }
int execve(const char *p, char *const a[], char *const e[]) { return (int)SC3(SYS_execve, p, a, e); }
void *
mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
	/* 5.8: mmap(addr, len, prot, flags, fd, pad, pos) */
	long r = rt_syscall(SYS_mmap, (long)addr, (long)len, prot, flags, fd, 0);

	(void)off;
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return (MAP_FAILED);
	}
	return ((void *)r);
}
int munmap(void *a, size_t l) { return (int)SC2(SYS_munmap, a, l); }
int fcntl(int fd, int c, long a) { return (int)SC3(SYS_fcntl, fd, c, a); }
int nanosleep(const struct timespec *q, struct timespec *r) { return (int)SC2(SYS_nanosleep, q, r); }
int clock_gettime(int c, struct timespec *t) { return (int)SC2(SYS_clock_gettime, c, t); }
int kldload(const char *f) { return (int)SC1(SYS_kldload, f); }
int kldunload(int id) { return (int)SC1(SYS_kldunload, id); }
int kldfind(const char *f) { return (int)SC1(SYS_kldfind, f); }
int sched_yield(void) { return (int)SC0(SYS_sched_yield); }
int setuid(int u) { return (int)SC1(SYS_setuid, u); }
int setgid(int g) { return (int)SC1(SYS_setgid, g); }
int setgroups(unsigned int n, const int *g) { return (int)SC2(SYS_setgroups, n, g); }
int getuid(void) { return (int)SC0(SYS_getuid); }
int poll(struct pollfd *f, unsigned int n, int t) { return (int)SC3(SYS_poll, f, n, t); }
int
sysctl(const int *mib, unsigned int n, void *old, size_t *oldlen,
    const void *new_, size_t newlen)
{
	return (int)ret(rt_syscall(SYS___sysctl, (long)mib, n, (long)old,
	    (long)oldlen, (long)new_, (long)newlen));
}
int
sysctlbyname(const char *name, void *old, size_t *oldlen, const void *new_,
    size_t newlen)
{
	/* sysctl 0.3 ("name2oid") turns a dotted name into its MIB. */
	int qoid[2] = { 0, 3 };
	int mib[24];
	size_t mlen = sizeof(mib);

	if (sysctl(qoid, 2, mib, &mlen, name, strlen(name)) < 0)
		return (-1);
	return (sysctl(mib, (unsigned int)(mlen / sizeof(int)), old, oldlen,
	    new_, newlen));
}
int
sysctl_int(const char *name, long *val)
{
	union {
		long l;
		int i;
	} v;
	size_t len = sizeof(v);

	v.l = 0;
	if (sysctlbyname(name, &v, &len, NULL, 0) < 0)
		return (-1);
	*val = len == sizeof(int) ? v.i : v.l;
	return (0);
}
int
sysctl_set_int(const char *name, int val)
{
	return (sysctlbyname(name, NULL, NULL, &val, sizeof(val)));
}
int
kenv_get(const char *name, char *buf, int len)
{
	return (int)ret(rt_syscall(SYS_kenv, KENV_GET, (long)name, (long)buf,
	    len, 0, 0));
}
int
kenv_set(const char *name, const char *value)
{
	return (int)ret(rt_syscall(SYS_kenv, KENV_SET, (long)name, (long)value,
	    (long)strlen(value) + 1, 0, 0));
}
int
kenv_unset(const char *name)
{
	return (int)ret(rt_syscall(SYS_kenv, KENV_UNSET, (long)name, 0, 0, 0, 0));
}
int access(const char *p, int m) { return (int)SC2(SYS_access, p, m); }
int unlink(const char *p) { return (int)SC1(SYS_unlink, p); }
/* 5.8: ftruncate(fd, pad, length) */
int ftruncate(int fd, long l) { return (int)SC3(SYS_ftruncate, fd, 0, l); }
int mount(const char *t, const char *p, int f, void *d) { return (int)SC4(SYS_mount, t, p, f, d); }
int unmount(const char *p, int f) { return (int)SC2(SYS_unmount, p, f); }
int mkdir(const char *p, int m) { return (int)SC2(SYS_mkdir, p, m); }
int rmdir(const char *p) { return (int)SC1(SYS_rmdir, p); }
int stat(const char *p, struct kqt_stat *sb) { return (int)SC2(SYS_stat, p, sb); }
int sigaction(int s, const struct sigaction *a, struct sigaction *o) { return (int)SC3(SYS_sigaction, s, a, o); }
int setitimer(int w, const struct itimerval *v, struct itimerval *o) { return (int)SC3(SYS_setitimer, w, v, o); }
int usched_set(pid_t p, int c, void *d, int b) { return (int)SC4(SYS_usched_set, p, c, d, b); }

/* ---- helpers ---- */
size_t
strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return (n);
}
int
strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return ((unsigned char)*a - (unsigned char)*b);
}
int
strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return ((unsigned char)*a - (unsigned char)*b);
		if (*a == 0)
			break;
	}
	return (0);
}
char *
strchr(const char *s, int c)
{
	for (; *s; s++)
		if (*s == (char)c)
			return ((char *)s);
	return (c == 0 ? (char *)s : NULL);
}
void *
memset(void *d, int c, size_t n)
{
	unsigned char *p = d;

	while (n--)
		*p++ = (unsigned char)c;
	return (d);
}
void *
memcpy(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return (d);
}
int
memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return (*x - *y);
	return (0);
}
long
atol(const char *s)
{
	long v = 0;
	int neg = 0;

	if (*s == '-')
		neg = 1, s++;
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return (neg ? -v : v);
}
const char *
strerror(int e)
{
	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case EBADF: return "EBADF";
	case ECHILD: return "ECHILD";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case EAGAIN: return "EAGAIN";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOSYS: return "ENOSYS";
	default: return "E?";
	}
}

struct obuf {
	char *p;
	size_t n, len;
};
static void
oput(struct obuf *o, char c)
{
	if (o->len + 1 < o->n)
		o->p[o->len] = c;
	o->len++;
}
static void
onum(struct obuf *o, unsigned long v, int base, int neg, int width, char pad)
{
	char tmp[24];
	int i = 0;

	do {
		tmp[i++] = "0123456789abcdef"[v % (unsigned)base];
		v /= (unsigned)base;
	} while (v);
	if (neg)
		tmp[i++] = '-';
	while (i < width--)
		oput(o, pad);
	while (i)
		oput(o, tmp[--i]);
}
int
vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct obuf o = { buf, n, 0 };

	for (; *fmt; fmt++) {
		int lng = 0, width = 0, alt = 0;
		char pad = ' ';

		if (*fmt != '%') {
			oput(&o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '#')
			alt = 1, fmt++;		/* %#x: 0x prefix */
		if (*fmt == '0')
			pad = '0', fmt++;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z')
			lng = 1, fmt++;
		switch (*fmt) {
		case 'd': {
			long v = lng ? va_arg(ap, long) : va_arg(ap, int);
			onum(&o, v < 0 ? (unsigned long)-v : (unsigned long)v,
			    10, v < 0, width, pad);
			break;
		}
		case 'u':
			onum(&o, lng ? va_arg(ap, unsigned long) :
			    va_arg(ap, unsigned int), 10, 0, width, pad);
			break;
		case 'x':
			if (alt) {
				oput(&o, '0');
				oput(&o, 'x');
			}
			onum(&o, lng ? va_arg(ap, unsigned long) :
			    va_arg(ap, unsigned int), 16, 0, width, pad);
			break;
		case 'p':
			oput(&o, '0');
			oput(&o, 'x');
			onum(&o, (unsigned long)va_arg(ap, void *), 16, 0, 0, ' ');
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			size_t l;

			if (s == NULL)
				s = "(null)";
			for (l = strlen(s); (int)l < width; width--)
				oput(&o, ' ');
			while (*s)
				oput(&o, *s++);
			break;
		}
		case 'c':
			oput(&o, (char)va_arg(ap, int));
			break;
		case '%':
			oput(&o, '%');
			break;
		default:
			oput(&o, '%');
			oput(&o, *fmt);
			break;
		}
	}
	if (n)
		buf[o.len < n ? o.len : n - 1] = 0;
	return ((int)o.len);
}
int
snprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return (r);
}
/* One write(2) per call, so lines from concurrent processes stay whole. */
int
printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int r, saved = errno;

	va_start(ap, fmt);
	r = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (r > (int)sizeof(buf) - 1)
		r = sizeof(buf) - 1;
	write(1, buf, (size_t)r);
	errno = saved;
	return (r);
}
long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}
static unsigned long rnd_state = 88172645463325252UL;
void
rnd_seed(unsigned long s)
{
	rnd_state = s ? s : 1;
}
unsigned long
rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (rnd_state);
}
