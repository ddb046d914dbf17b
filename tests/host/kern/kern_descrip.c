/*
 * kern_descrip.c - struct file, per-process descriptor tables and the
 * descriptor syscalls (kern/kern_descrip.c, kern/sys_generic.c):
 *   - a file is referenced by each descriptor pointing at it (dup, fork)
 *     and by each syscall using it (holdfp); close(2) drops the descriptor's
 *     reference; fdrop of the LAST reference closes the file (fo_close ->
 *     devfs_fo_close), never an earlier one;
 *   - hk_ioctl is sys_ioctl/mapped_ioctl: IOCPARM_LEN, copyin for IOC_IN,
 *     zeroed buffer for IOC_OUT, copyout after success, the file's open mode
 *     as a_fflag, EBADF for a bad descriptor or a file open for neither
 *     reading nor writing;
 *   - ERESTART from a driver (trap.c syscall2): ioctl, read and write run
 *     again from the start (read/write only if no data moved, as
 *     dofileread has it); open returns EINTR (kern_open).
 *
 * Locking: a process's fd table is guarded by its hk_proc.mtx; f_count is
 * atomic.  No lock is held across a call into devfs or a driver.
 */
#include "hk_impl.h"

#include <stdlib.h>
#include <string.h>

volatile int hk_nfiles;

void
hk_descrip_boot(void)
{
	__atomic_store_n(&hk_nfiles, 0, __ATOMIC_SEQ_CST);
}

int
hk_descrip_shutdown(void)
{
	int n = __atomic_load_n(&hk_nfiles, __ATOMIC_SEQ_CST);

	if (n != 0)
		fprintf(stderr, "hostkern: leak: %d struct file still "
		    "referenced\n", n);
	return (n);
}

struct file *
hk_falloc(struct ucred *cred, int fflags)
{
	struct file *fp = calloc(1, sizeof(*fp) + sizeof(struct hk_file_priv));

	fp->f_hk = fp + 1;
	fp->f_count = 1;
	fp->f_flag = fflags & FMASK;
	fp->f_type = DTYPE_VNODE;
	fp->f_cred = crhold(cred);
	spin_init(&fp->f_spin, "fp");
	__atomic_fetch_add(&hk_nfiles, 1, __ATOMIC_SEQ_CST);
	return (fp);
}

void
fhold(struct file *fp)
{
	u_int old = __atomic_fetch_add(&fp->f_count, 1, __ATOMIC_SEQ_CST);

	if (old == 0)
		panic("fhold: file %p has no references", fp);
}

/* kern_descrip.c fdrop: the last reference closes and frees the file. */
int
fdrop(struct file *fp)
{
	struct hk_file_priv *fpp = fp->f_hk;
	u_int old;
	int error = 0;

	old = __atomic_fetch_sub(&fp->f_count, 1, __ATOMIC_SEQ_CST);
	if (old == 0)
		panic("fdrop: invalid f_count 0 on %p", fp);
	if (old > 1)
		return (0);
	if (fpp->opened)
		error = hk_devfs_close(fp);
	if (fp->f_data1 != NULL) {
		/*
		 * A cdevpriv set by a d_open that then failed: devfs never
		 * runs its destructor and the 5.8 kernel leaks the record.
		 */
		hk_report("cdevpriv %p left on a file whose d_open failed: "
		    "its destructor never runs (the module must unwind "
		    "itself)", fp->f_data1);
		kfree(fp->f_data1, M_DEVFS);
		fp->f_data1 = NULL;
	}
	crfree(fp->f_cred);
	spin_uninit(&fp->f_spin);
	free(fp);
	__atomic_fetch_sub(&hk_nfiles, 1, __ATOMIC_SEQ_CST);
	return (error);
}

/* ------------------------------------------------------------------------ */
/* Descriptor tables                                                        */

int
hk_fd_install(struct hk_proc *p, struct file *fp, int *fdp)
{
	int fd;

	pthread_mutex_lock(&p->mtx);
	for (fd = 0; fd < p->nfds && p->fds[fd] != NULL; fd++)
		;
	if (fd == p->nfds) {
		int n = p->nfds ? p->nfds * 2 : 16;
		p->fds = realloc(p->fds, n * sizeof(*p->fds));
		memset(p->fds + p->nfds, 0, (n - p->nfds) * sizeof(*p->fds));
		p->nfds = n;
	}
	p->fds[fd] = fp;
	pthread_mutex_unlock(&p->mtx);
	*fdp = fd;
	return (0);
}

/* holdfp: the file behind fd, with a reference, or NULL. */
struct file *
hk_fd_get(struct hk_proc *p, int fd)
{
	struct file *fp = NULL;

	pthread_mutex_lock(&p->mtx);
	if (fd >= 0 && fd < p->nfds && (fp = p->fds[fd]) != NULL)
		fhold(fp);
	pthread_mutex_unlock(&p->mtx);
	return (fp);
}

/* fdcopy: the child's table references the same open files. */
int
hk_fdcopy(struct hk_proc *parent, struct hk_proc *child)
{
	struct file **fds;
	int i, n;

	pthread_mutex_lock(&parent->mtx);
	n = parent->nfds;
	fds = calloc(n ? n : 1, sizeof(*fds));
	for (i = 0; i < n; i++) {
		if ((fds[i] = parent->fds[i]) != NULL)
			fhold(fds[i]);
	}
	pthread_mutex_unlock(&parent->mtx);
	pthread_mutex_lock(&child->mtx);
	free(child->fds);
	child->fds = fds;
	child->nfds = n;
	pthread_mutex_unlock(&child->mtx);
	return (0);
}

/* fdfree: close every descriptor of an exiting process. */
void
hk_fdfree(struct hk_proc *p)
{
	struct file *fp;
	int fd;

	for (;;) {
		fp = NULL;
		pthread_mutex_lock(&p->mtx);
		for (fd = 0; fd < p->nfds; fd++) {
			if ((fp = p->fds[fd]) != NULL) {
				p->fds[fd] = NULL;
				break;
			}
		}
		pthread_mutex_unlock(&p->mtx);
		if (fp == NULL)
			break;
		fdrop(fp);
	}
}

/* ------------------------------------------------------------------------ */
/* Syscalls                                                                 */

static const char *
devname_of(const char *path)
{
	if (strncmp(path, "/dev/", 5) == 0)
		return (path + 5);
	return (path);
}

int
hk_open(const char *path, int flags, int *fdp)
{
	struct hk_proc *p;
	struct file *fp;
	int error, fmode;

	if ((error = hk_sys_enter(&p)) != 0)
		return (error);
	if ((flags & O_ACCMODE) == O_ACCMODE) {
		hk_sys_leave(p);
		return (EINVAL);
	}
	fmode = FFLAGS(flags & O_ACCMODE) | (flags & (O_NONBLOCK | O_APPEND));
	fp = hk_falloc(p->cred, fmode);
	error = hk_devfs_open(devname_of(path), fmode, p->cred, fp,
	    (flags & HK_O_QUICK) != 0);
	if (error == 0)
		error = hk_fd_install(p, fp, fdp);
	else
		fdrop(fp);
	hk_sys_leave(p);
	/* kern_open: an open is not restarted. */
	return (error == ERESTART ? EINTR : error);
}

int
hk_close(int fd)
{
	struct hk_proc *p;
	struct file *fp = NULL;
	int error;

	if ((error = hk_sys_enter(&p)) != 0)
		return (error);
	pthread_mutex_lock(&p->mtx);
	if (fd >= 0 && fd < p->nfds) {
		fp = p->fds[fd];
		p->fds[fd] = NULL;
	}
	pthread_mutex_unlock(&p->mtx);
	error = fp ? fdrop(fp) : EBADF;
	hk_sys_leave(p);
	return (error);
}

int
hk_dup(int fd, int *newfdp)
{
	struct hk_proc *p;
	struct file *fp;
	int error;

	if ((error = hk_sys_enter(&p)) != 0)
		return (error);
	fp = hk_fd_get(p, fd);
	if (fp == NULL)
		error = EBADF;
	else
		error = hk_fd_install(p, fp, newfdp);	/* keeps the hold */
	hk_sys_leave(p);
	return (error);
}

static int
ioctl_once(int fd, unsigned long com, void *udata)
{
	struct hk_proc *p;
	struct file *fp;
	struct hk_file_priv *fpp;
	struct vnode *vp;
	cdev_t dev;
	union {
		char	stkbuf[128];
		long	align;
	} ubuf;
	caddr_t data, memp = NULL;
	u_int size;
	int error;

	if ((error = hk_sys_enter(&p)) != 0)
		return (error);
	fp = hk_fd_get(p, fd);
	if (fp == NULL) {
		hk_sys_leave(p);
		return (EBADF);
	}
	if ((fp->f_flag & (FREAD | FWRITE)) == 0) {
		error = EBADF;
		goto done;
	}
	size = IOCPARM_LEN(com);
	if (size > IOCPARM_MAX) {
		error = ENOTTY;
		goto done;
	}
	if ((com & IOC_VOID) == 0 && size > sizeof(ubuf.stkbuf)) {
		memp = kmalloc(size, M_TEMP, M_WAITOK);
		data = memp;
	} else {
		memp = NULL;
		data = ubuf.stkbuf;
	}
	if (com & IOC_VOID) {
		*(caddr_t *)data = udata;
	} else if (com & IOC_IN) {
		if (size != 0) {
			error = copyin(udata, data, (size_t)size);
			if (error)
				goto done;
		} else {
			*(caddr_t *)data = udata;
		}
	} else if ((com & IOC_OUT) != 0 && size) {
		bzero(data, (size_t)size);
	}
	fpp = fp->f_hk;
	vp = fpp->vp;
	if (vp == NULL || (dev = vp->v_rdev) == NULL) {
		error = EBADF;
		goto done;
	}
	reference_dev(dev);
	error = dev_dioctl(dev, com, data, fp->f_flag, fp->f_cred, NULL,
	    hk_has_afp() ? fp : NULL);
	release_dev(dev);
	if (error == ENOIOCTL)
		error = ENOTTY;
	if (error == 0 && (com & IOC_OUT) != 0 && size != 0)
		error = copyout(data, udata, (size_t)size);
done:
	if (memp != NULL)
		kfree(memp, M_TEMP);
	fdrop(fp);
	hk_sys_leave(p);
	return (error);
}

/*
 * sys_ioctl: ERESTART from the driver reaches syscall2, which runs the
 * system call again from the start (copyin included).
 */
int
hk_ioctl(int fd, unsigned long com, void *udata)
{
	int error;

	while ((error = ioctl_once(fd, com, udata)) == ERESTART)
		;
	return (error);
}

static int
rw_once(int fd, void *buf, size_t len, size_t *done, enum uio_rw dir)
{
	struct hk_proc *p;
	struct file *fp;
	struct hk_file_priv *fpp;
	struct iovec iov;
	struct uio uio;
	cdev_t dev;
	int error;

	if ((error = hk_sys_enter(&p)) != 0)
		return (error);
	fp = hk_fd_get(p, fd);
	if (fp == NULL) {
		hk_sys_leave(p);
		return (EBADF);
	}
	if ((fp->f_flag & (dir == UIO_READ ? FREAD : FWRITE)) == 0) {
		error = EBADF;
		goto out;
	}
	fpp = fp->f_hk;
	if (fpp->vp == NULL || (dev = fpp->vp->v_rdev) == NULL) {
		error = EBADF;
		goto out;
	}
	iov.iov_base = buf;
	iov.iov_len = len;
	uio.uio_iov = &iov;
	uio.uio_iovcnt = 1;
	uio.uio_offset = fp->f_offset;
	uio.uio_resid = len;
	uio.uio_segflg = UIO_USERSPACE;
	uio.uio_rw = dir;
	uio.uio_td = curthread;
	if (len == 0) {
		error = 0;
		goto out;
	}
	reference_dev(dev);
	if (dir == UIO_READ)
		error = dev_dread(dev, &uio, 0, hk_has_afp() ? fp : NULL);
	else
		error = dev_dwrite(dev, &uio, 0, hk_has_afp() ? fp : NULL);
	release_dev(dev);
	fp->f_offset = uio.uio_offset;
	if (done)
		*done = len - uio.uio_resid;
	/* dofileread/dofilewrite: an interrupted transfer that moved data
	 * returns what it moved; ERESTART with none restarts the syscall. */
	if (error == ERESTART && uio.uio_resid != len)
		error = 0;
out:
	fdrop(fp);
	hk_sys_leave(p);
	return (error);
}

static int
rw(int fd, void *buf, size_t len, size_t *done, enum uio_rw dir)
{
	int error;

	while ((error = rw_once(fd, buf, len, done, dir)) == ERESTART)
		;
	return (error);
}

int
hk_read(int fd, void *buf, size_t len, size_t *done)
{
	if (done)
		*done = 0;
	return (rw(fd, buf, len, done, UIO_READ));
}

int
hk_write(int fd, const void *buf, size_t len, size_t *done)
{
	if (done)
		*done = 0;
	return (rw(fd, __DECONST(void *, buf), len, done, UIO_WRITE));
}
