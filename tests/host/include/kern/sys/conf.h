/*
 * sys/conf.h (host shadow): struct cdev with DragonFly's field names and
 * SI_* flags, DEV_MODULE, and the kern_conf.c device reference calls.
 * Fields past si_iosize_max are the host kernel's own bookkeeping.
 */
#ifndef _HK_SYS_CONF_H_
#define _HK_SYS_CONF_H_
#include <sys/param.h>
#include <sys/module.h>

struct dev_ops;
struct hk_cdev_priv;
struct cdev {
	u_int		si_flags;
	uint64_t	si_inode;
	uid_t		si_uid;
	gid_t		si_gid;
	int		si_perms;
	int		si_uminor;
	int		si_umajor;
	struct cdev	*si_parent;
	char		si_name[SPECNAMELEN + 1];
	void		*si_drv1;
	void		*si_drv2;
	struct dev_ops	*si_ops;
	struct dev_ops	*si_bops;
	int		si_iosize_max;
	struct { int refcnt; } si_sysref;
	time_t		si_lastread;
	time_t		si_lastwrite;
	struct hk_cdev_priv *si_hk;	/* host kernel private */
};

#ifndef UID_ROOT
#define UID_ROOT	0
#define UID_BIN		3
#define UID_UUCP	66
#define GID_WHEEL	0
#define GID_KMEM	2
#define GID_TTY		4
#define GID_OPERATOR	5
#define GID_BIN		7
#define GID_GAMES	13
#define GID_DIALER	68
#endif

#define SI_UNUSED01	0x0001
#define SI_HASHED	0x0002
#define SI_OVERRIDE	0x0004
#define SI_INTERCEPTED	0x0008
#define SI_DEVFS_LINKED	0x0010
#define	SI_REPROBE_TEST	0x0020
#define SI_CANFREE	0x0040

#define DEV_MODULE(name, evh, arg)					\
static moduledata_t name##_mod = {					\
    #name,								\
    evh,								\
    arg,								\
    NULL								\
};									\
DECLARE_MODULE(name, name##_mod, SI_SUB_DRIVERS, SI_ORDER_MIDDLE)

int	count_dev(cdev_t dev);
void	destroy_dev(cdev_t dev);
void	release_dev(cdev_t dev);
cdev_t	reference_dev(cdev_t dev);
#define minor(dev)	((dev)->si_uminor)
#define major(dev)	((dev)->si_umajor)
#define dev2unit(x)	((minor(x) & 0xff) | (minor(x) >> 8))
#endif
