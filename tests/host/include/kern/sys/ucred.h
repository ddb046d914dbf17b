/* sys/ucred.h (host shadow): struct ucred with DragonFly's field names. */
#ifndef _HK_SYS_UCRED_H_
#define _HK_SYS_UCRED_H_
#include <sys/types.h>
#ifndef NGROUPS
#define NGROUPS	16
#endif
struct ucred {
	long	cr_ref;
	uid_t	cr_uid;
	short	cr_ngroups;
	gid_t	cr_groups[NGROUPS];
	void	*cr_uidinfo;
	void	*cr_ruidinfo;
	void	*cr_prison;
	uid_t	cr_ruid;
	uid_t	cr_svuid;
	gid_t	cr_rgid;
	gid_t	cr_svgid;
};
#define cr_gid cr_groups[0]
#define NOCRED ((struct ucred *)0)
#define FSCRED ((struct ucred *)-1)
struct ucred *crhold(struct ucred *cr);
void crfree(struct ucred *cr);
#endif
