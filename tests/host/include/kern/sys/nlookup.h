/*
 * sys/nlookup.h (host shadow): nlookup_init/nlookup/nlookup_done with
 * kern/vfs_nlookup.c's signatures.  The host resolves "/dev/<name>" only
 * (a devfs node); any other path gets ENOENT.
 */
#ifndef _HK_SYS_NLOOKUP_H_
#define _HK_SYS_NLOOKUP_H_
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/namecache.h>
struct thread;
struct ucred;
struct vnode;
struct nlookupdata {
	struct nchandle nl_nch;
	struct nchandle nl_rootnch;
	struct nchandle nl_jailnch;
	char		*nl_path;
	struct thread	*nl_td;
	struct ucred	*nl_cred;
	struct vnode	*nl_dvp;
	int		nl_flags;
	int		nl_loopcnt;
	struct vnode	*nl_open_vp;
	int		nl_vp_fmode;
};
#define NLC_FOLLOW		0x00000001
#define NLC_NOCROSSMOUNT	0x00000002
#define NLC_HASBUF		0x00000004
#define NLC_ISWHITEOUT		0x00000008
#define NLC_WILLBEDIR		0x00000010
#define NLC_NCPISLOCKED		0x00000020
#define NLC_LOCKVP		0x00000040
#define NLC_CREATE		0x00000080
#define NLC_DELETE		0x00000100
#define NLC_RENAME_DST		0x00000200
#define NLC_OPEN		0x00000400
#define NLC_SHAREDLOCK		0x00008000
int	nlookup(struct nlookupdata *);
void	nlookup_done(struct nlookupdata *);
int	nlookup_init(struct nlookupdata *, const char *, enum uio_seg, int);
#endif
