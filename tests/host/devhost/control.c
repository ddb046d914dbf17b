/*
 * control.c - the control files: /.sysctl/NAME reads the host-kernel sysctl
 * NAME ("debug.kqemu_clone.listing"), /.files lists every open device file
 * (real pid, host pid, host fd, node, the clone node its open created, ioctl
 * count).
 *
 * Each open takes a snapshot of the text, so a reader sees one consistent
 * state however it splits its reads.  The open snapshots are listed so a
 * shutdown before their (asynchronous) release frees them.
 *
 * Locking: g_lock guards the list of snapshots and is held while /.files
 * walks the device files; a snapshot is read without it (the file handle
 * keeps it alive until release).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devhost.h"

static struct dfile g_texts = { .next = &g_texts, .prev = &g_texts };

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

static void
text_open(fuse_req_t req, struct fuse_file_info *fi, char *text, size_t len)
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
		text_release(f);
}

/* Open /.sysctl/NAME: a snapshot of the sysctl's text. */
void
sysctl_open(fuse_req_t req, const char *name, struct fuse_file_info *fi)
{
	char *text;
	size_t len;
	int error;

	error = sysctl_text(name, &text, &len);
	if (error != 0)
		fuse_reply_err(req, error);
	else
		text_open(req, fi, text, len);
}

/* Open /.files: a snapshot of the open device files. */
void
files_open(fuse_req_t req, struct fuse_file_info *fi)
{
	char *text;
	size_t len;
	int error;

	error = files_text(&text, &len);
	if (error != 0)
		fuse_reply_err(req, error);
	else
		text_open(req, fi, text, len);
}

void
text_read(fuse_req_t req, struct dfile *f, size_t size, off_t off)
{
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
}

/* The release of a snapshot (the caller replies, if there is a request). */
void
text_release(struct dfile *f)
{
	pthread_mutex_lock(&g_lock);
	f->prev->next = f->next;
	f->next->prev = f->prev;
	pthread_mutex_unlock(&g_lock);
	free(f->text);
	free(f);
}

/* Shutdown, after the FUSE loop stopped: snapshots whose release never came. */
void
text_files_free(void)
{
	while (g_texts.next != &g_texts) {
		struct dfile *f = g_texts.next;

		g_texts.next = f->next;
		free(f->text);
		free(f);
	}
}
