/*
 * fuse_ops.c - the FUSE file system (libfuse3 low-level API, multithreaded
 * loop): one regular file per devfs node, with its cdev's owner, group and
 * mode, and the control entries .sysctl/ and .files (control.c).
 *
 * Owns:
 *  - inode numbers: names are handed out numbers as they are looked up and
 *    never reused, so a node that goes and comes back keeps its number;
 *    nothing is cached by the kernel (nodes come and go with clones);
 *  - open: hk_open as the caller's hproc, on the FUSE worker; the file
 *    handle records (owning hproc, host fd) in a struct dfile, and the
 *    devfs node the open created when it cloned one (autoclone);
 *  - release, once per open file description after the last close in any
 *    process (also after SIGKILL): the host kernel's last close of every
 *    host fd of it.  flush (every close(2)) is not a close in the host
 *    kernel;
 *  - read and write, through the call's scratch buffer (call.c).
 *
 * Locking: g_lock for the name tables and the dfile list.  Open and
 * release run under g_devfs_lock so the node list before and after an open
 * names its clone, and no fork or exit copies or moves a table meanwhile.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devhost.h"

struct dfile g_files = { .next = &g_files, .prev = &g_files };

/* Names handed out as inode numbers (never shrink; g_lock). */
static char **g_node_names;
static size_t g_nnode_names;
static char **g_sysctl_names;
static size_t g_nsysctl_names;

/*
 * The inode number of a name: base + its index in tab, added if new; 0 if
 * out of memory.
 */
static fuse_ino_t
ino_for_name(char ***tab, size_t *n, const char *name, fuse_ino_t base)
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

/* Copy the name behind an inode (false if none). */
static bool
name_for_ino(fuse_ino_t ino, char *buf, size_t len, bool *is_sysctl)
{
	bool ok = false;

	pthread_mutex_lock(&g_lock);
	if (ino >= SYSCTL_INO_BASE && ino - SYSCTL_INO_BASE < g_nsysctl_names) {
		snprintf(buf, len, "%s", g_sysctl_names[ino - SYSCTL_INO_BASE]);
		*is_sysctl = true;
		ok = true;
	} else if (ino >= NODE_INO_BASE && ino < SYSCTL_INO_BASE &&
	    ino - NODE_INO_BASE < g_nnode_names) {
		snprintf(buf, len, "%s", g_node_names[ino - NODE_INO_BASE]);
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
ino_getattr(fuse_ino_t ino, struct stat *st)
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
	if (!name_for_ino(ino, name, sizeof(name), &is_sysctl))
		return (ENOENT);
	if (is_sysctl) {
		st->st_mode = S_IFREG | 0444;
		return (0);
	}
	return (node_attr(name, st));
}

static void
reply_entry(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_entry_param e;
	int error;

	memset(&e, 0, sizeof(e));
	error = ino_getattr(ino, &e.attr);
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
			ino = ino_for_name(&g_node_names, &g_nnode_names,
			    name, NODE_INO_BASE);
	} else if (parent == SYSCTL_DIR_INO) {
		len = 0;
		if (hk_sysctl(name, NULL, &len, NULL, 0) == 0)
			ino = ino_for_name(&g_sysctl_names,
			    &g_nsysctl_names, name, SYSCTL_INO_BASE);
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
	error = ino_getattr(ino, &st);
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
			ADD(name, ino_for_name(&g_node_names,
			    &g_nnode_names, name, NODE_INO_BASE), S_IFREG);
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

static void dh_release(fuse_req_t req, fuse_ino_t ino,
    struct fuse_file_info *fi);

static void
dh_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char name[256], *before = NULL, *after = NULL;
	size_t blen = 0, alen = 0, off;
	struct hproc *p;
	struct dfile *f;
	bool is_sysctl;
	int error, fd = -1;

	if (ino == FILES_INO) {
		files_open(req, fi);
		return;
	}
	if (!name_for_ino(ino, name, sizeof(name), &is_sysctl)) {
		fuse_reply_err(req, ino == ROOT_INO || ino == SYSCTL_DIR_INO ?
		    EISDIR : ENOENT);
		return;
	}
	if (is_sysctl) {
		sysctl_open(req, name, fi);
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
		text_release(f);
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
		text_read(req, f, size, off);
		return;
	}
	if (size > SCRATCH_MAX)
		size = SCRATCH_MAX;
	buf = malloc(size ? size : 1);
	p = dfile_acting_proc(f, fuse_req_ctx(req)->pid, &fd);
	if (buf == NULL || p == NULL) {
		free(buf);
		if (p != NULL)
			hproc_rele(p);
		fuse_reply_err(req, buf == NULL ? ENOMEM : EBADF);
		return;
	}
	error = call_begin(&c, req, p, buf, size);
	if (error == 0) {
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
	p = dfile_acting_proc(f, fuse_req_ctx(req)->pid, &fd);
	if (p == NULL) {
		fuse_reply_err(req, EBADF);
		return;
	}
	error = call_begin(&c, req, p, (unsigned char *)(uintptr_t)data,
	    size);
	if (error == 0) {
		error = hk_write(fd, (void *)SCRATCH_UADDR, size, &done);
		call_end(&c, req);
	}
	hproc_rele(p);
	if (error != 0)
		fuse_reply_err(req, error);
	else
		fuse_reply_write(req, done);
}

const struct fuse_lowlevel_ops dh_ops = {
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

/*
 * Shutdown, after the FUSE loop stopped: free the device files whose
 * release never came, and the name tables.
 */
void
fuse_ops_free(void)
{
	size_t i;

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
	for (i = 0; i < g_nnode_names; i++)
		free(g_node_names[i]);
	free(g_node_names);
	for (i = 0; i < g_nsysctl_names; i++)
		free(g_sysctl_names[i]);
	free(g_sysctl_names);
}
