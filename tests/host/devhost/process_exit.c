/*
 * process_exit.c - the death of real processes and the host kernel's exit
 * path for them.
 *
 * Owns:
 *  - the reaper thread: an epoll set of one pidfd per real process that
 *    has an hproc; when one fires, the host kernel's exit path runs for it
 *    (at_exit hooks, then its descriptors), as DragonFly's exit1 would;
 *  - holders: a host process forked from a dead one to keep its device
 *    files open while real processes devhost has not seen use them still
 *    hold them (children that only inherited them); it exits when its last
 *    file is released;
 *  - the teardown of every hproc at shutdown.
 *
 * Locking: an exit marks the hproc dead and waits (g_cv) for the calls
 * already in, without g_devfs_lock, since an open in flight holds inflight
 * and wants that lock; then it moves the files and exits under
 * g_devfs_lock, so no release runs meanwhile.  The hproc is freed by the
 * last hproc_rele once it is dead, exited and holds no file.
 */
#include <sys/epoll.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devhost.h"

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
 * A file some other host process also holds (a copy made by hproc_fork_for)
 * needs no holder: that process becomes its owner.
 *
 * Order: mark dead (new opens make a new hproc, calls on its files wait in
 * dfile_acting_proc), wait for the calls already in (without g_devfs_lock: an
 * open in flight holds inflight and wants that lock), then under
 * g_devfs_lock (no release runs) fork the holder, move the files, exit.
 */
static void
hproc_died(struct hproc *p)
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
void
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

void *
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
			hproc_died(evs[i].data.ptr);
		}
	}
}

/*
 * Shutdown, after the FUSE loop and the reaper stopped: every host process
 * still running exits.  Returns how many did.
 */
int
hproc_exit_all(void)
{
	struct hproc *p;
	int nproc = 0;

	for (p = g_procs; p != NULL; p = p->next) {
		if (p->hp != NULL) {
			if (hk_proc_exit(p->hp, 0) == 0)
				nproc++;
			p->hp = NULL;
		}
	}
	return (nproc);
}

/* Shutdown, after hk_shutdown: free the table. */
void
hproc_free_all(void)
{
	while (g_procs != NULL) {
		struct hproc *p = g_procs;

		g_procs = p->next;
		if (p->pidfd >= 0)
			close(p->pidfd);
		free(p);
	}
}
