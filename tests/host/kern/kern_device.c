/*
 * kern_device.c - dev_ops and cdevs (kern/kern_device.c, kern/kern_conf.c,
 * the cdev half of vfs/devfs/devfs_core.c):
 *   - compile_dev_ops fills every missing d_* with d_default or
 *     DragonFly's defaults (ENODEV; nullop-like noclone/norevoke/nopsize);
 *   - dev_d* build each args struct exactly as DragonFly does and call
 *     through dev->si_ops (a_fp is whatever the caller passes: devfs passes
 *     NULL in profiles without a_fp), published per thread from before the
 *     si_ops load to the callee's return, so an unload lets such threads
 *     through before it unmaps the callee (kern_linker.c);
 *   - dev_ops_intercept/dev_ops_restore exactly as DragonFly: compile iops,
 *     copy maj, data and flags from the original, swap si_ops, set/clear
 *     SI_INTERCEPTED; restore zeroes iops' maj/data/flags;
 *   - a cdev references the ops it was made with (devfs_reference_ops);
 *     when it terminates, devfs_release_ops releases dev->si_ops -- an
 *     interposer devfs never referenced trips the INVARIANTS assertion
 *     ("found" in devfs_release_ops), as on the real kernel.
 *
 * Locking: hk_cdev_mtx guards the cdev list, cdev reference counts and the
 * ops reference table (leaf).
 */
#include "hk_impl.h"

#include <stdlib.h>
#include <string.h>

pthread_mutex_t hk_cdev_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct hk_cdev_priv *cdevs;

struct ops_ref {
	struct dev_ops	*ops;
	int		refs;
	struct ops_ref	*next;
};
static struct ops_ref *ops_refs;

#define DDESCNAME(name) dev_##name##_desc
#define DEVOP_DESC_INIT(name)						\
	struct syslink_desc DDESCNAME(name) = {				\
		__offsetof(struct dev_ops, d_##name), #name }
DEVOP_DESC_INIT(default);
DEVOP_DESC_INIT(open);
DEVOP_DESC_INIT(close);
DEVOP_DESC_INIT(read);
DEVOP_DESC_INIT(write);
DEVOP_DESC_INIT(ioctl);
DEVOP_DESC_INIT(dump);
DEVOP_DESC_INIT(psize);
DEVOP_DESC_INIT(mmap);
DEVOP_DESC_INIT(mmap_single);
DEVOP_DESC_INIT(strategy);
DEVOP_DESC_INIT(kqfilter);
DEVOP_DESC_INIT(revoke);
DEVOP_DESC_INIT(clone);

struct dev_ops dead_dev_ops;

static d_open_t		noopen;
static d_close_t	noclose;
static d_read_t		noread;
static d_write_t	nowrite;
static d_ioctl_t	noioctl;
static d_mmap_t		nommap;
static d_mmap_single_t	nommap_single;
static d_strategy_t	nostrategy;
static d_dump_t		nodump;
static d_psize_t	nopsize;
static d_kqfilter_t	nokqfilter;
static d_clone_t	noclone;
static d_revoke_t	norevoke;

static struct dev_ops default_dev_ops = {
	{ "null", 0, 0, NULL, 0, 0 },
	.d_default = NULL,
	.d_open = noopen,
	.d_close = noclose,
	.d_read = noread,
	.d_write = nowrite,
	.d_ioctl = noioctl,
	.d_mmap = nommap,
	.d_mmap_single = nommap_single,
	.d_strategy = nostrategy,
	.d_dump = nodump,
	.d_psize = nopsize,
	.d_kqfilter = nokqfilter,
	.d_revoke = norevoke,
	.d_clone = noclone
};

static int norevoke(struct dev_revoke_args *ap) { return (0); }
static int noclone(struct dev_clone_args *ap) { return (0); }
static int noopen(struct dev_open_args *ap) { return (ENODEV); }
static int noclose(struct dev_close_args *ap) { return (ENODEV); }
static int noread(struct dev_read_args *ap) { return (ENODEV); }
static int nowrite(struct dev_write_args *ap) { return (ENODEV); }
static int noioctl(struct dev_ioctl_args *ap) { return (ENODEV); }
static int nokqfilter(struct dev_kqfilter_args *ap) { return (ENODEV); }
static int nommap(struct dev_mmap_args *ap) { return (ENODEV); }
static int nommap_single(struct dev_mmap_single_args *ap) { return (ENODEV); }
static int nostrategy(struct dev_strategy_args *ap) { return (EOPNOTSUPP); }
static int nodump(struct dev_dump_args *ap) { return (ENODEV); }
static int
nopsize(struct dev_psize_args *ap)
{
	ap->a_result = 0;
	return (0);
}

/*
 * si_ops and the head fields are swapped by dev_ops_intercept/restore while
 * other threads call through them (as on DragonFly, where aligned pointer
 * and int accesses are atomic): the host reads and writes them atomically
 * so the kernel model itself stays race-free under TSan.  So are the d_*
 * pointers (HK_DISPATCH): a module may repoint the ops a cdev it destroyed
 * still has (autoclone's retired clone ops) while an opener calls them.
 */
static __inline struct dev_ops *
ops_of(cdev_t dev)
{
	return (__atomic_load_n(&dev->si_ops, __ATOMIC_ACQUIRE));
}

/*
 * Call the d_* function loaded from the cdev's ops, published for the
 * linker (hk_dispatch_*) from before the si_ops load until the call
 * returns: an unload waits for it before unmapping the callee's file, as
 * DragonFly needs no wait -- its thread runs from that load into the
 * callee's first statement without switching away.  The si_ops load is
 * sequentially consistent with the publication (kern_linker.c).
 */
#define HK_DISPATCH(dev, member, arg) ({				\
	const void **_e = hk_dispatch_begin();				\
	struct dev_ops *_ops = __atomic_load_n(&(dev)->si_ops,		\
	    __ATOMIC_SEQ_CST);						\
	__typeof__(_ops->member) _f = __atomic_load_n(&_ops->member,	\
	    __ATOMIC_RELAXED);						\
	int _r;								\
									\
	hk_dispatch_callee(_e, (const void *)_f);			\
	_r = _f(arg);							\
	hk_dispatch_end(_e);						\
	_r;								\
})
/* The same for a function the caller found (dev_doperate*). */
#define HK_DISPATCH_FN(fnexpr, arg) ({					\
	const void **_e = hk_dispatch_begin();				\
	int (*_f)(struct dev_generic_args *) = (fnexpr);		\
	int _r;								\
									\
	hk_dispatch_callee(_e, (const void *)_f);			\
	_r = _f(arg);							\
	hk_dispatch_end(_e);						\
	_r;								\
})

int nullopen(struct dev_open_args *ap) { return (0); }
int nullclose(struct dev_close_args *ap) { return (0); }

/*
 * Several threads may make cdevs with the same ops at once (a clone
 * handler's make_only_dev): DragonFly's unlocked fill writes the same
 * values; the host serialises it so only the first call writes.
 */
static pthread_mutex_t compile_mtx = PTHREAD_MUTEX_INITIALIZER;

void
compile_dev_ops(struct dev_ops *ops)
{
	int offset;

	pthread_mutex_lock(&compile_mtx);
	for (offset = offsetof(struct dev_ops, dev_ops_first_field);
	     offset <= (int)offsetof(struct dev_ops, dev_ops_last_field);
	     offset += sizeof(void *)) {
		void **func_p = (void **)((char *)ops + offset);
		void **def_p = (void **)((char *)&default_dev_ops + offset);
		if (*func_p == NULL) {
			if (ops->d_default)
				*func_p = (void *)ops->d_default;
			else
				*func_p = *def_p;
		}
	}
	pthread_mutex_unlock(&compile_mtx);
}

/* ------------------------------------------------------------------------ */
/* dev_d* (every one fills its args as kern_device.c does)                  */

int
dev_dopen(cdev_t dev, int oflags, int devtype, struct ucred *cred,
    struct file *fp, struct vnode *vp)
{
	struct dev_open_args ap;

	ap.a_head.a_desc = &dev_open_desc;
	ap.a_head.a_dev = dev;
	ap.a_oflags = oflags;
	ap.a_devtype = devtype;
	ap.a_cred = cred;
	ap.a_fp = fp;
	if (ap.a_fp)
		ap.a_fp->f_data = vp;
	return (HK_DISPATCH(dev, d_open, &ap));
}

int
dev_dclose(cdev_t dev, int fflag, int devtype, struct file *fp)
{
	struct dev_close_args ap;

	ap.a_head.a_desc = &dev_close_desc;
	ap.a_head.a_dev = dev;
	ap.a_fflag = fflag;
	ap.a_devtype = devtype;
	ap.a_fp = fp;
	return (HK_DISPATCH(dev, d_close, &ap));
}

int
dev_dread(cdev_t dev, struct uio *uio, int ioflag, struct file *fp)
{
	struct dev_read_args ap;
	int error;

	ap.a_head.a_desc = &dev_read_desc;
	ap.a_head.a_dev = dev;
	ap.a_uio = uio;
	ap.a_ioflag = ioflag;
	ap.a_fp = fp;
	error = HK_DISPATCH(dev, d_read, &ap);
	if (error == 0)
		dev->si_lastread = time_uptime;
	return (error);
}

int
dev_dwrite(cdev_t dev, struct uio *uio, int ioflag, struct file *fp)
{
	struct dev_write_args ap;

	dev->si_lastwrite = time_uptime;
	ap.a_head.a_desc = &dev_write_desc;
	ap.a_head.a_dev = dev;
	ap.a_uio = uio;
	ap.a_ioflag = ioflag;
	ap.a_fp = fp;
	return (HK_DISPATCH(dev, d_write, &ap));
}

int
dev_dioctl(cdev_t dev, u_long cmd, caddr_t data, int fflag, struct ucred *cred,
    struct sysmsg *msg, struct file *fp)
{
	struct dev_ioctl_args ap;

	ap.a_head.a_desc = &dev_ioctl_desc;
	ap.a_head.a_dev = dev;
	ap.a_cmd = cmd;
	ap.a_data = data;
	ap.a_fflag = fflag;
	ap.a_cred = cred;
	ap.a_sysmsg = msg;
	ap.a_fp = fp;
	return (HK_DISPATCH(dev, d_ioctl, &ap));
}

int64_t
dev_dmmap(cdev_t dev, vm_offset_t offset, int nprot, struct file *fp)
{
	struct dev_mmap_args ap;
	int error;

	ap.a_head.a_desc = &dev_mmap_desc;
	ap.a_head.a_dev = dev;
	ap.a_offset = offset;
	ap.a_nprot = nprot;
	ap.a_fp = fp;
	error = HK_DISPATCH(dev, d_mmap, &ap);
	if (error == 0)
		return (ap.a_result);
	return (-1);
}

int
dev_dmmap_single(cdev_t dev, vm_ooffset_t *offset, vm_size_t size,
    struct vm_object **object, int nprot, struct file *fp)
{
	struct dev_mmap_single_args ap;

	ap.a_head.a_desc = &dev_mmap_single_desc;
	ap.a_head.a_dev = dev;
	ap.a_offset = offset;
	ap.a_size = size;
	ap.a_object = object;
	ap.a_nprot = nprot;
	ap.a_fp = fp;
	return (HK_DISPATCH(dev, d_mmap_single, &ap));
}

int
dev_dclone(cdev_t dev)
{
	struct dev_clone_args ap;

	ap.a_head.a_desc = &dev_clone_desc;
	ap.a_head.a_dev = dev;
	return (HK_DISPATCH(dev, d_clone, &ap));
}

int
dev_drevoke(cdev_t dev)
{
	struct dev_revoke_args ap;

	ap.a_head.a_desc = &dev_revoke_desc;
	ap.a_head.a_dev = dev;
	return (HK_DISPATCH(dev, d_revoke, &ap));
}

int64_t
dev_dpsize(cdev_t dev)
{
	struct dev_psize_args ap;
	int error;

	ap.a_head.a_desc = &dev_psize_desc;
	ap.a_head.a_dev = dev;
	error = HK_DISPATCH(dev, d_psize, &ap);
	if (error == 0)
		return (ap.a_result);
	return (-1);
}

int
dev_dkqfilter(cdev_t dev, struct knote *kn, struct file *fp)
{
	struct dev_kqfilter_args ap;
	int error;

	ap.a_head.a_desc = &dev_kqfilter_desc;
	ap.a_head.a_dev = dev;
	ap.a_kn = kn;
	ap.a_result = 0;
	ap.a_fp = fp;
	error = HK_DISPATCH(dev, d_kqfilter, &ap);
	if (error == 0)
		return (ap.a_result);
	return (ENODEV);
}

int
dev_drefs(cdev_t dev)
{
	int n;

	n = __atomic_load_n(&dev->si_sysref.refcnt, __ATOMIC_SEQ_CST);
	return (n);
}

const char *
dev_dname(cdev_t dev)
{
	return (ops_of(dev)->head.name);
}

int
dev_dflags(cdev_t dev)
{
	return (__atomic_load_n(&ops_of(dev)->head.flags, __ATOMIC_RELAXED));
}

int
dev_dmaj(cdev_t dev)
{
	return (__atomic_load_n(&ops_of(dev)->head.maj, __ATOMIC_RELAXED));
}

int
dev_doperate(struct dev_generic_args *ap)
{
	return (HK_DISPATCH_FN(__atomic_load_n((void **)((char *)
	    __atomic_load_n(&ap->a_dev->si_ops, __ATOMIC_SEQ_CST) +
	    ap->a_desc->sd_offset), __ATOMIC_RELAXED), ap));
}

int
dev_doperate_ops(struct dev_ops *ops, struct dev_generic_args *ap)
{
	return (HK_DISPATCH_FN(__atomic_load_n((void **)((char *)ops +
	    ap->a_desc->sd_offset), __ATOMIC_RELAXED), ap));
}

struct dev_ops *
dev_ops_intercept(cdev_t dev, struct dev_ops *iops)
{
	struct dev_ops *oops = ops_of(dev);

	compile_dev_ops(iops);
	__atomic_store_n(&iops->head.maj,
	    __atomic_load_n(&oops->head.maj, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
	__atomic_store_n(&iops->head.data,
	    __atomic_load_n(&oops->head.data, __ATOMIC_RELAXED),
	    __ATOMIC_RELAXED);
	__atomic_store_n(&iops->head.flags,
	    __atomic_load_n(&oops->head.flags, __ATOMIC_RELAXED),
	    __ATOMIC_RELAXED);
	__atomic_store_n(&dev->si_ops, iops, __ATOMIC_RELEASE);
	__atomic_fetch_or(&dev->si_flags, SI_INTERCEPTED, __ATOMIC_SEQ_CST);
	return (oops);
}

void
dev_ops_restore(cdev_t dev, struct dev_ops *oops)
{
	struct dev_ops *iops = ops_of(dev);

	__atomic_store_n(&dev->si_ops, oops, __ATOMIC_RELEASE);
	__atomic_fetch_and(&dev->si_flags, ~SI_INTERCEPTED, __ATOMIC_SEQ_CST);
	__atomic_store_n(&iops->head.maj, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&iops->head.data, NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&iops->head.flags, 0, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------ */
/* Ops references (devfs_reference_ops / devfs_release_ops)                  */

void
hk_devfs_reference_ops(struct dev_ops *ops)
{
	struct ops_ref *r;

	pthread_mutex_lock(&hk_cdev_mtx);
	for (r = ops_refs; r != NULL; r = r->next)
		if (r->ops == ops)
			break;
	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		r->ops = ops;
		r->next = ops_refs;
		ops_refs = r;
	}
	r->refs++;
	pthread_mutex_unlock(&hk_cdev_mtx);
}

/* Called with hk_cdev_mtx held. */
static void
devfs_release_ops_locked(struct dev_ops *ops)
{
	struct ops_ref **rp, *r;

	for (rp = &ops_refs; (r = *rp) != NULL; rp = &r->next)
		if (r->ops == ops)
			break;
	if (r == NULL) {
		pthread_mutex_unlock(&hk_cdev_mtx);
		panic("assertion \"found\" failed in devfs_release_ops at "
		    "vfs/devfs/devfs_core.c (ops %p \"%s\" was never referenced "
		    "by devfs: an intercepted cdev was destroyed)", ops,
		    ops && ops->head.name ? ops->head.name : "?");
	}
	if (--r->refs == 0) {
		*rp = r->next;
		free(r);
	}
}

/* ------------------------------------------------------------------------ */
/* cdev lifecycle                                                           */

cdev_t
hk_new_cdev(struct dev_ops *ops, int minor, struct dev_ops *bops)
{
	struct cdev *dev = calloc(1, sizeof(*dev) +
	    sizeof(struct hk_cdev_priv));
	struct hk_cdev_priv *cp = (struct hk_cdev_priv *)(dev + 1);

	dev->si_hk = cp;
	dev->si_ops = ops;
	dev->si_bops = bops;
	dev->si_uminor = minor;
	dev->si_umajor = ops->head.maj;
	dev->si_sysref.refcnt = 1;
	cp->dev = dev;
	cp->base_ref = 1;
	hk_devfs_reference_ops(bops ? bops : ops);
	pthread_mutex_lock(&hk_cdev_mtx);
	cp->next = cdevs;
	cdevs = cp;
	pthread_mutex_unlock(&hk_cdev_mtx);
	return (dev);
}

/* devfs_cdev_terminate: called with hk_cdev_mtx held, drops it. */
static void
cdev_terminate_locked(cdev_t dev)
{
	struct hk_cdev_priv *cp = dev->si_hk, **pp;

	if (__atomic_load_n(&dev->si_flags, __ATOMIC_SEQ_CST) & SI_DEVFS_LINKED) {
		pthread_mutex_unlock(&hk_cdev_mtx);
		panic("assertion \"(dev->si_flags & SI_DEVFS_LINKED) == 0\" "
		    "failed in devfs_cdev_terminate (cdev %s: a linked device "
		    "destroyed with destroy_only_dev)", dev->si_name);
	}
	devfs_release_ops_locked(dev->si_bops ? dev->si_bops : ops_of(dev));
	for (pp = &cdevs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == cp) {
			*pp = cp->next;
			break;
		}
	}
	cp->terminated = 1;
	pthread_mutex_unlock(&hk_cdev_mtx);
	/* Poison like an INVARIANTS kernel's freed memory. */
	memset(dev, 0xde, sizeof(*dev));
	free(dev);
}

/*
 * The reference count (si_sysref.refcnt) is atomic, so the hot path
 * (reference_dev/release_dev around every ioctl, read and write) takes no
 * global lock; whoever drops it to zero terminates the cdev under
 * hk_cdev_mtx.  It reaches zero once: after destroy, with no vnode left.
 */
static void
cdev_rele(cdev_t dev, const char *who)
{
	int n = __atomic_sub_fetch(&dev->si_sysref.refcnt, 1, __ATOMIC_SEQ_CST);

	if (n < 0)
		panic("%s: cdev %p over-released", who, dev);
	if (n == 0) {
		pthread_mutex_lock(&hk_cdev_mtx);
		cdev_terminate_locked(dev);
	}
}

cdev_t
reference_dev(cdev_t dev)
{
	if (dev != NULL &&
	    __atomic_fetch_add(&dev->si_sysref.refcnt, 1, __ATOMIC_SEQ_CST) <= 0)
		panic("reference_dev: cdev %p already terminated", dev);
	return (dev);
}

void
release_dev(cdev_t dev)
{
	if (dev != NULL)
		cdev_rele(dev, "release_dev");
}

void
hk_cdev_vref(cdev_t dev)
{
	pthread_mutex_lock(&hk_cdev_mtx);
	dev->si_hk->vrefs++;
	pthread_mutex_unlock(&hk_cdev_mtx);
	reference_dev(dev);
}

void
hk_cdev_vrele(cdev_t dev)
{
	pthread_mutex_lock(&hk_cdev_mtx);
	dev->si_hk->vrefs--;
	pthread_mutex_unlock(&hk_cdev_mtx);
	cdev_rele(dev, "vrele");
}

/* Drop the creation reference (destroy_dev worker, destroy_only_dev). */
void
hk_cdev_base_release(cdev_t dev)
{
	pthread_mutex_lock(&hk_cdev_mtx);
	if (!dev->si_hk->base_ref) {
		pthread_mutex_unlock(&hk_cdev_mtx);
		panic("destroy of cdev %s twice", dev->si_name);
	}
	dev->si_hk->base_ref = 0;
	pthread_mutex_unlock(&hk_cdev_mtx);
	cdev_rele(dev, "destroy_dev");
}

int
count_dev(cdev_t dev)
{
	struct vnode *vp = dev->si_hk->vp;

	return (vp ? __atomic_load_n(&vp->v_opencount, __ATOMIC_SEQ_CST) : 0);
}

/* kern_conf.c make_dev: compile, new cdev, devfs node (async). */
cdev_t
make_dev(struct dev_ops *ops, int minor, uid_t uid, gid_t gid, int perms,
    const char *fmt, ...)
{
	cdev_t dev;
	__va_list ap;

	compile_dev_ops(ops);
	dev = hk_new_cdev(ops, minor, NULL);
	__va_start(ap, fmt);
	kvsnprintf(dev->si_name, sizeof(dev->si_name), fmt, ap);
	__va_end(ap);
	dev->si_uid = uid;
	dev->si_gid = gid;
	dev->si_perms = perms;
	hk_devfs_create_dev(dev);
	return (dev);
}

cdev_t
make_dev_covering(struct dev_ops *ops, struct dev_ops *bops, int minor,
    uid_t uid, gid_t gid, int perms, const char *fmt, ...)
{
	cdev_t dev;
	__va_list ap;

	compile_dev_ops(ops);
	dev = hk_new_cdev(ops, minor, bops);
	__va_start(ap, fmt);
	kvsnprintf(dev->si_name, sizeof(dev->si_name), fmt, ap);
	__va_end(ap);
	dev->si_uid = uid;
	dev->si_gid = gid;
	dev->si_perms = perms;
	hk_devfs_create_dev(dev);
	return (dev);
}

cdev_t
make_only_devfs_dev(struct dev_ops *ops, int minor, uid_t uid, gid_t gid,
    int perms, const char *fmt, ...)
{
	cdev_t dev;
	__va_list ap;

	compile_dev_ops(ops);
	dev = hk_new_cdev(ops, minor, NULL);
	__va_start(ap, fmt);
	kvsnprintf(dev->si_name, sizeof(dev->si_name), fmt, ap);
	__va_end(ap);
	dev->si_uid = uid;
	dev->si_gid = gid;
	dev->si_perms = perms;
	hk_devfs_create_dev(dev);
	return (dev);
}

/* make_only_dev: a cdev with no devfs node (clone handlers use it). */
cdev_t
make_only_dev(struct dev_ops *ops, int minor, uid_t uid, gid_t gid, int perms,
    const char *fmt, ...)
{
	cdev_t dev;
	__va_list ap;

	compile_dev_ops(ops);
	dev = hk_new_cdev(ops, minor, NULL);
	dev->si_perms = perms;
	dev->si_uid = uid;
	dev->si_gid = gid;
	__va_start(ap, fmt);
	kvsnprintf(dev->si_name, sizeof(dev->si_name), fmt, ap);
	__va_end(ap);
	return (dev);
}

/* destroy_only_dev: synchronous, for cdevs that never got a node. */
void
destroy_only_dev(cdev_t dev)
{
	hk_cdev_base_release(dev);
}

void
destroy_dev(cdev_t dev)
{
	if (dev != NULL)
		hk_devfs_destroy_dev(dev);
}

void
sync_devs(void)
{
	devfs_config();
}

int
dev_ops_remove_all(struct dev_ops *ops)
{
	return (devfs_destroy_dev_by_ops(ops, -1));
}

int
dev_ops_remove_minor(struct dev_ops *ops, int minor)
{
	return (devfs_destroy_dev_by_ops(ops, minor));
}

void
hk_device_boot(void)
{
	pthread_mutex_lock(&hk_cdev_mtx);
	cdevs = NULL;
	ops_refs = NULL;
	pthread_mutex_unlock(&hk_cdev_mtx);
}

/* Live cdevs (not terminated) at shutdown; their memory is reclaimed. */
int
hk_device_shutdown(void)
{
	struct hk_cdev_priv *cp;
	struct ops_ref *r;
	int n = 0;

	pthread_mutex_lock(&hk_cdev_mtx);
	while ((cp = cdevs) != NULL) {
		cdevs = cp->next;
		fprintf(stderr, "hostkern: leak: cdev \"%s\" never destroyed "
		    "(%d references)\n", cp->dev->si_name,
		    cp->dev->si_sysref.refcnt);
		n++;
		free(cp->dev);
	}
	while ((r = ops_refs) != NULL) {
		ops_refs = r->next;
		free(r);
	}
	pthread_mutex_unlock(&hk_cdev_mtx);
	return (n);
}

/* After a module unloads: any live cdev still using its ops is a bomb. */
int
hk_device_check_module(void *base, const char *name)
{
	struct hk_cdev_priv *cp;
	struct ops_ref *r;
	int n = 0;

	pthread_mutex_lock(&hk_cdev_mtx);
	for (cp = cdevs; cp != NULL; cp = cp->next) {
		cdev_t dev = cp->dev;
		if (hk_addr_module_base(ops_of(dev)) == base ||
		    (dev->si_bops && hk_addr_module_base(dev->si_bops) == base)) {
			hk_report("kldunload %s: live cdev \"%s\" still uses "
			    "dev_ops %p of the unloaded module%s", name,
			    dev->si_name, ops_of(dev), !cp->destroyed ? "" :
			    __atomic_load_n(&cp->node, __ATOMIC_SEQ_CST) != NULL ?
			    " (destroy_dev queued but not "
			    "completed: call devfs_config() before unloading)" :
			    " (destroyed, but a vnode still holds it: an open "
			    "between its lookup and d_open, or an open file)");
			n++;
		}
	}
	for (r = ops_refs; r != NULL; r = r->next) {
		if (hk_addr_module_base(r->ops) == base && n == 0) {
			hk_report("kldunload %s: devfs still references "
			    "dev_ops %p of the unloaded module", name, r->ops);
			n++;
		}
	}
	pthread_mutex_unlock(&hk_cdev_mtx);
	return (n);
}
