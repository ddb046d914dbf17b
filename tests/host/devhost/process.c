/*
 * process.c - the process mirror: one host-kernel process (struct hproc)
 * per real process, and which of them a call on a device file runs as.
 *
 * Owns:
 *  - the hproc table g_procs and the locks of devhost's shared state
 *    (g_lock, g_cv, g_devfs_lock; their rules are in devhost.h);
 *  - mapping the calling thread FUSE reports to its process (Tgid, read
 *    from /proc/TID/status): the host kernel models processes, not threads;
 *  - creating an hproc at a real process's first open, with credentials
 *    from the FUSE request and a pidfd the reaper (process_exit.c) watches;
 *  - forked real processes: dup() and fork() share the FUSE file handle as
 *    they share the open file description, so a call may come from a
 *    process other than the opener.  At its first use of an inherited file
 *    such a process gets an hproc forked from the opener's (hk_fork copies
 *    the fd table and runs the at_fork hooks), recorded as struct fcopy in
 *    every file it inherited, so it acts on its own copy as the real fork
 *    gave it.
 *
 * Locking: g_lock for the table, the counters and the copies.  A fork
 * takes g_devfs_lock (then g_lock) so that no release runs between the
 * fd-table copy and the records.  Callers get an hproc with inflight
 * raised and drop it with hproc_rele; a dead hproc's files are about to
 * move, so dfile_acting_proc waits on g_cv until its exit has run.
 */
#include <sys/epoll.h>
#include <sys/syscall.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devhost.h"

pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
pthread_mutex_t g_devfs_lock = PTHREAD_MUTEX_INITIALIZER;
struct hproc *g_procs;

/* Read a "Key:\tvalue" line of /proc/<tid>/status. */
int
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
pid_t
tid_to_tgid(pid_t tid)
{
	char v[32];

	if (tid > 0 && proc_status_field(tid, "Tgid", v, sizeof(v)))
		return ((pid_t)atoi(v));
	return (tid);
}

struct hproc *
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
int
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

/*
 * Drop a reference taken by hproc_get or dfile_acting_proc; frees a retired
 * hproc.
 */
void
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
hproc_fork_for(struct hproc *p, pid_t tgid)
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
struct hproc *
dfile_acting_proc(struct dfile *f, pid_t tid, int *fdp)
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
		if (hproc_fork_for(p, tgid) != 0)
			dbg("process %d: no host process of its own", tgid);
		hproc_rele(p);
		pthread_mutex_lock(&g_lock);
	}
	p->inflight++;
	*fdp = f->fd;
	pthread_mutex_unlock(&g_lock);
	return (p);
}
