/*
 * sys/file.h (host shadow): struct file, opaque enough: its open mode
 * (f_flag FREAD/FWRITE...), reference count and devfs data.  The host
 * kernel's descriptor code (tests/host/kern/kern_descrip.c) owns it.
 */
#ifndef _HK_SYS_FILE_H_
#define _HK_SYS_FILE_H_
#include <sys/types.h>
#include <sys/fcntl.h>
#include <sys/spinlock.h>
#include <sys/namecache.h>

struct ucred;
struct file {
	u_int		f_flag;		/* FREAD, FWRITE, ... */
	short		f_type;
	volatile u_int	f_count;	/* references (fds, fhold) */
	struct ucred	*f_cred;
	void		*f_data;	/* the vnode */
	void		*f_data1;	/* devfs per-file data (cdevpriv) */
	off_t		f_offset;
	struct spinlock	f_spin;
	struct nchandle	f_nchandle;	/* the name opened (set by vn_open
					 * before VOP_OPEN) */
	void		*f_hk;		/* host kernel private */
};
#define DTYPE_VNODE	1

void	fhold(struct file *fp);
int	fdrop(struct file *fp);
#endif
