/*
 * ioctl.c - ioctl requests: the Linux command word FUSE passes becomes the
 * DragonFly word the driver expects, and the argument FUSE copied into the
 * server reaches hk_ioctl at SCRATCH_UADDR (call.c); pointers inside it
 * (kqemu's INIT arrays) reach the calling process's own memory.
 *
 * Only restricted ioctls are served: FUSE sizes and directs them by the
 * Linux command word, which is all the kqemu ABI uses.
 *
 * Locking: none of its own; the call holds the hproc's inflight (see
 * process.c) and the request's interrupt state (call.c).
 */
#include <errno.h>
#include <string.h>

#include "devhost.h"

/* DragonFly's ioctl encoding (sys/ioccom.h) */
#define BSD_IOCPARM_MASK 0x1fffU
#define BSD_IOC_VOID	0x20000000U
#define BSD_IOC_OUT	0x40000000U
#define BSD_IOC_IN	0x80000000U

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

void
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
	p = dfile_acting_proc(f, fuse_req_ctx(req)->pid, &fd);
	if (p == NULL) {
		fuse_reply_err(req, EBADF);
		return;
	}
	error = call_begin(&c, req, p, buf, len);
	if (error == 0) {
		if (g_opt.hold_ms > 0 && cmd == g_opt.hold_cmd)
			call_hold(&c, g_opt.hold_ms);
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
