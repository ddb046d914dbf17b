/*
 * devhost.h - what the parts of devhost share: the records of real processes
 * and open device files, the locks that guard them, the options, logging.
 *
 * devhost is a FUSE server that runs the host kernel with modules loaded and
 * exposes its devfs nodes as files, so that real Linux processes open, ioctl,
 * read, write and close the DragonFly drivers in tests/host.  Its parts:
 *
 *   devhost.c       main: options, boot, the mount, the FUSE loop thread,
 *                   signals, shutdown and the leak report
 *   namespace.c     `devhost run`: a private mount namespace with the node
 *                   bound at /dev/NODE over a copy of /dev
 *   fuse_ops.c      the FUSE file system: inode numbers, lookup, getattr,
 *                   readdir, open, release, read, write
 *   control.c       the control files /.sysctl/NAME and /.files
 *   process.c       the process mirror: one host-kernel process per real
 *                   process, and the copies forked real processes hold
 *   process_exit.c  the death of real processes (pidfd + reaper thread) and
 *                   the host kernel's exit path for them
 *   call.c          one request's host-kernel call: the bound thread, the
 *                   user memory it reaches, interrupts posted as signals
 *   ioctl.c         Linux ioctl command words to DragonFly's, and the ioctl
 *                   request
 *
 * Threads: the FUSE loop thread and its workers (each request runs on one
 * worker, bound to an hproc with hk_thread_enter for the host-kernel call
 * only), the reaper thread, and the main thread (signals, child, shutdown).
 *
 * Locking (every part follows these; each file says which it takes):
 *  - g_lock (mutex) guards the hproc table and each hproc's counters
 *    (inflight, nfiles, dead), each dfile's owner, fd, copies and caller
 *    cache, the dfile lists and the inode name tables.  Never held across a
 *    host-kernel call.  g_cv (with g_lock) is broadcast when an hproc's
 *    inflight drops and when a dead hproc has finished exiting.
 *  - g_devfs_lock (mutex) serialises opens, releases, forks of host
 *    processes and exits: the devfs node a clone open creates can be named
 *    by comparing the node list before and after (autoclone mode shows
 *    "kqemu3" etc.), and an fd table copied by hk_fork matches the records.
 *    Taken before g_lock, never inside it.  An open or a fork takes it
 *    with an hproc's inflight raised, so hproc_died first marks the hproc
 *    dead and waits for inflight without it; after that only a release
 *    (which holds this lock while it raises inflight) can use the hproc.
 *  - each struct call has a mutex for its interrupt state; the libfuse
 *    interrupt callback runs under libfuse's request lock and takes it.
 *  - an hproc is used by a call only while its inflight count is raised;
 *    the reaper waits for inflight == 0 before hk_proc_exit.
 */
#ifndef DEVHOST_H
#define DEVHOST_H

#define FUSE_USE_VERSION 312

#include <sys/types.h>

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hk.h"

/*
 * devhost links with -rdynamic so that modules bind to the host kernel;
 * its own names stay out of the dynamic symbol table, where a module could
 * bind to them by accident.
 */
#pragma GCC visibility push(hidden)

#define ROOT_INO	FUSE_ROOT_ID	/* 1 */
#define SYSCTL_DIR_INO	2
#define FILES_INO	3
#define NODE_INO_BASE	16		/* + index in the node name table */
#define SYSCTL_INO_BASE	(1ULL << 32)	/* + index in the sysctl name table */

/*
 * The ioctl argument buffer as the host kernel sees it.  x86-64 user
 * addresses are below 2^56 even with 5-level paging, so a real client's
 * pointer can never fall in this window.
 */
#define SCRATCH_UADDR	((uintptr_t)0xffffc00000000000ULL)
#define SCRATCH_MAX	(1U << 20)	/* reads/writes are split by FUSE anyway */

/* The host-kernel process acting for one real process. */
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

/* What a FUSE file handle points to: an open device file or control file. */
struct dfile {
	struct dfile *next, *prev;	/* g_files or the text list (g_lock) */
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

struct devhost_options {
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
};

/* devhost.c */
extern struct devhost_options g_opt;
extern int g_stopping;			/* (atomic) the FUSE loop is stopping */
extern int g_epfd;			/* the reaper's epoll: pidfds */
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define dbg(...) do { if (g_opt.verbose) logmsg(__VA_ARGS__); } while (0)

/* process.c */
extern pthread_mutex_t g_lock;
extern pthread_cond_t g_cv;
extern pthread_mutex_t g_devfs_lock;
extern struct hproc *g_procs;		/* (g_lock) */
int proc_status_field(pid_t tid, const char *key, char *out, size_t outlen);
pid_t tid_to_tgid(pid_t tid);
struct hproc *hproc_new(pid_t tgid, struct hk_proc *hp);
int hproc_get(pid_t tgid, uid_t uid, gid_t gid, struct hproc **pp);
void hproc_rele(struct hproc *p);
struct hproc *dfile_acting_proc(struct dfile *f, pid_t tid, int *fdp);

/* process_exit.c */
void holder_retire(struct hproc *p, int held);
void *reaper_main(void *arg);
int hproc_exit_all(void);
void hproc_free_all(void);

/* call.c */
int uspace_read(void *ctx, uintptr_t uaddr, void *kbuf, size_t len);
int uspace_write(void *ctx, uintptr_t uaddr, const void *kbuf, size_t len);
int call_begin(struct call *c, fuse_req_t req, struct hproc *p,
    unsigned char *scratch, size_t scratch_len);
void call_end(struct call *c, fuse_req_t req);
void call_hold(struct call *c, int ms);

/* fuse_ops.c */
extern struct dfile g_files;		/* open device files (g_lock) */
extern const struct fuse_lowlevel_ops dh_ops;
void fuse_ops_free(void);

/* control.c */
void sysctl_open(fuse_req_t req, const char *name, struct fuse_file_info *fi);
void files_open(fuse_req_t req, struct fuse_file_info *fi);
void text_read(fuse_req_t req, struct dfile *f, size_t size, off_t off);
void text_release(struct dfile *f);
void text_files_free(void);

/* ioctl.c */
void dh_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
    struct fuse_file_info *fi, unsigned flags, const void *in_buf,
    size_t in_bufsz, size_t out_bufsz);

/* namespace.c */
int run_prepare(char *mnt, size_t mntlen);
int run_bind(const char *mnt);

#pragma GCC visibility pop

#endif /* DEVHOST_H */
