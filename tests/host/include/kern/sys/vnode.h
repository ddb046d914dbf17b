/*
 * sys/vnode.h (host shadow): just enough of a devfs vnode for a module to
 * lock a /dev node (vn_lock/vn_unlock, vput/vrele) -- the lock devfs_spec_open
 * holds shared while it checks D_QUICK and exclusively across devfs_clone --
 * and to count its active references (VREFCNT: every lookup, open file and
 * call holds one; the node's own hold, v_auxrefs, is not one, as on 5.8.1
 * where a cached vnode is only held by its name entry).
 */
#ifndef _HK_SYS_VNODE_H_
#define _HK_SYS_VNODE_H_
#include <sys/types.h>
#include <sys/lock.h>
#include <sys/namecache.h>
enum vtype { VNON, VREG, VDIR, VBLK, VCHR, VLNK, VSOCK, VFIFO, VBAD, VDATABASE };
/* 5.8.1's enum vtagtype (sys/vfscache.h): only the tag of a devfs vnode. */
enum vtagtype { VT_NON, VT_DEVFS = 28 };
struct vnode {
	struct lock	v_lock;
	enum vtype	v_type;
	enum vtagtype	v_tag;
	struct cdev	*v_rdev;
	volatile int	v_opencount;
	volatile u_int	v_refcnt;
	volatile int	v_auxrefs;	/* holds (vhold): the node, lookups */
	int		v_flag;
	void		*v_data;	/* its devfs node (DEVFS_NODE) */
	struct namecache v_nc;		/* host: its name entry (nc_vp = it) */
};
#define VREF_TERMINATE	0x80000000
#define VREF_FINALIZE	0x40000000
#define VREF_MASK	0xBFFFFFFF
/* An atomic load on the host (5.8.1 reads the volatile field). */
#define VREFCNT(vp)	\
	((int)(__atomic_load_n(&(vp)->v_refcnt, __ATOMIC_SEQ_CST) & VREF_MASK))
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
void	vhold(struct vnode *vp);
void	vdrop(struct vnode *vp);
/* devfs_vop_getattr: the node's owner, group and mode (from its cdev when
 * the cdev has SI_OVERRIDE, devfs_vnops.c node_sync_dev_get). */
int	VOP_GETATTR(struct vnode *vp, struct vattr *vap);
#endif
