/* sys/uio.h (host shadow): struct uio and uiomove (kern/kern_subr.c). */
#ifndef _HK_SYS_UIO_H_
#define _HK_SYS_UIO_H_
#include <sys/types.h>
#include_next <sys/uio.h>

enum uio_rw { UIO_READ, UIO_WRITE };
enum uio_seg { UIO_USERSPACE, UIO_SYSSPACE, UIO_NOCOPY };
struct thread;
struct uio {
	struct iovec	*uio_iov;
	int		uio_iovcnt;
	off_t		uio_offset;
	size_t		uio_resid;
	enum uio_seg	uio_segflg;
	enum uio_rw	uio_rw;
	struct thread	*uio_td;
};
int	uiomove(caddr_t cp, size_t n, struct uio *uio);
int	uiomovez(size_t n, struct uio *uio);
#endif
