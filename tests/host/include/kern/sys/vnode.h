/*
 * sys/vnode.h (host shadow): just enough of a devfs vnode for a module to
 * lock a /dev node (vn_lock/vn_unlock, vput/vrele) -- the lock devfs_spec_open
 * holds shared while it checks D_QUICK and exclusively across devfs_clone.
 */
#ifndef _HK_SYS_VNODE_H_
#define _HK_SYS_VNODE_H_
#include <sys/types.h>
#include <sys/lock.h>
#include <sys/namecache.h>
enum vtype { VNON, VREG, VDIR, VBLK, VCHR, VLNK, VSOCK, VFIFO, VBAD, VDATABASE };
struct vnode {
	struct lock	v_lock;
	enum vtype	v_type;
	struct cdev	*v_rdev;
	volatile int	v_opencount;
	volatile u_int	v_refcnt;
	int		v_flag;
	void		*v_hk;		/* host: its devfs node */
	struct namecache v_nc;		/* host: its name entry (nc_vp = it) */
};
/* The attributes VOP_GETATTR reports for a devfs node (a subset of
 * DragonFly's struct vattr). */
struct vattr {
	enum vtype	va_type;
	u_short		va_mode;
	uid_t		va_uid;
	gid_t		va_gid;
};
#define VRECLAIMED	0x00000080
int	vn_lock(struct vnode *vp, int flags);
void	vn_unlock(struct vnode *vp);
int	vn_islocked(struct vnode *vp);
void	vref(struct vnode *vp);
void	vrele(struct vnode *vp);
void	vput(struct vnode *vp);
/* devfs_vop_getattr: the node's owner, group and mode (from its cdev when
 * the cdev has SI_OVERRIDE, devfs_vnops.c node_sync_dev_get). */
int	VOP_GETATTR(struct vnode *vp, struct vattr *vap);
#endif
