/*
 * rt.h: the freestanding DragonFly x86_64 runtime the target programs use
 * instead of a libc (there is no DragonFly libc on a Linux build host).
 *
 * Owns: system call wrappers (numbers from DragonFly 5.8's
 * sys/kern/syscalls.master, constants from its headers, written here as
 * facts), errno, string helpers, a small printf, sysctl by name, kenv.
 * Wrappers return what libc would (-1 and errno on failure).
 * Locking: none; each process has its own copy of every global.
 */
#ifndef KQT_RT_H
#define KQT_RT_H

typedef unsigned long size_t;
typedef long ssize_t;
typedef int pid_t;
typedef unsigned long uint64_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned short uint16_t;
typedef unsigned char uint8_t;
typedef unsigned long uintptr_t;
typedef __builtin_va_list va_list;
#define va_start(a, b)	__builtin_va_start(a, b)
#define va_end(a)	__builtin_va_end(a)
#define va_arg(a, t)	__builtin_va_arg(a, t)
#define NULL		((void *)0)

/* System call numbers (syscalls.master, DragonFly 5.8). */
#define SYS_exit	1
#define SYS_fork	2
#define SYS_read	3
#define SYS_write	4
#define SYS_open	5
#define SYS_close	6
#define SYS_wait4	7
#define SYS_unlink	10
#define SYS_access	33
#define SYS_getpid	20
#define SYS_setuid	23
#define SYS_setgroups	80
#define SYS_setgid	181
#define SYS_getuid	24
#define SYS_kill	37
#define SYS_getppid	39
#define SYS_dup		41
#define SYS_pipe	42
#define SYS_ioctl	54
#define SYS_reboot	55
#define SYS_execve	59
#define SYS_munmap	73
#define SYS_dup2	90
#define SYS_fcntl	92
#define SYS_mmap	197
#define SYS___sysctl	202
#define SYS_clock_gettime 232
#define SYS_nanosleep	240
#define SYS_poll	209
#define SYS_kldload	304
#define SYS_kldunload	305
#define SYS_kldfind	306
#define SYS_kldnext	307
#define SYS_kldstat	308
#define SYS_sched_yield	331
#define SYS_kenv	390
#define SYS_mount	21
#define SYS_unmount	22
#define SYS_setitimer	83
#define SYS_ftruncate	201
#define SYS_sigaction	342
#define SYS_usched_set	481
#define SYS_mkdir	136
#define SYS_rmdir	137
#define SYS_stat	475

/* errno values (sys/errno.h). */
#define EPERM		1
#define ENOENT		2
#define ESRCH		3
#define EINTR		4
#define EIO		5
#define ENXIO		6
#define EBADF		9
#define ECHILD		10
#define EDEADLK		11
#define ENOMEM		12
#define EACCES		13
#define EFAULT		14
#define EBUSY		16
#define EEXIST		17
#define ENODEV		19
#define EINVAL		22
#define ENOTTY		25
#define EAGAIN		35
#define EOPNOTSUPP	45
#define ENOSYS		78

/* open(2), mmap(2), wait4(2), signals, reboot(2) (sys/ headers). */
#define O_RDONLY	0x0000
#define O_WRONLY	0x0001
#define O_RDWR		0x0002
#define O_NONBLOCK	0x0004
#define O_CREAT		0x0200
#define O_TRUNC		0x0400
#define O_CLOEXEC	0x00020000
#define PROT_READ	0x01
#define PROT_WRITE	0x02
#define MAP_SHARED	0x0001
#define MAP_PRIVATE	0x0002
#define MAP_ANON	0x1000
#define MAP_FAILED	((void *)-1)
#define WNOHANG		1
#define SIGKILL		9
#define SIGTERM		15
#define SIGUSR1		30
#define SIGALRM		14
#define SA_RESTART	0x0002
#define ITIMER_REAL	0
#define USCHED_SET_CPU	1	/* sys/usched.h: pin the calling lwp to one cpu */
#define USCHED_GET_CPU	4
#define RB_NOSYNC	0x0004
#define RB_HALT		0x0008
#define RB_POWEROFF	0x4000
#define KENV_GET	0
#define KENV_SET	1
#define KENV_UNSET	2
#define F_OK		0
#define CLOCK_MONOTONIC	4
#define F_SETFD		2
#define FD_CLOEXEC	1

#define WIFEXITED(s)	(((s) & 0177) == 0)
#define WEXITSTATUS(s)	(((s) >> 8) & 0xff)
#define WIFSIGNALED(s)	(((s) & 0177) != 0177 && ((s) & 0177) != 0)
#define WTERMSIG(s)	((s) & 0177)

struct pollfd {
	int fd;
	short events;
	short revents;
};
#define POLLIN		0x0001
#define POLLOUT		0x0004

struct timespec {
	long tv_sec;
	long tv_nsec;
};
struct timeval {
	long tv_sec;
	long tv_usec;
};
struct itimerval {
	struct timeval it_interval;
	struct timeval it_value;
};
/* sys/signal.h: the handler, sa_flags, then a sigset_t of 4 words. */
struct sigaction {
	void (*sa_handler)(int);
	int sa_flags;
	unsigned int sa_mask[4];
};

extern int errno;
extern char **environ;

long rt_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
long rt_syscall2(long nr, long a1, long a2, long *rdx);

void _exit(int status) __attribute__((noreturn));
void exit(int status) __attribute__((noreturn));
pid_t fork(void);
ssize_t read(int fd, void *buf, size_t n);
ssize_t write(int fd, const void *buf, size_t n);
int open(const char *path, int flags, ...);
int close(int fd);
pid_t wait4(pid_t pid, int *status, int options, void *rusage);
pid_t waitpid(pid_t pid, int *status, int options);
pid_t getpid(void);
pid_t getppid(void);
int kill(pid_t pid, int sig);
int dup(int fd);
int dup2(int from, int to);
int pipe(int fds[2]);
int ioctl(int fd, unsigned long cmd, void *arg);
int reboot(int how);
int execve(const char *path, char *const argv[], char *const envp[]);
void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off);
int munmap(void *addr, size_t len);
int fcntl(int fd, int cmd, long arg);
int nanosleep(const struct timespec *req, struct timespec *rem);
int clock_gettime(int clk, struct timespec *ts);
int kldload(const char *file);
int kldunload(int fileid);
int kldfind(const char *file);
int sched_yield(void);
int setuid(int uid);
int setgid(int gid);
int setgroups(unsigned int n, const int *gids);
int getuid(void);
int poll(struct pollfd *fds, unsigned int n, int timeout_ms);
int sysctl(const int *mib, unsigned int n, void *old, size_t *oldlen,
    const void *new_, size_t newlen);
int sysctlbyname(const char *name, void *old, size_t *oldlen,
    const void *new_, size_t newlen);
int kenv_get(const char *name, char *buf, int len);
int kenv_set(const char *name, const char *value);
int kenv_unset(const char *name);
int access(const char *path, int mode);
int unlink(const char *path);
int ftruncate(int fd, long length);
int mount(const char *type, const char *path, int flags, void *data);
int unmount(const char *path, int flags);
int mkdir(const char *path, int mode);
int rmdir(const char *path);
/* The fields of DragonFly's struct stat (sys/stat.h) the suites read; the
 * rest is padding up to its size. */
struct kqt_stat {
	unsigned long	st_ino;
	unsigned int	st_nlink;
	unsigned int	st_dev;
	unsigned short	st_mode;
	unsigned short	st_padding1;
	unsigned int	st_uid;
	unsigned int	st_gid;
	unsigned int	st_rdev;
	char		rest[160];
};
int stat(const char *path, struct kqt_stat *sb);
int sigaction(int sig, const struct sigaction *act, struct sigaction *oact);
int setitimer(int which, const struct itimerval *itv, struct itimerval *old);
int usched_set(pid_t pid, int cmd, void *data, int bytes);

/* Helpers. */
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
long atol(const char *s);
const char *strerror(int e);
int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int snprintf(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
long now_ms(void);			/* CLOCK_MONOTONIC, milliseconds */
void sleep_ms(long ms);
int sysctl_int(const char *name, long *val);	/* reads int or long */
int sysctl_set_int(const char *name, int val);
unsigned long rnd(void);		/* per-process xorshift */
void rnd_seed(unsigned long s);

#endif /* KQT_RT_H */
