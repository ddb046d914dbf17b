/*
 * sys/devfs.h (host shadow): the devfs API modules use: name lookup, clone
 * handlers and the unit bitmap (vfs/devfs/devfs_core.c, devfs_helper.c),
 * per-file private data (cdevpriv), devfs_config; and, as 5.8.1's header
 * shows them to kernel code, a node's d_dev, v_node and flags with
 * DEVFS_HIDDEN (guarded by devfs_lock) and DEVFS_NODE.
 */
#ifndef _HK_SYS_DEVFS_H_
#define _HK_SYS_DEVFS_H_
#include <sys/types.h>
#include <sys/device.h>
#include <sys/vnode.h>

/* A devfs node: 5.8.1's field names first, then the host's own. */
struct devfs_node {
	cdev_t		d_dev;		/* its device */
	struct vnode	*v_node;	/* its vnode (the host makes it with the node) */
	u_long		flags;		/* DEVFS_*, devfs_lock */
	uid_t		uid;		/* the cdev's at creation, then the */
	gid_t		gid;		/* permission rules' */
	int		mode;
	char		name[SPECNAMELEN + 1];	/* host: its path under /dev */
	struct devfs_node *next;	/* host: all nodes (devfs_lock) */
};
#define DEVFS_HIDDEN	0x010		/* lookups and opens get ENOENT */
#define DEVFS_NODE(x)	((struct devfs_node *)((x)->v_data))

#define DEVFS_BITMAP_INITIAL_SIZE	1
#define DEVFS_CLONE_BITMAP(name)	devfs_ ## name ## _clone_bitmap
#define DEVFS_DEFINE_CLONE_BITMAP(name) \
			struct devfs_bitmap DEVFS_CLONE_BITMAP(name)
#define DEVFS_DECLARE_CLONE_BITMAP(name) \
			extern struct devfs_bitmap DEVFS_CLONE_BITMAP(name)
struct devfs_bitmap {
	int		chunks;
	unsigned long	*bitmap;
};

void devfs_clone_bitmap_init(struct devfs_bitmap *);
void devfs_clone_bitmap_uninit(struct devfs_bitmap *);
int devfs_clone_bitmap_set(struct devfs_bitmap *, int);
int devfs_clone_bitmap_get(struct devfs_bitmap *, int);
int devfs_clone_bitmap_chk(struct devfs_bitmap *, int);
void devfs_clone_bitmap_put(struct devfs_bitmap *, int);

int devfs_clone_handler_add(const char *name, d_clone_t *nhandler);
int devfs_clone_handler_del(const char *name);
cdev_t devfs_find_device_by_name(const char *fmt, ...) __printflike(1, 2);
int devfs_destroy_dev_by_ops(struct dev_ops *ops, int minor);
void devfs_config(void);

typedef void (*cdevpriv_dtr_t)(void *data);
int devfs_get_cdevpriv(struct file *file, void **datap);
int devfs_set_cdevpriv(struct file *file, void *priv, cdevpriv_dtr_t dtr);
void devfs_clear_cdevpriv(struct file *file);
#endif
