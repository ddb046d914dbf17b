/*
 * devhost.c - a FUSE server that runs the host kernel with modules loaded and
 * exposes its devfs nodes as files, so that real Linux processes open, ioctl,
 * read, write and close the DragonFly drivers in tests/host.
 *
 * Owns:
 *  - the FUSE file system (libfuse3 low-level API, multithreaded loop):
 *      /            one regular file per devfs node, with the cdev's mode
 *      /.files      what devhost knows about every open device file
 *      /.sysctl/N   reading it reads host-kernel sysctl N ("debug.x.y")
 *  - the map real process (Tgid) -> host-kernel process (struct hproc),
 *    and FUSE file handle -> (owning hproc, host-kernel fd) (struct dfile),
 *    plus the copies forked real processes hold once they use an inherited
 *    file (struct fcopy: their hproc is hk_fork'ed from the opener's);
 *  - user memory: every hproc's copyin/copyout reach the real calling
 *    process through process_vm_readv/writev, except the ioctl argument,
 *    which FUSE already copied into the server: it sits in a per-call scratch
 *    buffer that the host kernel sees at a fixed non-canonical address
 *    (SCRATCH_UADDR), which no real user pointer can equal;
 *  - the death of real processes (pidfd + a reaper thread): the host
 *    kernel's exit path (at_exit hooks, then the descriptors) runs for them;
 *  - FUSE interrupts: the pending signal of the caller is posted to its
 *    hproc for the duration of the call (kqemu EXEC answers INTR);
 *  - `devhost run`: a private mount namespace with the node bound at
 *    /dev/<node> over a tmpfs copy of /dev; CMD runs there.
 *
 * Threads: the FUSE loop thread and its workers (each request runs on one
 * worker, bound to an hproc with hk_thread_enter for the host-kernel call
 * only), the reaper thread, and the main thread (signals, child, shutdown).
 *
 * Locking:
 *  - g_lock (mutex) guards the hproc table and each hproc's counters
 *    (inflight, nfiles, dead), each dfile's owner, fd, copies and caller
 *    cache, and the dfile lists.  Never held across a host-kernel call.
 *  - g_devfs_lock (mutex) serialises opens, releases, forks of host
 *    processes and exits: the devfs node a clone open creates can be named
 *    by comparing the node list before and after (autoclone mode shows
 *    "kqemu3" etc.), and an fd table copied by hk_fork matches the records.
 *    Taken before g_lock, never inside it.  An open or a fork takes it
 *    with an hproc's inflight raised, so proc_died first marks the hproc
 *    dead and waits for inflight without it; after that only a release
 *    (which holds this lock while it raises inflight) can use the hproc.
 *  - each struct call has a mutex for its interrupt state; the libfuse
 *    interrupt callback runs under libfuse's request lock and takes it.
 *  - an hproc is used by a call only while its inflight count is raised;
 *    the reaper waits for inflight == 0 before hk_proc_exit.
 */
#define FUSE_USE_VERSION 312

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hk.h"

#define ROOT_INO	FUSE_ROOT_ID	/* 1 */
#define SYSCTL_DIR_INO	2
#define FILES_INO	3
#define NODE_INO_BASE	16		/* + index in g_names */
#define SYSCTL_INO_BASE	(1ULL << 32)	/* + index in g_sysctls */

/*
 * The ioctl argument buffer as the host kernel sees it.  x86-64 user
 * addresses are below 2^56 even with 5-level paging, so a real client's
 * pointer can never fall in this window.
 */
#define SCRATCH_UADDR	((uintptr_t)0xffffc00000000000ULL)
#define SCRATCH_MAX	(1U << 20)	/* reads/writes are split by FUSE anyway */

/* DragonFly's ioctl encoding (sys/ioccom.h) */
#define BSD_IOCPARM_MASK 0x1fffU
#define BSD_IOC_VOID	0x20000000U
#define BSD_IOC_OUT	0x40000000U
#define BSD_IOC_IN	0x80000000U

/* --- state --------------------------------------------------------------- */

struct hproc {
	struct hproc *next;		/* g_procs (g_lock) */
	pid_t tgid;			/* real process; 0 for a holder */
	int pidfd;			/* -1 for a holder */
	struct hk_proc *hp;		/* NULL once exited */
	struct hk_uspace_ops ops;
	int inflight;			/* calls using hp (g_lock) */
	int nfiles;			/* dfiles owned (g_lock) */
	bool dead;			/* real process gone / holder empty */
};

enum { DF_DEV, DF_TEXT };

/*
 * A device file in the fd table of a real process other than its owner: a
 * forked child that used the inherited file got a host process of its own,
 * forked from the owner's, whose fd table holds this copy.
 */
struct fcopy {
	struct fcopy *next;		/* dfile's copies (g_lock) */
	struct hproc *p;
	int fd;
};

struct dfile {
	struct dfile *next, *prev;	/* g_files or g_texts (g_lock) */
	int kind;
	struct hproc *owner;		/* (g_lock) */
	int fd;				/* host-kernel fd in owner */
	pid_t opener;			/* real Tgid of the opener */
	char node[64];
	char clone[64];			/* devfs node the open created, or "-" */
	unsigned long ioctls;		/* (atomic) */
	struct fcopy *copies;		/* (g_devfs_lock and g_lock to change) */
	pid_t last_tid, last_tgid;	/* the last caller's thread (g_lock) */
	char *text;			/* DF_TEXT: snapshot */
	size_t len;
};

/* One FUSE request's host-kernel call (on the worker's stack). */
struct call {
	struct hproc *p;
	pid_t tid;			/* calling real thread */
	unsigned char *scratch;		/* seen at SCRATCH_UADDR */
	size_t scratch_len;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	bool interrupted;		/* (mtx) */
	int sig_posted;			/* (mtx) signal posted to p, or 0 */
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;	/* inflight drops */
static pthread_mutex_t g_devfs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hproc *g_procs;
static struct dfile g_files = { .next = &g_files, .prev = &g_files };	/* DF_DEV */
static struct dfile g_texts = { .next = &g_texts, .prev = &g_texts };	/* DF_TEXT */
static int g_stopping;		/* (atomic) */
static size_t g_devbuf_base;	/* devbuf allocations before the kldloads */

/* Names handed out as inode numbers (never shrink; g_lock). */
static char **g_names;
static size_t g_nnames;
static char **g_sysctls;
static size_t g_nsysctls;

static __thread struct call *t_call;

static struct {
	const char *mountpoint;
	const char *module_path;
	int profile;
	int threads;
	int ready_fd;
	unsigned int hold_cmd;		/* Linux-encoded command to hold */
	int hold_ms;
	bool verbose;
	bool run;
	const char *run_node;
	char **run_argv;
} opt = { .profile = HK_PROFILE_MODERN, .threads = 64, .ready_fd = -1,
	  .run_node = "kqemu" };

static struct fuse_session *g_se;
static int g_epfd = -1, g_evfd = -1;

static void
logmsg(const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "devhost: %s\n", buf);
}

#define dbg(...) do { if (opt.verbose) logmsg(__VA_ARGS__); } while (0)

/* --- real processes -------------------------------------------------------- */

/* Read a "Key:\tvalue" line of /proc/<tid>/status. */
static int
proc_status_field(pid_t tid, const char *key, char *out, size_t outlen)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	f = fopen(path, "re");
	if (f == NULL)
		return (0);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			const char *v = line + klen + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			snprintf(out, outlen, "%s", v);
			out[strcspn(out, "\n")] = '\0';
			found = 1;
			break;
		}
	}
	fclose(f);
	return (found);
}

/* FUSE reports the calling thread; the per-process model wants its Tgid. */
static pid_t
tid_to_tgid(pid_t tid)
{
	char v[32];

	if (tid > 0 && proc_status_field(tid, "Tgid", v, sizeof(v)))
		return ((pid_t)atoi(v));
	return (tid);
}

/* The lowest signal pending and not blocked for a thread, or 0. */
static int
pending_signal(pid_t tid)
{
	char v[64];
	unsigned long long pnd = 0, shd = 0, blk = 0, set;

	if (proc_status_field(tid, "SigPnd", v, sizeof(v)))
		pnd = strtoull(v, NULL, 16);
	if (proc_status_field(tid, "ShdPnd", v, sizeof(v)))
		shd = strtoull(v, NULL, 16);
	if (proc_status_field(tid, "SigBlk", v, sizeof(v)))
		blk = strtoull(v, NULL, 16);
	set = (pnd | shd) & ~blk;
	if (set == 0)
		return (0);
	return (__builtin_ctzll(set) + 1);
}

static int
uspace_xfer(struct hproc *p, uintptr_t uaddr, void *kbuf, size_t len, int write)
{
	struct call *c = t_call;
	struct iovec local, remote;
	pid_t pid;
	ssize_t n;

	if (len == 0)
		return (0);
	if (uaddr >= SCRATCH_UADDR && uaddr < SCRATCH_UADDR + SCRATCH_MAX) {
		size_t off = uaddr - SCRATCH_UADDR;

		if (c == NULL || off > c->scratch_len || len > c->scratch_len - off)
			return (EFAULT);
		if (write)
			memcpy(c->scratch + off, kbuf, len);
		else
			memcpy(kbuf, c->scratch + off, len);
		return (0);
	}
	/* The memory of the thread making the call (a forked child using its
	 * parent's file passes its own pointers). */
	pid = (c != NULL && c->tid > 0) ? c->tid : p->tgid;
	if (pid <= 0)
		return (EFAULT);
	local.iov_base = kbuf;
	local.iov_len = len;
	remote.iov_base = (void *)uaddr;
	remote.iov_len = len;
	if (write)
		n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
	else
		n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	return (n == (ssize_t)len ? 0 : EFAULT);
}

static int
uspace_read(void *ctx, uintptr_t uaddr, void *kbuf, size_t len)
{
	return (uspace_xfer(ctx, uaddr, kbuf, len, 0));
}

static int
uspace_write(void *ctx, uintptr_t uaddr, const void *kbuf, size_t len)
{
	return (uspace_xfer(ctx, uaddr, (void *)kbuf, len, 1));
}

static struct hproc *
hproc_new(pid_t tgid, struct hk_proc *hp)
{
	struct hproc *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return (NULL);
	p->tgid = tgid;
	p->pidfd = -1;
	p->hp = hp;
	p->ops.read = uspace_read;
	p->ops.write = uspace_write;
	p->ops.ctx = p;
	if (hk_proc_set_uspace(hp, &p->ops) != 0) {
		free(p);
		return (NULL);
	}
	return (p);
}

static void proc_died(struct hproc *p);
static void holder_retire(struct hproc *p, int held);
static void dh_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/*
 * The live hproc of a real process.  An entry whose pidfd already fired
 * belongs to a dead process whose pid was reused before the reaper got to
 * it: skipped here, the reaper retires it.  Called with g_lock held.
 */
static struct hproc *
hproc_find_locked(pid_t tgid)
{
	struct hproc *p;
	struct pollfd pfd;

	for (p = g_procs; p != NULL; p = p->next) {
		if (p->dead || p->tgid != tgid)
			continue;
		pfd.fd = p->pidfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) > 0)
			continue;
		return (p);
	}
	return (NULL);
}

/*
 * The hproc of a real process, created on its first open.  Returns it with
 * inflight raised.
 */
static int
hproc_get(pid_t tgid, uid_t uid, gid_t gid, struct hproc **pp)
{
	struct hproc *p;
	struct hk_proc *hp;
	struct epoll_event ev;
	int error, pidfd;

again:
	pthread_mutex_lock(&g_lock);
	p = hproc_find_locked(tgid);
	if (p != NULL) {
		p->inflight++;
		pthread_mutex_unlock(&g_lock);
		*pp = p;
		return (0);
	}
	pthread_mutex_unlock(&g_lock);

	pidfd = (int)syscall(SYS_pidfd_open, tgid, 0);
	if (pidfd < 0)
		return (errno == ESRCH ? ESRCH : EIO);
	error = hk_proc_create(uid, gid, &hp);
	if (error != 0) {
		close(pidfd);
		return (error);
	}
	p = hproc_new(tgid, hp);
	if (p == NULL) {
		hk_proc_exit(hp, 0);
		close(pidfd);
		return (ENOMEM);
	}
	p->pidfd = pidfd;
	p->inflight = 1;
	pthread_mutex_lock(&g_lock);
	/* Two threads of one process racing their first open: keep one. */
	{
		struct hproc *q;

		q = hproc_find_locked(tgid);
		if (q != NULL) {
			pthread_mutex_unlock(&g_lock);
			hk_proc_exit(hp, 0);
			close(pidfd);
			free(p);
			goto again;
		}
	}
	p->next = g_procs;
	g_procs = p;
	pthread_mutex_unlock(&g_lock);
	ev.events = EPOLLIN;
	ev.data.ptr = p;
	if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, pidfd, &ev) != 0)
		logmsg("epoll_ctl(pidfd %d): %s", tgid, strerror(errno));
	dbg("process %d -> host pid %d", tgid, hk_proc_pid(hp));
	*pp = p;
	return (0);
}

/* Drop a reference taken by hproc_get/dfile_proc; frees a retired hproc. */
static void
hproc_rele(struct hproc *p)
{
	bool gone;

	pthread_mutex_lock(&g_lock);
	p->inflight--;
	pthread_cond_broadcast(&g_cv);
	gone = p->dead && p->hp == NULL && p->inflight == 0 && p->nfiles == 0;
	if (gone) {
		struct hproc **pp;

		for (pp = &g_procs; *pp != NULL; pp = &(*pp)->next)
			if (*pp == p) {
				*pp = p->next;
				break;
			}
	}
	pthread_mutex_unlock(&g_lock);
	if (gone) {
		if (p->pidfd >= 0)
			close(p->pidfd);
		free(p);
	}
}

/*
 * A host process of a forked real process (tgid) that uses files of p's:
 * hk_fork of p, so its fd table has copies of all of p's files at the same
 * numbers, as the real fork gave it; the at_fork hooks run now, at its first
 * use (proc mode then refuses its calls with ENXIO, as DragonFly does).
 * Under g_devfs_lock, so no release runs between the copy and the records.
 */
static int
proc_fork_for(struct hproc *p, pid_t tgid)
{
	struct hk_proc *child = NULL;
	struct hproc *q;
	struct dfile *f;
	struct fcopy *c, *cc;
	struct epoll_event ev;
	int error, pidfd;

	pidfd = (int)syscall(SYS_pidfd_open, tgid, 0);
	if (pidfd < 0)
		return (errno);
	pthread_mutex_lock(&g_devfs_lock);
	error = hk_thread_enter(p->hp);
	if (error == 0) {
		error = hk_fork(&child);
		hk_thread_leave();
	}
	q = error == 0 ? hproc_new(tgid, child) : NULL;
	if (q == NULL) {
		if (child != NULL)
			hk_proc_exit(child, 0);
		pthread_mutex_unlock(&g_devfs_lock);
		close(pidfd);
		return (error != 0 ? error : ENOMEM);
	}
	q->pidfd = pidfd;
	pthread_mutex_lock(&g_lock);
	if (hproc_find_locked(tgid) != NULL) {
		/* Another thread of it got there first. */
		pthread_mutex_unlock(&g_lock);
		hk_proc_exit(child, 0);
		pthread_mutex_unlock(&g_devfs_lock);
		close(pidfd);
		free(q);
		return (0);
	}
	for (f = g_files.next; f != &g_files; f = f->next) {
		int fd = -1;

		if (f->owner == p)
			fd = f->fd;
		for (cc = f->copies; cc != NULL && fd < 0; cc = cc->next)
			if (cc->p == p)
				fd = cc->fd;
		if (fd < 0 || (c = calloc(1, sizeof(*c))) == NULL)
			continue;	/* (no memory: its copy closes at exit) */
		c->p = q;
		c->fd = fd;
		c->next = f->copies;
		f->copies = c;
		q->nfiles++;
	}
	q->next = g_procs;
	g_procs = q;
	pthread_mutex_unlock(&g_lock);
	pthread_mutex_unlock(&g_devfs_lock);
	ev.events = EPOLLIN;
	ev.data.ptr = q;
	if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, pidfd, &ev) != 0)
		logmsg("epoll_ctl(pidfd %d): %s", tgid, strerror(errno));
	dbg("process %d uses files of %d: forked host pid %d", tgid, p->tgid,
	    hk_proc_pid(child));
	return (0);
}

/*
 * The host process (inflight raised) and fd through which the real thread
 * tid acts on a device file: its own process's copy if it has one, else the
 * owner's; a forked process using an inherited file for the first time gets
 * its copy here.  NULL if the file's processes exited.  While a process's
 * death is being processed (dead, not yet exited) the caller waits: its
 * files are about to move.
 */
static struct hproc *
dfile_proc(struct dfile *f, pid_t tid, int *fdp)
{
	struct hproc *p, *q;
	struct fcopy *c;
	pid_t tgid;
	bool tried_fork = false, waited;

	pthread_mutex_lock(&g_lock);
	for (;;) {
		while ((p = f->owner) != NULL && p->dead && p->hp != NULL)
			pthread_cond_wait(&g_cv, &g_lock);
		if (p == NULL || p->hp == NULL) {
			pthread_mutex_unlock(&g_lock);
			return (NULL);
		}
		if (tid <= 0 || tid == p->tgid)
			break;				/* the owner's main thread */
		if (tid != f->last_tid) {
			pthread_mutex_unlock(&g_lock);
			tgid = tid_to_tgid(tid);
			pthread_mutex_lock(&g_lock);
			f->last_tid = tid;
			f->last_tgid = tgid;
			continue;
		}
		tgid = f->last_tgid;
		if (tgid == p->tgid)
			break;
		waited = false;
		for (c = f->copies; c != NULL; c = c->next) {
			if (c->p->tgid != tgid)
				continue;
			if (c->p->dead && c->p->hp != NULL) {
				pthread_cond_wait(&g_cv, &g_lock);
				waited = true;
				break;
			}
			if (c->p->hp != NULL) {
				c->p->inflight++;
				*fdp = c->fd;
				pthread_mutex_unlock(&g_lock);
				return (c->p);
			}
		}
		if (waited)
			continue;
		/* A process with a table of its own cannot take a copy. */
		q = hproc_find_locked(tgid);
		if (q != NULL || tried_fork)
			break;
		tried_fork = true;
		p->inflight++;
		pthread_mutex_unlock(&g_lock);
		if (proc_fork_for(p, tgid) != 0)
			dbg("process %d: no host process of its own", tgid);
		hproc_rele(p);
		pthread_mutex_lock(&g_lock);
	}
	p->inflight++;
	*fdp = f->fd;
	pthread_mutex_unlock(&g_lock);
	return (p);
}

/*
 * A real process is gone: run the host kernel's exit path for it.  Device
 * files it opened may still be held by other real processes (children it
 * forked; FUSE sends their release only when the last holder closes), so if
 * any are still open, a host-kernel child forked from it first inherits them,
 * as the real children's fd tables did: exit then runs at_exit and closes the
 * dead process's copies without a last close, and the file's release
 * closes the holder's copy later.  Either order of release and death is
 * therefore handled like DragonFly would for exit and fdfree.
 *
 * A file some other host process also holds (a copy made by proc_fork_for)
 * needs no holder: that process becomes its owner.
 *
 * Order: mark dead (new opens make a new hproc, calls on its files wait in
 * dfile_proc), wait for the calls already in (without g_devfs_lock: an
 * open in flight holds inflight and wants that lock), then under
 * g_devfs_lock (no release runs) fork the holder, move the files, exit.
 */
static void
proc_died(struct hproc *p)
{
	struct hproc *holder = NULL;
	struct hk_proc *child = NULL, *hp;
	struct dfile *f;
	int nfiles, error = 0;

	pthread_mutex_lock(&g_lock);
	if (p->dead || p->hp == NULL) {
		pthread_mutex_unlock(&g_lock);
		return;
	}
	p->dead = true;
	p->inflight++;		/* ours, so nobody frees p under us */
	while (p->inflight > 1)
		pthread_cond_wait(&g_cv, &g_lock);
	pthread_mutex_unlock(&g_lock);
	if (p->pidfd >= 0)
		epoll_ctl(g_epfd, EPOLL_CTL_DEL, p->pidfd, NULL);

	pthread_mutex_lock(&g_devfs_lock);
	pthread_mutex_lock(&g_lock);
	for (f = g_files.next; f != &g_files; f = f->next) {
		struct fcopy **cp, *c;

		/* Its copies of others' files close with it (not the last). */
		for (cp = &f->copies; (c = *cp) != NULL; ) {
			if (c->p == p) {
				*cp = c->next;
				free(c);
				p->nfiles--;
			} else
				cp = &c->next;
		}
		/* Its own files held by other host processes: one of them
		 * owns it now. */
		if (f->owner == p && (c = f->copies) != NULL) {
			f->owner = c->p;
			f->fd = c->fd;
			f->copies = c->next;
			free(c);
			p->nfiles--;
		}
	}
	nfiles = p->nfiles;
	pthread_mutex_unlock(&g_lock);
	dbg("process %d died (%d files still open)", p->tgid, nfiles);
	if (nfiles > 0) {
		error = hk_thread_enter(p->hp);
		if (error == 0) {
			error = hk_fork(&child);
			hk_thread_leave();
		}
		if (error == 0)
			holder = hproc_new(0, child);
		if (holder != NULL)
			holder->inflight = 1;	/* ours until the end */
		if (holder == NULL) {
			logmsg("process %d: cannot fork a holder (%s); its open "
			    "files close now", p->tgid, strerror(error ? error : ENOMEM));
			if (child != NULL)
				hk_proc_exit(child, 0);
		}
	}
	pthread_mutex_lock(&g_lock);
	if (holder != NULL) {
		for (f = g_files.next; f != &g_files; f = f->next)
			if (f->owner == p) {
				f->owner = holder;
				p->nfiles--;
				holder->nfiles++;
			}
		holder->next = g_procs;
		g_procs = holder;
	}
	/* A release that used p before we took g_devfs_lock lets go. */
	while (p->inflight > 1)
		pthread_cond_wait(&g_cv, &g_lock);
	hp = p->hp;
	pthread_mutex_unlock(&g_lock);
	error = hk_proc_exit(hp, 0);
	if (error != 0)
		logmsg("hk_proc_exit(%d): %s", p->tgid, strerror(error));
	pthread_mutex_lock(&g_lock);
	p->hp = NULL;
	/* Without a holder the files' fds died with hp. */
	for (f = g_files.next; f != &g_files; f = f->next)
		if (f->owner == p)
			f->fd = -1;
	pthread_cond_broadcast(&g_cv);
	pthread_mutex_unlock(&g_lock);
	pthread_mutex_unlock(&g_devfs_lock);
	if (holder != NULL) {
		/* Its files may all be released already (then nobody else will). */
		holder_retire(holder, 1);
		hproc_rele(holder);
	}
	hproc_rele(p);
}

/* A holder whose last file closed exits (held: references the caller has). */
static void
holder_retire(struct hproc *p, int held)
{
	struct hk_proc *hp;

	pthread_mutex_lock(&g_lock);
	if (p->tgid != 0 || p->dead || p->nfiles != 0 || p->hp == NULL) {
		pthread_mutex_unlock(&g_lock);
		return;
	}
	p->dead = true;
	while (p->inflight > held)
		pthread_cond_wait(&g_cv, &g_lock);
	hp = p->hp;
	pthread_mutex_unlock(&g_lock);
	hk_proc_exit(hp, 0);
	pthread_mutex_lock(&g_lock);
	p->hp = NULL;
	pthread_mutex_unlock(&g_lock);
}

static void *
reaper_main(void *arg)
{
	struct epoll_event evs[16];
	int i, n;

	(void)arg;
	for (;;) {
		n = epoll_wait(g_epfd, evs, 16, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			logmsg("epoll_wait: %s", strerror(errno));
			return (NULL);
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL)
				return (NULL);	/* the stop eventfd */
			proc_died(evs[i].data.ptr);
		}
	}
}

/* --- names and attributes ---------------------------------------------- */

static fuse_ino_t
name_ino(char ***tab, size_t *n, const char *name, fuse_ino_t base)
{
	size_t i;
	char **nt;

	pthread_mutex_lock(&g_lock);
	for (i = 0; i < *n; i++)
		if (strcmp((*tab)[i], name) == 0)
			goto out;
	nt = realloc(*tab, (*n + 1) * sizeof(*nt));
	if (nt == NULL || (nt[*n] = strdup(name)) == NULL) {
		if (nt != NULL)
			*tab = nt;
		pthread_mutex_unlock(&g_lock);
		return (0);
	}
	*tab = nt;
	i = (*n)++;
out:
	pthread_mutex_unlock(&g_lock);
	return (base + i);
}

/* Copy the name behind an inode (NULL if none). */
static bool
ino_name(fuse_ino_t ino, char *buf, size_t len, bool *is_sysctl)
{
	bool ok = false;

	pthread_mutex_lock(&g_lock);
	if (ino >= SYSCTL_INO_BASE && ino - SYSCTL_INO_BASE < g_nsysctls) {
		snprintf(buf, len, "%s", g_sysctls[ino - SYSCTL_INO_BASE]);
		*is_sysctl = true;
		ok = true;
	} else if (ino >= NODE_INO_BASE && ino < SYSCTL_INO_BASE &&
	    ino - NODE_INO_BASE < g_nnames) {
		snprintf(buf, len, "%s", g_names[ino - NODE_INO_BASE]);
		*is_sysctl = false;
		ok = true;
	}
	pthread_mutex_unlock(&g_lock);
	return (ok);
}

/*
 * A node's owner and mode: its cdev's si_uid, si_gid and si_perms, as
 * ls -l /dev/NAME shows them (FUSE's default_permissions then checks the
 * caller against them, as devfs would).
 */
static int
node_attr(const char *name, struct stat *st)
{
	uid_t uid;
	gid_t gid;
	int mode, error;

	error = hk_devfs_node_attr(name, &uid, &gid, &mode);
	if (error != 0)
		return (error);
	st->st_mode = S_IFREG | (mode & 07777);
	st->st_uid = uid;
	st->st_gid = gid;
	return (0);
}

static int
do_getattr(fuse_ino_t ino, struct stat *st)
{
	char name[256];
	bool is_sysctl;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_nlink = 1;
	st->st_blksize = 4096;
	if (ino == ROOT_INO || ino == SYSCTL_DIR_INO) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return (0);
	}
	if (ino == FILES_INO) {
		st->st_mode = S_IFREG | 0444;
		return (0);
	}
	if (!ino_name(ino, name, sizeof(name), &is_sysctl))
		return (ENOENT);
	if (is_sysctl) {
		st->st_mode = S_IFREG | 0444;
		return (0);
	}
	return (node_attr(name, st));
}

/* Text of a sysctl: integers in decimal, strings as they are. */
static int
sysctl_text(const char *name, char **textp, size_t *lenp)
{
	long long v;
	size_t len = 0;
	char *buf;
	int error;

	error = hk_sysctl(name, NULL, &len, NULL, 0);
	if (error != 0)
		return (error);
	if (len == sizeof(int) || len == sizeof(long long)) {
		/* An integer, unless it reads as a short string. */
		char tmp[8] = { 0 };
		size_t l = len;

		if (hk_sysctl(name, tmp, &l, NULL, 0) == 0 && l == len &&
		    tmp[len - 1] == '\0' && strlen(tmp) == len - 1 && len > 1 &&
		    tmp[0] >= ' ') {
			/* printable NUL-terminated: treat as string below */
		} else if (hk_sysctl_int(name, &v) == 0) {
			if (asprintf(textp, "%lld\n", v) < 0)
				return (ENOMEM);
			*lenp = strlen(*textp);
			return (0);
		}
	}
	buf = malloc(len + 2);
	if (buf == NULL)
		return (ENOMEM);
	error = hk_sysctl(name, buf, &len, NULL, 0);
	if (error != 0) {
		free(buf);
		return (error);
	}
	buf[len] = '\0';
	len = strlen(buf);
	if (len == 0 || buf[len - 1] != '\n')
		buf[len++] = '\n';
	buf[len] = '\0';
	*textp = buf;
	*lenp = len;
	return (0);
}

static int
files_text(char **textp, size_t *lenp)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	struct dfile *f;

	if (m == NULL)
		return (ENOMEM);
	fprintf(m, "# pid hostpid fd node clone ioctls\n");
	pthread_mutex_lock(&g_lock);
	for (f = g_files.next; f != &g_files; f = f->next)
		fprintf(m, "%d %d %d %s %s %lu\n", (int)f->opener,
		    f->owner != NULL && f->owner->hp != NULL ?
		    (int)hk_proc_pid(f->owner->hp) : -1, f->fd, f->node,
		    f->clone, __atomic_load_n(&f->ioctls, __ATOMIC_RELAXED));
	pthread_mutex_unlock(&g_lock);
	if (fclose(m) != 0) {
		free(buf);
		return (ENOMEM);
	}
	*textp = buf;
	*lenp = len;
	return (0);
}

/* --- FUSE operations ----------------------------------------------------- */

static void
reply_entry(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_entry_param e;
	int error;

	memset(&e, 0, sizeof(e));
	error = do_getattr(ino, &e.attr);
	if (error != 0) {
		fuse_reply_err(req, error);
		return;
	}
	e.ino = ino;
	e.generation = 1;
	/* Nodes come and go (clones): never cache. */
	e.attr_timeout = 0;
	e.entry_timeout = 0;
	fuse_reply_entry(req, &e);
}

static void
dh_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_ino_t ino = 0;
	size_t len;

	if (parent == ROOT_INO) {
		if (strcmp(name, ".sysctl") == 0)
			ino = SYSCTL_DIR_INO;
		else if (strcmp(name, ".files") == 0)
			ino = FILES_INO;
		else if (name[0] != '.' && hk_devfs_exists(name))
			ino = name_ino(&g_names, &g_nnames, name, NODE_INO_BASE);
	} else if (parent == SYSCTL_DIR_INO) {
		len = 0;
		if (hk_sysctl(name, NULL, &len, NULL, 0) == 0)
			ino = name_ino(&g_sysctls, &g_nsysctls, name, SYSCTL_INO_BASE);
	}
	if (ino == 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	reply_entry(req, ino);
}

static void
dh_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int error;

	(void)fi;
	error = do_getattr(ino, &st);
	if (error != 0)
		fuse_reply_err(req, error);
	else
		fuse_reply_attr(req, &st, 0);
}

static void
dh_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	char *buf;
	size_t used = 0, ent;
	off_t idx = 0;
	struct stat st;
	char name[256];
	int i;

	(void)fi;
	if (ino != ROOT_INO && ino != SYSCTL_DIR_INO) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	buf = malloc(size);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memset(&st, 0, sizeof(st));
#define ADD(nm, inum, mode) do {					\
	if (idx++ >= off) {						\
		st.st_ino = (inum);					\
		st.st_mode = (mode);					\
		ent = fuse_add_direntry(req, buf + used, size - used,	\
		    (nm), &st, idx);					\
		if (ent > size - used)					\
			goto full;					\
		used += ent;						\
	}								\
} while (0)
	ADD(".", ino, S_IFDIR);
	ADD("..", ROOT_INO, S_IFDIR);
	if (ino == ROOT_INO) {
		ADD(".sysctl", SYSCTL_DIR_INO, S_IFDIR);
		ADD(".files", FILES_INO, S_IFREG);
		for (i = 0; hk_devfs_node(i, name, sizeof(name)) == 0; i++)
			ADD(name, name_ino(&g_names, &g_nnames, name,
			    NODE_INO_BASE), S_IFREG);
	}
#undef ADD
full:
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* Names of the devfs nodes now, as one NUL-separated block. */
static char *
node_snapshot(size_t *lenp)
{
	char name[256], *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int i;

	if (m == NULL)
		return (NULL);
	for (i = 0; hk_devfs_node(i, name, sizeof(name)) == 0; i++)
		fprintf(m, "%s%c", name, '\0');
	if (fclose(m) != 0) {
		free(buf);
		return (NULL);
	}
	*lenp = len;
	return (buf);
}

static bool
snapshot_has(const char *snap, size_t len, const char *name)
{
	size_t off = 0;

	while (off < len) {
		if (strcmp(snap + off, name) == 0)
			return (true);
		off += strlen(snap + off) + 1;
	}
	return (false);
}

static void
open_text(fuse_req_t req, struct fuse_file_info *fi, char *text, size_t len)
{
	struct dfile *f = calloc(1, sizeof(*f));

	if (f == NULL) {
		free(text);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	f->kind = DF_TEXT;
	f->text = text;
	f->len = len;
	fi->fh = (uintptr_t)f;
	fi->direct_io = 1;
	/* Listed so a shutdown before its (asynchronous) release frees it. */
	pthread_mutex_lock(&g_lock);
	f->prev = g_texts.prev;
	f->next = &g_texts;
	g_texts.prev->next = f;
	g_texts.prev = f;
	pthread_mutex_unlock(&g_lock);
	if (fuse_reply_open(req, fi) != 0)
		dh_release(NULL, 0, fi);
}

static void
dh_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char name[256], *text, *before = NULL, *after = NULL;
	size_t len, blen = 0, alen = 0, off;
	struct hproc *p;
	struct dfile *f;
	bool is_sysctl;
	int error, fd = -1;

	if (ino == FILES_INO) {
		error = files_text(&text, &len);
		if (error != 0)
			fuse_reply_err(req, error);
		else
			open_text(req, fi, text, len);
		return;
	}
	if (!ino_name(ino, name, sizeof(name), &is_sysctl)) {
		fuse_reply_err(req, ino == ROOT_INO || ino == SYSCTL_DIR_INO ?
		    EISDIR : ENOENT);
		return;
	}
	if (is_sysctl) {
		error = sysctl_text(name, &text, &len);
		if (error != 0)
			fuse_reply_err(req, error);
		else
			open_text(req, fi, text, len);
		return;
	}

	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	f->kind = DF_DEV;
	f->opener = tid_to_tgid(ctx->pid);
	snprintf(f->node, sizeof(f->node), "%s", name);
	snprintf(f->clone, sizeof(f->clone), "-");
	error = hproc_get(f->opener, ctx->uid, ctx->gid, &p);
	if (error != 0) {
		free(f);
		fuse_reply_err(req, error);
		return;
	}

	pthread_mutex_lock(&g_devfs_lock);
	hk_devfs_sync();
	before = node_snapshot(&blen);
	error = hk_thread_enter(p->hp);
	if (error == 0) {
		error = hk_open(name, fi->flags & O_ACCMODE, &fd);
		hk_thread_leave();
	}
	if (error == 0) {
		/* The node this open created, if it cloned one (autoclone). */
		after = node_snapshot(&alen);
		for (off = 0; after != NULL && before != NULL && off < alen;
		    off += strlen(after + off) + 1) {
			if (!snapshot_has(before, blen, after + off)) {
				snprintf(f->clone, sizeof(f->clone), "%s", after + off);
				break;
			}
		}
		f->fd = fd;
		pthread_mutex_lock(&g_lock);
		f->owner = p;
		p->nfiles++;
		f->prev = g_files.prev;
		f->next = &g_files;
		g_files.prev->next = f;
		g_files.prev = f;
		pthread_mutex_unlock(&g_lock);
	}
	pthread_mutex_unlock(&g_devfs_lock);
	free(before);
	free(after);
	dbg("open %s by %d (tid %d): %s fd %d clone %s", name, f->opener,
	    ctx->pid, error ? strerror(error) : "ok", fd, f->clone);
	hproc_rele(p);
	if (error != 0) {
		free(f);
		fuse_reply_err(req, error);
		return;
	}
	fi->fh = (uintptr_t)f;
	fi->direct_io = 1;
	fi->nonseekable = 1;
	if (fuse_reply_open(req, fi) != 0) {
		/* The opener is gone (interrupted open) and no release will
		 * come for this fh: close it here. */
		logmsg("open of %s by %d: reply failed, closing", name, f->opener);
		dh_release(NULL, ino, fi);
	}
}

static void
dh_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dfile *f = (struct dfile *)(uintptr_t)fi->fh;
	struct hproc *p;
	struct fcopy *copies, *c;
	int error = 0, fd;

	(void)ino;
	if (f->kind == DF_TEXT) {
		pthread_mutex_lock(&g_lock);
		f->prev->next = f->next;
		f->next->prev = f->prev;
		pthread_mutex_unlock(&g_lock);
		free(f->text);
		free(f);
		if (req != NULL)
			fuse_reply_err(req, 0);
		return;
	}
	pthread_mutex_lock(&g_devfs_lock);
	pthread_mutex_lock(&g_lock);
	p = f->owner;
	fd = f->fd;
	f->prev->next = f->next;
	f->next->prev = f->prev;
	if (p != NULL) {
		p->nfiles--;
		p->inflight++;
	}
	copies = f->copies;
	f->copies = NULL;
	for (c = copies; c != NULL; c = c->next) {
		c->p->nfiles--;
		c->p->inflight++;
	}
	pthread_mutex_unlock(&g_lock);
	/* Every host fd of this open file description; the last is its last
	 * close. */
	for (c = copies; c != NULL; c = c->next) {
		if (c->p->hp != NULL && hk_thread_enter(c->p->hp) == 0) {
			(void)hk_close(c->fd);
			hk_thread_leave();
		}
	}
	if (p != NULL && p->hp != NULL && fd >= 0) {
		error = hk_thread_enter(p->hp);
		if (error == 0) {
			error = hk_close(fd);
			hk_thread_leave();
		}
	}
	pthread_mutex_unlock(&g_devfs_lock);
	while ((c = copies) != NULL) {
		copies = c->next;
		hproc_rele(c->p);
		free(c);
	}
	dbg("release %s (opened by %d): %s", f->node, f->opener,
	    error ? strerror(error) : "ok");
	if (p != NULL) {
		holder_retire(p, 1);
		hproc_rele(p);
	}
	free(f);
	if (req != NULL)
		fuse_reply_err(req, 0);
}

static void
dh_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* close(2) of one descriptor: not a last close (release is). */
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

/*
 * FUSE interrupt: the caller got a signal while the request is in the
 * server.  Post it to the caller's hproc so CURSIG sees it in the driver.
 * Runs under libfuse's request lock, on another worker thread.
 */
static void
dh_interrupt(fuse_req_t req, void *data)
{
	struct call *c = data;
	int sig;

	(void)req;
	sig = pending_signal(c->tid);
	if (sig == 0 || sig == SIGKILL || sig == SIGSTOP)
		sig = SIGINT;
	pthread_mutex_lock(&c->mtx);
	if (!c->interrupted) {
		c->interrupted = true;
		if (hk_kill(c->p->hp, sig) == 0)
			c->sig_posted = sig;
		dbg("interrupt: thread %d, posted signal %d", c->tid, sig);
	}
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mtx);
}

/* Begin a host-kernel call on behalf of the request's thread. */
static int
call_begin(struct call *c, fuse_req_t req, struct hproc *p)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int error;

	memset(c, 0, sizeof(*c));
	c->p = p;
	c->tid = ctx->pid;
	pthread_mutex_init(&c->mtx, NULL);
	pthread_cond_init(&c->cv, NULL);
	fuse_req_interrupt_func(req, dh_interrupt, c);
	error = hk_thread_enter(p->hp);
	if (error != 0) {
		fuse_req_interrupt_func(req, NULL, NULL);
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mtx);
		return (error);
	}
	t_call = c;
	return (0);
}

static void
call_end(struct call *c, fuse_req_t req)
{
	/* No interrupt callback runs after this returns. */
	fuse_req_interrupt_func(req, NULL, NULL);
	if (c->sig_posted != 0)
		hk_sig_clear(c->p->hp, c->sig_posted);
	t_call = NULL;
	hk_thread_leave();
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mtx);
}

/*
 * --hold: keep the call in the server until the caller is interrupted or
 * the time runs out, as a driver running a guest for a while would.
 */
static void
call_hold(struct call *c, int ms)
{
	struct timespec now, ts;
	long left = ms;

	/* In slices, so a shutdown is noticed within 50 ms. */
	pthread_mutex_lock(&c->mtx);
	while (!c->interrupted && left > 0 &&
	    !__atomic_load_n(&g_stopping, __ATOMIC_SEQ_CST)) {
		long slice = left < 50 ? left : 50;

		clock_gettime(CLOCK_REALTIME, &now);
		ts = now;
		ts.tv_nsec += slice * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&c->cv, &c->mtx, &ts);
		left -= slice;
	}
	pthread_mutex_unlock(&c->mtx);
}

/*
 * Linux ioctl encoding -> DragonFly's: the direction bits are swapped
 * (Linux _IOC_WRITE 0x40000000 is BSD IOC_IN 0x80000000, _IOC_READ is
 * IOC_OUT), Linux sizes have 14 bits and BSD's 13.  Commands the BSD word
 * cannot express get ENOTTY.
 */
static int
ioctl_linux_to_bsd(unsigned int lcmd, unsigned long *bsd, size_t *len)
{
	unsigned int dir = lcmd >> 30;
	unsigned int size = (lcmd >> 16) & 0x3fff;
	unsigned long b = 0;

	if (size > BSD_IOCPARM_MASK)
		return (ENOTTY);
	if (dir == 0) {
		if (size != 0)
			return (ENOTTY);	/* _IOWINT-style value args */
		b = BSD_IOC_VOID;
	}
	if (dir & 1)
		b |= BSD_IOC_IN;
	if (dir & 2)
		b |= BSD_IOC_OUT;
	*bsd = b | ((unsigned long)size << 16) | (lcmd & 0xffff);
	*len = size;
	return (0);
}

static void
dh_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
    struct fuse_file_info *fi, unsigned flags, const void *in_buf,
    size_t in_bufsz, size_t out_bufsz)
{
	struct dfile *f = (struct dfile *)(uintptr_t)fi->fh;
	unsigned char buf[BSD_IOCPARM_MASK + 1];
	unsigned long bsd;
	struct hproc *p;
	struct call c;
	size_t len;
	int error, fd;

	(void)ino;
	if (f->kind != DF_DEV || (flags & FUSE_IOCTL_UNRESTRICTED) ||
	    ioctl_linux_to_bsd(cmd, &bsd, &len) != 0) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	memset(buf, 0, len);
	if ((bsd & BSD_IOC_IN) && in_buf != NULL)
		memcpy(buf, in_buf, in_bufsz < len ? in_bufsz : len);
	if ((bsd & BSD_IOC_OUT) && out_bufsz < len) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	p = dfile_proc(f, fuse_req_ctx(req)->pid, &fd);
	if (p == NULL) {
		fuse_reply_err(req, EBADF);
		return;
	}
	error = call_begin(&c, req, p);
	if (error == 0) {
		c.scratch = buf;
		c.scratch_len = len;
		if (opt.hold_ms > 0 && cmd == opt.hold_cmd)
			call_hold(&c, opt.hold_ms);
		error = hk_ioctl(fd, bsd, (bsd & BSD_IOC_VOID) ? arg :
		    (void *)SCRATCH_UADDR);
		call_end(&c, req);
	}
	hproc_rele(p);
	__atomic_add_fetch(&f->ioctls, 1, __ATOMIC_RELAXED);
	if (error != 0)
		fuse_reply_err(req, error);
	else
		fuse_reply_ioctl(req, 0, (bsd & BSD_IOC_OUT) ? buf : NULL,
		    (bsd & BSD_IOC_OUT) ? len : 0);
}

static void
dh_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct dfile *f = (struct dfile *)(uintptr_t)fi->fh;
	struct hproc *p;
	struct call c;
	unsigned char *buf;
	size_t done = 0;
	int error, fd;

	(void)ino;
	if (f->kind == DF_TEXT) {
		size_t n;
		char *copy;

		if (off < 0 || (size_t)off >= f->len) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		/*
		 * Reply from a private copy: once the reply is written the
		 * reader may close and release may free f on another worker,
		 * while this thread is still returning from the write.
		 */
		n = f->len - off < size ? f->len - off : size;
		copy = malloc(n);
		if (copy == NULL) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		memcpy(copy, f->text + off, n);
		fuse_reply_buf(req, copy, n);
		free(copy);
		return;
	}
	if (size > SCRATCH_MAX)
		size = SCRATCH_MAX;
	buf = malloc(size ? size : 1);
	p = dfile_proc(f, fuse_req_ctx(req)->pid, &fd);
	if (buf == NULL || p == NULL) {
		free(buf);
		if (p != NULL)
			hproc_rele(p);
		fuse_reply_err(req, buf == NULL ? ENOMEM : EBADF);
		return;
	}
	error = call_begin(&c, req, p);
	if (error == 0) {
		c.scratch = buf;
		c.scratch_len = size;
		error = hk_read(fd, (void *)SCRATCH_UADDR, size, &done);
		call_end(&c, req);
	}
	hproc_rele(p);
	if (error != 0)
		fuse_reply_err(req, error);
	else
		fuse_reply_buf(req, (char *)buf, done);
	free(buf);
}

static void
dh_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	struct dfile *f = (struct dfile *)(uintptr_t)fi->fh;
	struct hproc *p;
	struct call c;
	size_t done = 0;
	int error, fd;

	(void)ino;
	(void)off;
	if (f->kind == DF_TEXT) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (size > SCRATCH_MAX)
		size = SCRATCH_MAX;
	p = dfile_proc(f, fuse_req_ctx(req)->pid, &fd);
	if (p == NULL) {
		fuse_reply_err(req, EBADF);
		return;
	}
	error = call_begin(&c, req, p);
	if (error == 0) {
		c.scratch = (unsigned char *)(uintptr_t)data;
		c.scratch_len = size;
		error = hk_write(fd, (void *)SCRATCH_UADDR, size, &done);
		call_end(&c, req);
	}
	hproc_rele(p);
	if (error != 0)
		fuse_reply_err(req, error);
	else
		fuse_reply_write(req, done);
}

static const struct fuse_lowlevel_ops dh_ops = {
	.lookup = dh_lookup,
	.getattr = dh_getattr,
	.readdir = dh_readdir,
	.open = dh_open,
	.release = dh_release,
	.flush = dh_flush,
	.read = dh_read,
	.write = dh_write,
	.ioctl = dh_ioctl,
};

/* --- the loop thread ------------------------------------------------------ */

static pthread_t g_loop_thread;
static volatile int g_loop_done;
static int g_loop_rc;

static void
wake_handler(int sig)
{
	(void)sig;
}

static void *
loop_main(void *arg)
{
	struct fuse_loop_config *cfg;
	sigset_t set;

	(void)arg;
	/* Only this thread takes SIGUSR2, to leave sem_wait in the loop. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, (unsigned)opt.threads);
	g_loop_rc = fuse_session_loop_mt(g_se, cfg);
	fuse_loop_cfg_destroy(cfg);
	__atomic_store_n(&g_loop_done, 1, __ATOMIC_SEQ_CST);
	return (NULL);
}

static void
loop_stop(void)
{
	struct timespec ts = { 0, 20 * 1000000L };

	__atomic_store_n(&g_stopping, 1, __ATOMIC_SEQ_CST);
	fuse_session_exit(g_se);
	/* Repeat: one signal may land before the loop sleeps. */
	while (!__atomic_load_n(&g_loop_done, __ATOMIC_SEQ_CST)) {
		pthread_kill(g_loop_thread, SIGUSR2);
		nanosleep(&ts, NULL);
	}
	pthread_join(g_loop_thread, NULL);
}

/* --- devhost run: the private namespace ---------------------------------- */

static int
mkfile(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return (-1);
	close(fd);
	return (0);
}

/*
 * Put a tmpfs over /dev in this (private) namespace and mirror every entry
 * of the real /dev into it with bind mounts (directories recursively, so
 * /dev/pts, /dev/shm ... keep working); the real /dev is never written.
 */
static int
shadow_dev(void)
{
	char src[PATH_MAX], dst[PATH_MAX], link[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int dfd, n, error = 0;

	dfd = open("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return (-1);
	if (mount("devhost", "/dev", "tmpfs", MS_NOSUID, "mode=0755") != 0) {
		logmsg("mount tmpfs on /dev: %s", strerror(errno));
		close(dfd);
		return (-1);
	}
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		snprintf(src, sizeof(src), "/proc/self/fd/%d/%s", dfd, de->d_name);
		snprintf(dst, sizeof(dst), "/dev/%s", de->d_name);
		if (S_ISLNK(st.st_mode)) {
			n = (int)readlinkat(dfd, de->d_name, link, sizeof(link) - 1);
			if (n < 0)
				continue;
			link[n] = '\0';
			if (symlink(link, dst) != 0)
				error = -1;
			continue;
		}
		if (S_ISDIR(st.st_mode) ? mkdir(dst, st.st_mode & 07777) : mkfile(dst)) {
			error = -1;
			continue;
		}
		if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) != 0) {
			dbg("bind %s: %s", dst, strerror(errno));
			error = -1;
		}
	}
	closedir(d);
	if (error != 0)
		logmsg("some /dev entries could not be mirrored");
	return (0);
}

static int
run_prepare(char *mnt, size_t mntlen)
{
	if (unshare(CLONE_NEWNS) != 0) {
		logmsg("unshare(CLONE_NEWNS): %s (devhost run needs root)",
		    strerror(errno));
		return (-1);
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		logmsg("make / rprivate: %s", strerror(errno));
		return (-1);
	}
	if (shadow_dev() != 0)
		return (-1);
	snprintf(mnt, mntlen, "/dev/.devhost");
	if (mkdir(mnt, 0755) != 0) {
		logmsg("mkdir %s: %s", mnt, strerror(errno));
		return (-1);
	}
	return (0);
}

static int
run_bind(const char *mnt)
{
	char src[PATH_MAX], dst[PATH_MAX];

	snprintf(src, sizeof(src), "%s/%s", mnt, opt.run_node);
	snprintf(dst, sizeof(dst), "/dev/%s", opt.run_node);
	(void)unlink(dst);
	if (mkfile(dst) != 0) {
		logmsg("create %s: %s", dst, strerror(errno));
		return (-1);
	}
	if (mount(src, dst, NULL, MS_BIND, NULL) != 0) {
		logmsg("bind %s on %s: %s", src, dst, strerror(errno));
		return (-1);
	}
	return (0);
}

/* --- main ----------------------------------------------------------------- */

/*
 * Exit every host process devhost made, unload the modules it loaded (in
 * reverse), then hk_shutdown and report.  A cloning shim's detach leaves
 * one struct dev_ops in the kernel's devbuf on purpose (the interposer or
 * autoclone's quiesce copy, which a thread may still be reading: see
 * docs/kqemu_clone.4.md, UNLOADING).  So the one leak accepted is at most
 * one devbuf allocation per unloaded shim (a module with a debug.NAME.mode
 * sysctl) beyond those present before the loads; anything else is a leak.
 */
static int
shutdown_kernel(const char **loads, int nloads, int exitcode)
{
	struct hk_leaks lk;
	struct hproc *p;
	size_t bytes = 0, count = 0, kept;
	int nproc = 0, shims = 0, error, i;
	bool clean;

	for (p = g_procs; p != NULL; p = p->next) {
		if (p->hp != NULL) {
			if (hk_proc_exit(p->hp, 0) == 0)
				nproc++;
			p->hp = NULL;
		}
	}
	for (i = nloads - 1; i >= 0; i--) {
		char name[128], mode[32];
		size_t len = sizeof(mode);
		bool shim;

		if (!hk_kld_isloaded(loads[i]))
			continue;
		snprintf(name, sizeof(name), "debug.%s.mode", loads[i]);
		shim = hk_sysctl(name, mode, &len, NULL, 0) == 0;
		error = hk_kldunload(loads[i]);
		if (error != 0)
			logmsg("kldunload %s: %s", loads[i], strerror(error));
		else if (shim && !hk_kld_isloaded(loads[i]))
			shims++;
	}
	hk_kmalloc_stats("devbuf", &bytes, &count);
	kept = count > g_devbuf_base ? count - g_devbuf_base : 0;
	error = hk_shutdown(&lk);
	clean = error == 0 && lk.kmalloc_count == kept &&
	    kept <= (size_t)shims && lk.cdevs == 0 && lk.files == 0 &&
	    lk.procs == 0 && lk.modules == 0;
	logmsg("shutdown: %d process%s exited; leaks: %zu kmalloc bytes "
	    "(%zu allocations%s), %d cdevs, %d files, %d procs, %d modules%s",
	    nproc, nproc == 1 ? "" : "es", lk.kmalloc_bytes, lk.kmalloc_count,
	    kept > 0 && lk.kmalloc_count == kept ?
	    ": the shim's dev_ops kept on unload, documented" : "",
	    lk.cdevs, lk.files, lk.procs, lk.modules, clean ? " -- clean" : "");
	if (!clean && exitcode == 0)
		exitcode = 3;
	return (exitcode);
}

static void
usage(void)
{
	fprintf(stderr,
"usage: devhost [options] MOUNTPOINT\n"
"       devhost run [options] -- CMD [ARGS...]\n"
"options:\n"
"  --load NAME        kldload NAME (repeatable, in order)\n"
"  -t NAME=VALUE      loader tunable, set before the loads (repeatable)\n"
"  --profile P        kernel profile: modern (default), nocdevpriv, legacy, devfs24\n"
"  --modules DIR      where NAME.so modules live (default: the build's)\n"
"  --node NAME        run: the node bound at /dev/NAME (default kqemu)\n"
"  --hold CMD=MS      test instrument: hold ioctl CMD (Linux encoding) up to\n"
"                     MS ms in the server or until the caller is interrupted\n"
"  --ready-fd FD      write \"ready\\n\" to FD once the mount serves\n"
"  --threads N        max FUSE worker threads (default 64)\n"
"  -v                 log every open, release, death and interrupt\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "load", required_argument, NULL, 'l' },
		{ "profile", required_argument, NULL, 'p' },
		{ "modules", required_argument, NULL, 'm' },
		{ "node", required_argument, NULL, 'n' },
		{ "hold", required_argument, NULL, 'H' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *loads[32], *tunables[64];
	int nloads = 0, ntun = 0, c, i, error, status = 0, exitcode = 0;
	char mnt[PATH_MAX], *eq;
	struct hk_leaks lk;
	pid_t child = -1;
	sigset_t sigs, all;
	struct sigaction sa;
	struct epoll_event ev;
	pthread_t reaper;
	bool child_done = false;
	int sigcount = 0;

again:
	while ((c = getopt_long(argc, argv, "+t:vh", lopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (nloads == 32)
				usage();
			loads[nloads++] = optarg;
			break;
		case 't':
			if (ntun == 64 || strchr(optarg, '=') == NULL)
				usage();
			tunables[ntun++] = optarg;
			break;
		case 'p':
			opt.profile = hk_profile_by_name(optarg);
			if (opt.profile < 0) {
				logmsg("unknown profile %s", optarg);
				usage();
			}
			break;
		case 'm':
			opt.module_path = optarg;
			break;
		case 'n':
			opt.run_node = optarg;
			break;
		case 'H':
			eq = strchr(optarg, '=');
			if (eq == NULL)
				usage();
			opt.hold_cmd = (unsigned int)strtoul(optarg, NULL, 0);
			opt.hold_ms = atoi(eq + 1);
			break;
		case 'r':
			opt.ready_fd = atoi(optarg);
			break;
		case 'T':
			opt.threads = atoi(optarg);
			if (opt.threads < 2)
				opt.threads = 2;
			break;
		case 'v':
			opt.verbose = true;
			break;
		default:
			usage();
		}
	}
	/* "run" may come first or after options; options may follow it. */
	if (!opt.run && optind < argc && strcmp(argv[optind], "run") == 0) {
		opt.run = true;
		optind++;
		goto again;
	}
	if (opt.run) {
		if (optind < argc && strcmp(argv[optind - 1], "--") != 0 &&
		    strcmp(argv[optind], "--") == 0)
			optind++;
		if (optind >= argc)
			usage();
		opt.run_argv = argv + optind;
	} else {
		if (optind != argc - 1)
			usage();
		opt.mountpoint = argv[optind];
	}

	if (access("/dev/fuse", R_OK | W_OK) != 0) {
		logmsg("FUSE is unavailable: /dev/fuse: %s%s", strerror(errno),
		    geteuid() != 0 ? " (run as root)" : " (modprobe fuse?)");
		return (77);
	}

	/* Signals: every thread blocks these; main takes them by sigtimedwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGCHLD);
	sigemptyset(&all);
	sigaddset(&all, SIGINT);
	sigaddset(&all, SIGTERM);
	sigaddset(&all, SIGHUP);
	sigaddset(&all, SIGCHLD);
	sigaddset(&all, SIGUSR2);
	sigaddset(&all, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wake_handler;	/* no SA_RESTART: interrupts sem_wait */
	sigaction(SIGUSR2, &sa, NULL);

	/* The host kernel, tunables, modules. */
	error = hk_boot(opt.profile, opt.module_path);
	if (error != 0) {
		logmsg("hk_boot: %s", strerror(error));
		return (1);
	}
	for (i = 0; i < ntun; i++) {
		char name[256];
		const char *v = strchr(tunables[i], '=');

		snprintf(name, sizeof(name), "%.*s", (int)(v - tunables[i]),
		    tunables[i]);
		error = hk_setenv(name, v + 1);
		if (error != 0) {
			logmsg("setenv %s: %s", tunables[i], strerror(error));
			return (1);
		}
	}
	{
		size_t b;

		hk_kmalloc_stats("devbuf", &b, &g_devbuf_base);
	}
	for (i = 0; i < nloads; i++) {
		error = hk_kldload(loads[i], NULL);
		if (error != 0) {
			logmsg("kldload %s: %s", loads[i], strerror(error));
			hk_shutdown(&lk);
			return (1);
		}
	}
	hk_devfs_sync();

	if (opt.run) {
		if (run_prepare(mnt, sizeof(mnt)) != 0) {
			hk_shutdown(&lk);
			return (1);
		}
		opt.mountpoint = mnt;
	}

	/* The FUSE session. */
	{
		char *fargv[] = { argv[0], "-o",
		    "allow_other,default_permissions,auto_unmount,"
		    "fsname=devhost,subtype=devhost", NULL };
		struct fuse_args args = FUSE_ARGS_INIT(3, fargv);

		g_se = fuse_session_new(&args, &dh_ops, sizeof(dh_ops), NULL);
		fuse_opt_free_args(&args);
		if (g_se == NULL) {
			logmsg("fuse_session_new failed");
			hk_shutdown(&lk);
			return (1);
		}
		if (fuse_session_mount(g_se, opt.mountpoint) != 0) {
			logmsg("FUSE is unavailable: cannot mount on %s",
			    opt.mountpoint);
			fuse_session_destroy(g_se);
			hk_shutdown(&lk);
			return (77);
		}
	}

	g_epfd = epoll_create1(EPOLL_CLOEXEC);
	g_evfd = eventfd(0, EFD_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_evfd, &ev);
	pthread_create(&reaper, NULL, reaper_main, NULL);
	pthread_create(&g_loop_thread, NULL, loop_main, NULL);

	if (opt.run) {
		if (run_bind(mnt) != 0) {
			exitcode = 1;
			goto stop;
		}
	}
	logmsg("serving %s (profile %d, %d module%s loaded)%s",
	    opt.mountpoint, opt.profile, nloads, nloads == 1 ? "" : "s",
	    opt.run ? ", running the command" : "");
	if (opt.ready_fd >= 0) {
		if (write(opt.ready_fd, "ready\n", 6) != 6)
			logmsg("ready-fd: %s", strerror(errno));
		close(opt.ready_fd);
	}
	if (opt.run) {
		child = fork();
		if (child == 0) {
			/* Its device dies with devhost: so does it. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			pthread_sigmask(SIG_UNBLOCK, &all, NULL);
			execvp(opt.run_argv[0], opt.run_argv);
			fprintf(stderr, "devhost: exec %s: %s\n", opt.run_argv[0],
			    strerror(errno));
			_exit(127);
		}
		if (child < 0) {
			logmsg("fork: %s", strerror(errno));
			exitcode = 1;
			goto stop;
		}
	}

	for (;;) {
		struct timespec to = { 0, 200 * 1000000L };
		siginfo_t si;
		int s = sigtimedwait(&sigs, &si, &to);

		if (s == SIGINT || s == SIGTERM || s == SIGHUP) {
			if (child > 0 && !child_done) {
				/* Forward; a second signal is final. */
				kill(child, ++sigcount > 1 ? SIGKILL : s);
				continue;
			}
			logmsg("signal %d: shutting down", s);
			break;
		}
		if (child > 0 && !child_done &&
		    waitpid(child, &status, WNOHANG) == child) {
			child_done = true;
			exitcode = WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
			break;
		}
		if (__atomic_load_n(&g_loop_done, __ATOMIC_SEQ_CST)) {
			logmsg("unmounted from outside: shutting down");
			break;
		}
	}

stop:
	if (child > 0 && !child_done) {
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
	}
	if (!__atomic_load_n(&g_loop_done, __ATOMIC_SEQ_CST))
		loop_stop();
	else
		pthread_join(g_loop_thread, NULL);
	if (opt.run) {
		char dst[PATH_MAX];

		snprintf(dst, sizeof(dst), "/dev/%s", opt.run_node);
		umount2(dst, MNT_DETACH);
	}
	fuse_session_unmount(g_se);
	fuse_session_destroy(g_se);
	if (opt.run)
		umount2("/dev", MNT_DETACH);

	/* Stop the reaper, then the host kernel: every process exits. */
	{
		uint64_t one = 1;

		if (write(g_evfd, &one, sizeof(one)) != sizeof(one))
			logmsg("eventfd: %s", strerror(errno));
		pthread_join(reaper, NULL);
	}
	exitcode = shutdown_kernel(loads, nloads, exitcode);
	while (g_procs != NULL) {
		struct hproc *p = g_procs;

		g_procs = p->next;
		if (p->pidfd >= 0)
			close(p->pidfd);
		free(p);
	}
	/* Files whose release never came (the loop stopped first). */
	while (g_files.next != &g_files) {
		struct dfile *f = g_files.next;
		struct fcopy *c;

		g_files.next = f->next;
		while ((c = f->copies) != NULL) {
			f->copies = c->next;
			free(c);
		}
		free(f);
	}
	while (g_texts.next != &g_texts) {
		struct dfile *f = g_texts.next;

		g_texts.next = f->next;
		free(f->text);
		free(f);
	}
	for (i = 0; (size_t)i < g_nnames; i++)
		free(g_names[i]);
	free(g_names);
	for (i = 0; (size_t)i < g_nsysctls; i++)
		free(g_sysctls[i]);
	free(g_sysctls);
	close(g_epfd);
	close(g_evfd);
	return (exitcode);
}
