/* sys/namecache.h (host shadow): nchandle, cache_vget and cache_vref for
 * /dev paths. */
#ifndef _HK_SYS_NAMECACHE_H_
#define _HK_SYS_NAMECACHE_H_
#include <sys/types.h>
struct mount;
/* A node's name entry: the host keeps one per devfs vnode (in it), so
 * nc_vp is that vnode. */
struct namecache {
	struct vnode	*nc_vp;
};
struct ucred;
struct vnode;
struct nchandle {
	struct namecache *ncp;
	struct mount *mount;
};
int	cache_vget(struct nchandle *, struct ucred *, int, struct vnode **);
int	cache_vref(struct nchandle *, struct ucred *, struct vnode **);
#endif
