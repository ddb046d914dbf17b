/*
 * devfs.c - the devfs model (vfs/devfs/devfs_core.c, devfs_vnops.c,
 * devfs_helper.c) and the bits of the VFS a module can reach for /dev
 * paths (nlookup, cache_vget, vn_lock, vput, vrele).
 *
 *  - A devfs thread owns the node registry: node creation for make_dev,
 *    destroy_dev, clone handler add/del and name lookups are messages it
 *    runs holding devfs_lock exclusively; devfs_config() waits for it to
 *    drain (a no-op on the devfs thread itself).  Node creation after
 *    make_dev is asynchronous, as on DragonFly (hk_kldload syncs before it
 *    returns so tests are deterministic).
 *  - Each node has a vnode, which it holds (v_auxrefs) rather than
 *    references, as 5.8.1's name cache holds a cached devfs vnode: VREFCNT
 *    counts the lookups, open files and calls on it, nothing else.  A node
 *    flagged DEVFS_HIDDEN (under devfs_lock) is not found by a lookup and
 *    fails VOP_ACCESS and devfs_spec_open with ENOENT, as in 5.8.1.
 *  - Each node's vnode has a lockmgr lock devfs_spec_open holds shared
 *    while it checks D_QUICK, then upgrades (modelled as release shared +
 *    acquire exclusive) and holds exclusively across devfs_clone and the
 *    clone node creation, unlocking around dev_dopen.
 *  - Cloning: an open that carries an fp (every profile but LEGACY) of a
 *    node whose name has a clone handler, unless the device is D_QUICK,
 *    calls the handler; the open continues on the new node's vnode.
 *    devfs_clone() keeps 5.8.1's bug on purpose: it drops devfs_lock and
 *    runs devfs_config() before it reads the handler through the
 *    registration record that devfs_clone_handler_del frees on the devfs
 *    thread (kfree poisons it with 0xdeadc0de; ASan reports the use).
 *  - Close (devfs_fo_close -> devfs_spec_close): d_close for every last
 *    fdrop of a file with D_TRACKCLOSE, otherwise only when the device's
 *    open count says this is its last close; then the cdevpriv destructor.
 *  - 5.8.1's D_QUICK open path ignores d_open's error; modelled as is.
 *
 * Locking: devfs_lock (lockmgr) guards nodes and clone handlers; msg_mtx
 * guards the message queue; bitmap_mtx the clone bitmaps; vnode reference
 * counts are atomic; a vnode's v_lock is a lockmgr lock.
 */
#include "hk_impl.h"

#include <sys/nlookup.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

struct lock devfs_lock;

/* struct devfs_node is in sys/devfs.h (5.8.1's field names, then the
 * host's).  All nodes: */
static struct devfs_node *nodes;	/* devfs_lock */

/* Permission rules by exact node name (devfs_rules.c, DEVFS_RULE_PERM
 * with DEVFS_RULE_NAME, applied to every mount): applied to a node when it
 * is created and, when added, to the existing one. */
struct devfs_perm_rule {
	char	name[SPECNAMELEN + 1];
	uid_t	uid;
	gid_t	gid;
	int	mode;
};
static struct devfs_perm_rule perm_rules[8];	/* devfs_lock */
static int nperm_rules;				/* devfs_lock */

struct devfs_clone_handler {
	char		*name;
	u_char		namlen;
	d_clone_t	*nhandler;
	struct devfs_clone_handler *next;
};
static struct devfs_clone_handler *chandlers;	/* devfs_lock */

enum { MSG_CREATE, MSG_DESTROY, MSG_DESTROY_BY_OPS, MSG_CHANDLER_ADD,
	MSG_CHANDLER_DEL, MSG_SYNC, MSG_FIND, MSG_QUIT };
struct devfs_msg {
	int		type;
	int		sync;
	int		done;
	cdev_t		dev;
	const char	*name;
	d_clone_t	*handler;
	struct dev_ops	*ops;
	int		minor;
	struct devfs_msg *next;
};
static pthread_mutex_t msg_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t msg_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t msg_done_cv = PTHREAD_COND_INITIALIZER;
static struct devfs_msg *msg_head, **msg_tail = &msg_head;
static pthread_t devfs_td;
static int devfs_run;
static int msg_inflight;	/* sent, not yet completed (msg_mtx) */
static pthread_mutex_t bitmap_mtx = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------------------ */
/* Vnodes                                                                   */

/*
 * A node's vnode.  The node holds it (v_auxrefs), as 5.8.1's name cache
 * holds a cached devfs vnode: a hold is not an active reference, so
 * VREFCNT counts only lookups, open files and calls.  The vnode goes away
 * with its last reference or hold, whichever is last (vn_mtx orders the
 * two decrements; an increment always comes with another reference or
 * hold held, or under devfs_lock while the node still holds the vnode).
 */
static pthread_mutex_t vn_mtx = PTHREAD_MUTEX_INITIALIZER;

static struct vnode *
vnode_new(cdev_t dev, struct devfs_node *node)
{
	struct vnode *vp = calloc(1, sizeof(*vp));

	lockinit(&vp->v_lock, "devfsvn", 0, 0);
	vp->v_type = VCHR;
	vp->v_tag = VT_DEVFS;
	vp->v_rdev = dev;
	vp->v_auxrefs = 1;
	vp->v_data = node;
	vp->v_nc.nc_vp = vp;
	hk_cdev_vref(dev);
	__atomic_store_n(&dev->si_hk->vp, vp, __ATOMIC_SEQ_CST);
	return (vp);
}

static void
vnode_free(struct vnode *vp)
{
	cdev_t dev = vp->v_rdev;
	struct vnode *expect = vp;

	__atomic_compare_exchange_n(&dev->si_hk->vp, &expect, NULL, 0,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	lockuninit(&vp->v_lock);
	free(vp);
	hk_cdev_vrele(dev);
}

void
vref(struct vnode *vp)
{
	__atomic_fetch_add(&vp->v_refcnt, 1, __ATOMIC_SEQ_CST);
}

void
vrele(struct vnode *vp)
{
	int last;

	pthread_mutex_lock(&vn_mtx);
	if (VREFCNT(vp) <= 0)
		panic("vrele: vnode %p has no reference", vp);
	last = __atomic_sub_fetch(&vp->v_refcnt, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&vp->v_auxrefs, __ATOMIC_SEQ_CST) == 0;
	pthread_mutex_unlock(&vn_mtx);
	if (last)
		vnode_free(vp);
}

void
vhold(struct vnode *vp)
{
	__atomic_fetch_add(&vp->v_auxrefs, 1, __ATOMIC_SEQ_CST);
}

void
vdrop(struct vnode *vp)
{
	int last;

	pthread_mutex_lock(&vn_mtx);
	if (__atomic_load_n(&vp->v_auxrefs, __ATOMIC_SEQ_CST) <= 0)
		panic("vdrop: vnode %p has no hold", vp);
	last = __atomic_sub_fetch(&vp->v_auxrefs, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&vp->v_refcnt, __ATOMIC_SEQ_CST) == 0;
	pthread_mutex_unlock(&vn_mtx);
	if (last)
		vnode_free(vp);
}

int
vn_lock(struct vnode *vp, int flags)
{
	return (lockmgr(&vp->v_lock, flags & ~(LK_RETRY | LK_FAILRECLAIM)));
}

void
vn_unlock(struct vnode *vp)
{
	lockmgr(&vp->v_lock, LK_RELEASE);
}

int
vn_islocked(struct vnode *vp)
{
	return (lockstatus(&vp->v_lock, curthread));
}

void
vput(struct vnode *vp)
{
	vn_unlock(vp);
	vrele(vp);
}

/* ------------------------------------------------------------------------ */
/* Nodes (devfs_lock held exclusively unless noted)                         */

static struct devfs_node *
node_find(const char *name, size_t len)
{
	struct devfs_node *n;

	for (n = nodes; n != NULL; n = n->next)
		if (strlen(n->name) == len && memcmp(n->name, name, len) == 0)
			return (n);
	return (NULL);
}

/* devfs_rule_check_apply for a node: the rules of its name, in order. */
static void
node_apply_rules(struct devfs_node *n)
{
	int i;

	for (i = 0; i < nperm_rules; i++) {
		if (strcmp(perm_rules[i].name, n->name) != 0)
			continue;
		n->uid = perm_rules[i].uid;
		n->gid = perm_rules[i].gid;
		n->mode = perm_rules[i].mode;
	}
}

/*
 * A node's attributes as devfs reports and checks them: its own, or its
 * cdev's when the cdev has SI_OVERRIDE (devfs_vnops.c node_sync_dev_get,
 * which copies them into the node; here they are only read, so readers
 * under the shared devfs_lock do not write).  Caller holds devfs_lock.
 */
static void
node_attr(struct devfs_node *n, uid_t *uidp, gid_t *gidp, int *modep)
{
	cdev_t dev = n->d_dev;

	if (dev != NULL && (__atomic_load_n(&dev->si_flags, __ATOMIC_ACQUIRE) &
	    SI_OVERRIDE)) {
		*uidp = dev->si_uid;
		*gidp = dev->si_gid;
		*modep = dev->si_perms;
	} else {
		*uidp = n->uid;
		*gidp = n->gid;
		*modep = n->mode;
	}
}

int
hk_devfs_rule_perm(const char *name, uid_t uid, gid_t gid, int mode)
{
	struct devfs_node *n;
	struct devfs_perm_rule *r;

	lockmgr(&devfs_lock, LK_EXCLUSIVE);
	if (nperm_rules == (int)(sizeof(perm_rules) / sizeof(perm_rules[0]))) {
		lockmgr(&devfs_lock, LK_RELEASE);
		return (ENOSPC);
	}
	r = &perm_rules[nperm_rules++];
	strlcpy(r->name, name, sizeof(r->name));
	r->uid = uid;
	r->gid = gid;
	r->mode = mode;
	if ((n = node_find(name, strlen(name))) != NULL)
		node_apply_rules(n);
	lockmgr(&devfs_lock, LK_RELEASE);
	return (0);
}

/* devfs_create_device_node: the node for dev, or the existing one. */
static struct devfs_node *
node_create(cdev_t dev, int *existsp)
{
	struct devfs_node *n;

	n = node_find(dev->si_name, strlen(dev->si_name));
	if (n != NULL) {
		*existsp = 1;
		return (n);
	}
	*existsp = 0;
	n = calloc(1, sizeof(*n));
	strlcpy(n->name, dev->si_name, sizeof(n->name));
	n->d_dev = dev;
	n->uid = dev->si_uid;
	n->gid = dev->si_gid;
	n->mode = dev->si_perms;
	node_apply_rules(n);
	n->v_node = vnode_new(dev, n);
	n->next = nodes;
	nodes = n;
	__atomic_store_n(&dev->si_hk->node, n, __ATOMIC_SEQ_CST);
	return (n);
}

static void
devfs_link_dev(cdev_t dev)
{
	__atomic_fetch_or(&dev->si_flags, SI_DEVFS_LINKED, __ATOMIC_SEQ_CST);
}

/* devfs_destroy_dev_worker: unlink the node, drop the creation ref. */
static void
destroy_dev_worker(cdev_t dev)
{
	struct devfs_node **pp, *n;

	for (pp = &nodes; (n = *pp) != NULL; pp = &n->next) {
		if (n->d_dev == dev) {
			*pp = n->next;
			break;
		}
	}
	__atomic_fetch_and(&dev->si_flags, ~SI_DEVFS_LINKED, __ATOMIC_SEQ_CST);
	__atomic_store_n(&dev->si_hk->node, NULL, __ATOMIC_SEQ_CST);
	if (n != NULL) {
		n->v_node->v_data = NULL;
		vdrop(n->v_node);
		free(n);
	}
	hk_cdev_base_release(dev);
}

/* ------------------------------------------------------------------------ */
/* The devfs thread                                                         */

static void
msg_run(struct devfs_msg *m)
{
	struct devfs_clone_handler *ch, **chp;
	struct devfs_node *n, *nn;
	int exists;

	switch (m->type) {
	case MSG_CREATE:
		if (m->dev->si_hk->destroyed)
			break;
		n = node_create(m->dev, &exists);
		if (exists)
			kprintf("devfs: node %s already exists\n",
			    m->dev->si_name);
		else
			devfs_link_dev(m->dev);
		break;
	case MSG_DESTROY:
		destroy_dev_worker(m->dev);
		break;
	case MSG_DESTROY_BY_OPS:
		for (n = nodes; n != NULL; n = nn) {
			nn = n->next;
			if (__atomic_load_n(&n->d_dev->si_ops, __ATOMIC_ACQUIRE) ==
			    m->ops && (m->minor < 0 ||
			    n->d_dev->si_uminor == m->minor)) {
				n->d_dev->si_hk->destroyed = 1;
				destroy_dev_worker(n->d_dev);
				nn = nodes;
			}
		}
		break;
	case MSG_CHANDLER_ADD:
		for (ch = chandlers; ch != NULL; ch = ch->next)
			if (strcmp(ch->name, m->name) == 0)
				break;
		if (ch != NULL || strlen(m->name) == 0)
			break;
		ch = kmalloc(sizeof(*ch), M_DEVFS, M_WAITOK | M_ZERO);
		ch->name = kstrdup(m->name, M_DEVFS);
		ch->namlen = strlen(m->name);
		ch->nhandler = m->handler;
		for (chp = &chandlers; *chp != NULL; chp = &(*chp)->next)
			;
		*chp = ch;
		break;
	case MSG_CHANDLER_DEL:
		for (chp = &chandlers; (ch = *chp) != NULL; chp = &ch->next) {
			if (ch->namlen == strlen(m->name) &&
			    memcmp(ch->name, m->name, ch->namlen) == 0) {
				*chp = ch->next;
				kfree(ch->name, M_DEVFS);
				kfree(ch, M_DEVFS);
				break;
			}
		}
		break;
	case MSG_FIND:
		n = node_find(m->name, strlen(m->name));
		m->dev = n ? n->d_dev : NULL;
		break;
	case MSG_SYNC:
	case MSG_QUIT:
		break;
	}
}

static void *
devfs_thread(void *arg)
{
	struct devfs_msg *m;
	int quit = 0, sync;

	hk_tls()->is_devfs = 1;
	hk_curthread()->td_proc = NULL;
	strlcpy(hk_curthread()->td_comm, "devfs_msg_core",
	    sizeof(hk_curthread()->td_comm));
	while (!quit) {
		pthread_mutex_lock(&msg_mtx);
		while (msg_head == NULL)
			pthread_cond_wait(&msg_cv, &msg_mtx);
		m = msg_head;
		if ((msg_head = m->next) == NULL)
			msg_tail = &msg_head;
		pthread_mutex_unlock(&msg_mtx);

		lockmgr(&devfs_lock, LK_EXCLUSIVE);
		msg_run(m);
		lockmgr(&devfs_lock, LK_RELEASE);
		quit = m->type == MSG_QUIT;
		/* A sync message lives on its sender's stack: once done is set
		 * and msg_mtx dropped it may be gone, so read sync first. */
		sync = m->sync;

		pthread_mutex_lock(&msg_mtx);
		msg_inflight--;
		if (sync) {
			m->done = 1;
			pthread_cond_broadcast(&msg_done_cv);
		}
		pthread_mutex_unlock(&msg_mtx);
		if (!sync)
			free(m);
	}
	return (NULL);
}

static void
msg_send(struct devfs_msg *m)
{
	pthread_mutex_lock(&msg_mtx);
	msg_inflight++;
	m->next = NULL;
	*msg_tail = m;
	msg_tail = &m->next;
	pthread_cond_signal(&msg_cv);
	if (m->sync) {
		while (!m->done)
			pthread_cond_wait(&msg_done_cv, &msg_mtx);
	}
	pthread_mutex_unlock(&msg_mtx);
}

static void
msg_async(int type, cdev_t dev)
{
	struct devfs_msg *m = calloc(1, sizeof(*m));

	m->type = type;
	m->dev = dev;
	msg_send(m);
}

static int
on_devfs_thread(void)
{
	return (hk_tls()->is_devfs);
}

/* A synchronous request; run inline when already on the devfs thread. */
static void
msg_sync(struct devfs_msg *m)
{
	m->sync = 1;
	if (on_devfs_thread()) {
		msg_run(m);
		return;
	}
	hk_assert_sleepable("devfs synchronous message");
	msg_send(m);
}

void
devfs_config(void)
{
	struct devfs_msg m;

	if (!devfs_run || on_devfs_thread())
		return;
	memset(&m, 0, sizeof(m));
	m.type = MSG_SYNC;
	msg_sync(&m);
}

/* Test instrumentation: fail the next n clone node creations. */
static int fail_clone_nodes;

int
hk_fail_clone_node(int n)
{
	__atomic_store_n(&fail_clone_nodes, n, __ATOMIC_SEQ_CST);
	return (0);
}

/* Test instrumentation: messages sent to the devfs thread, not completed. */
int hk_devfs_inflight(void);
int
hk_devfs_inflight(void)
{
	int n;

	pthread_mutex_lock(&msg_mtx);
	n = msg_inflight;
	pthread_mutex_unlock(&msg_mtx);
	return (n);
}

void
hk_devfs_sync(void)
{
	devfs_config();
}

void
hk_devfs_create_dev(cdev_t dev)
{
	msg_async(MSG_CREATE, dev);
}

void
hk_devfs_destroy_dev(cdev_t dev)
{
	pthread_mutex_lock(&hk_cdev_mtx);
	if (dev->si_hk->destroyed) {
		pthread_mutex_unlock(&hk_cdev_mtx);
		panic("destroy_dev: cdev %s destroyed twice", dev->si_name);
	}
	dev->si_hk->destroyed = 1;
	pthread_mutex_unlock(&hk_cdev_mtx);
	if (on_devfs_thread())
		destroy_dev_worker(dev);
	else
		msg_async(MSG_DESTROY, dev);
}

int
devfs_destroy_dev_by_ops(struct dev_ops *ops, int minor)
{
	struct devfs_msg *m = calloc(1, sizeof(*m));

	m->type = MSG_DESTROY_BY_OPS;
	m->ops = ops;
	m->minor = minor;
	msg_send(m);
	return (0);
}

int
devfs_clone_handler_add(const char *name, d_clone_t *nhandler)
{
	struct devfs_msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_CHANDLER_ADD;
	m.name = name;
	m.handler = nhandler;
	msg_sync(&m);
	return (0);
}

int
devfs_clone_handler_del(const char *name)
{
	struct devfs_msg m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_CHANDLER_DEL;
	m.name = name;
	msg_sync(&m);
	return (0);
}

cdev_t
devfs_find_device_by_name(const char *fmt, ...)
{
	struct devfs_msg m;
	char name[SPECNAMELEN + 1];
	__va_list ap;

	if (fmt == NULL)
		return (NULL);
	__va_start(ap, fmt);
	kvsnprintf(name, sizeof(name), fmt, ap);
	__va_end(ap);
	memset(&m, 0, sizeof(m));
	m.type = MSG_FIND;
	m.name = name;
	msg_sync(&m);
	return (m.dev);
}

void
hk_devfs_boot(void)
{
	lockinit(&devfs_lock, "devfs_core lock", 0, LK_CANRECURSE);
	hk_set_devfs_open_pause(NULL);
	msg_inflight = 0;
	nodes = NULL;
	nperm_rules = 0;
	chandlers = NULL;
	msg_head = NULL;
	msg_tail = &msg_head;
	devfs_run = 1;
	pthread_create(&devfs_td, NULL, devfs_thread, NULL);
}

void
hk_devfs_shutdown(void)
{
	struct devfs_msg *m = calloc(1, sizeof(*m));
	struct devfs_clone_handler *ch;
	struct devfs_node *n;

	m->type = MSG_QUIT;
	msg_send(m);
	pthread_join(devfs_td, NULL);
	devfs_run = 0;
	while ((ch = chandlers) != NULL) {
		chandlers = ch->next;
		fprintf(stderr, "hostkern: leak: clone handler \"%s\" still "
		    "registered\n", ch->name);
		kfree(ch->name, M_DEVFS);
		kfree(ch, M_DEVFS);
	}
	/* Nodes of leaked cdevs: the cdevs were counted and freed already. */
	while ((n = nodes) != NULL) {
		nodes = n->next;
		lockuninit(&n->v_node->v_lock);
		free(n->v_node);
		free(n);
	}
	lockuninit(&devfs_lock);
}

int
hk_devfs_check_module(void *base, const char *name)
{
	struct devfs_clone_handler *ch;
	int n = 0;

	lockmgr(&devfs_lock, LK_SHARED);
	for (ch = chandlers; ch != NULL; ch = ch->next) {
		if (hk_addr_module_base((void *)ch->nhandler) == base) {
			hk_report("kldunload %s: clone handler \"%s\" of the "
			    "unloaded module still registered", name, ch->name);
			n++;
		}
	}
	lockmgr(&devfs_lock, LK_RELEASE);
	return (n);
}

int
hk_devfs_node(int idx, char *buf, size_t len)
{
	struct devfs_node *n;
	int i = 0, error = ENOENT;

	lockmgr(&devfs_lock, LK_SHARED);
	for (n = nodes; n != NULL; n = n->next, i++) {
		if (i == idx) {
			strlcpy(buf, n->name, len);
			error = 0;
			break;
		}
	}
	lockmgr(&devfs_lock, LK_RELEASE);
	return (error);
}

int
hk_devfs_exists(const char *name)
{
	struct devfs_node *n;
	int found;

	if (strncmp(name, "/dev/", 5) == 0)
		name += 5;
	lockmgr(&devfs_lock, LK_SHARED);
	n = node_find(name, strlen(name));
	found = n != NULL && (n->flags & DEVFS_HIDDEN) == 0;
	lockmgr(&devfs_lock, LK_RELEASE);
	return (found);
}

int
hk_devfs_node_attr(const char *name, uid_t *uidp, gid_t *gidp, int *modep)
{
	struct devfs_node *n;
	int error = ENOENT;

	if (strncmp(name, "/dev/", 5) == 0)
		name += 5;
	lockmgr(&devfs_lock, LK_SHARED);
	n = node_find(name, strlen(name));
	if (n != NULL) {
		uid_t u;
		gid_t g;
		int m;

		node_attr(n, &u, &g, &m);
		if (uidp)
			*uidp = u;
		if (gidp)
			*gidp = g;
		if (modep)
			*modep = m;
		error = 0;
	}
	lockmgr(&devfs_lock, LK_RELEASE);
	return (error);
}

/* ------------------------------------------------------------------------ */
/* Clone bitmaps (devfs_helper.c)                                           */

void
devfs_clone_bitmap_init(struct devfs_bitmap *bitmap)
{
	bitmap->chunks = DEVFS_BITMAP_INITIAL_SIZE;
	bitmap->bitmap = kmalloc(bitmap->chunks * sizeof(u_long), M_DEVFS,
	    M_WAITOK);
	memset(bitmap->bitmap, -1, bitmap->chunks * sizeof(u_long));
}

void
devfs_clone_bitmap_uninit(struct devfs_bitmap *bitmap)
{
	kfree(bitmap->bitmap, M_DEVFS);
}

static void
bitmap_extend(struct devfs_bitmap *bitmap, int newchunks)
{
	int oldchunks = bitmap->chunks;

	bitmap->chunks = newchunks + 2;
	bitmap->bitmap = krealloc(bitmap->bitmap,
	    sizeof(u_long) * bitmap->chunks, M_DEVFS, M_WAITOK);
	memset(bitmap->bitmap + oldchunks, -1,
	    sizeof(u_long) * (bitmap->chunks - oldchunks));
}

static int
bitmap_fff(struct devfs_bitmap *bitmap)
{
	int i, bit;

	for (i = 0; i < bitmap->chunks + 1; i++) {
		if (i == bitmap->chunks)
			bitmap_extend(bitmap, i);
		if (bitmap->bitmap[i]) {
			bit = __builtin_ctzl(bitmap->bitmap[i]);
			return (bit + i * (int)(sizeof(u_long) * 8));
		}
	}
	panic("devfs_clone_bitmap_fff");
}

int
devfs_clone_bitmap_chk(struct devfs_bitmap *bitmap, int unit)
{
	int chunk = unit / (sizeof(u_long) * 8), res;

	unit -= chunk * (sizeof(u_long) * 8);
	pthread_mutex_lock(&bitmap_mtx);
	if (chunk >= bitmap->chunks) {
		pthread_mutex_unlock(&bitmap_mtx);
		return (0);
	}
	res = !((bitmap->bitmap[chunk]) & (1UL << unit));
	pthread_mutex_unlock(&bitmap_mtx);
	return (res);
}

static int
bitmap_set_locked(struct devfs_bitmap *bitmap, int unit)
{
	int chunk = unit / (sizeof(u_long) * 8);

	unit -= chunk * (sizeof(u_long) * 8);
	if (chunk >= bitmap->chunks)
		bitmap_extend(bitmap, chunk);
	if (bitmap->bitmap[chunk] & (1UL << unit)) {
		bitmap->bitmap[chunk] &= ~(1UL << unit);
		return (0);
	}
	return (-1);
}

int
devfs_clone_bitmap_set(struct devfs_bitmap *bitmap, int unit)
{
	int res;

	pthread_mutex_lock(&bitmap_mtx);
	res = bitmap_set_locked(bitmap, unit);
	pthread_mutex_unlock(&bitmap_mtx);
	return (res);
}

/* devfs_clone_bitmap_put syncs with devfs first (pending destroy_devs). */
void
devfs_clone_bitmap_put(struct devfs_bitmap *bitmap, int unit)
{
	int chunk;

	devfs_config();
	chunk = unit / (sizeof(u_long) * 8);
	unit -= chunk * (sizeof(u_long) * 8);
	pthread_mutex_lock(&bitmap_mtx);
	if (chunk < bitmap->chunks)
		bitmap->bitmap[chunk] |= (1UL << unit);
	pthread_mutex_unlock(&bitmap_mtx);
}

int
devfs_clone_bitmap_get(struct devfs_bitmap *bitmap, int limit)
{
	int unit;

	pthread_mutex_lock(&bitmap_mtx);
	unit = bitmap_fff(bitmap);
	if (limit > 0 && unit > limit)
		unit = -1;
	else
		bitmap_set_locked(bitmap, unit);
	pthread_mutex_unlock(&bitmap_mtx);
	return (unit);
}

cdev_t
make_autoclone_dev(struct dev_ops *ops, struct devfs_bitmap *bitmap,
    d_clone_t *nhandler, uid_t uid, gid_t gid, int perms, const char *fmt, ...)
{
	char name[SPECNAMELEN + 1];
	cdev_t dev;
	__va_list ap;

	__va_start(ap, fmt);
	kvsnprintf(name, sizeof(name), fmt, ap);
	__va_end(ap);
	if (bitmap != NULL)
		devfs_clone_bitmap_init(bitmap);
	devfs_clone_handler_add(name, nhandler);
	dev = make_dev_covering(ops, ops, 0xffff00ff, uid, gid, perms, "%s",
	    name);
	return (dev);
}

void
destroy_autoclone_dev(cdev_t dev, struct devfs_bitmap *bitmap)
{
	if (dev == NULL)
		return;
	devfs_clone_handler_del(dev->si_name);
	if (bitmap != NULL)
		devfs_clone_bitmap_uninit(bitmap);
	destroy_dev(dev);
}

/* ------------------------------------------------------------------------ */
/* cdevpriv                                                                 */

struct cdev_privdata {
	void		*cdpd_data;
	cdevpriv_dtr_t	cdpd_dtr;
};

int
devfs_get_cdevpriv(struct file *fp, void **datap)
{
	struct cdev_privdata *p;
	int error;

	if (!hk_has_cdevpriv()) {
		*datap = NULL;
		return (ENOENT);
	}
	if (fp == NULL)
		return (EBADF);
	spin_lock_shared(&fp->f_spin);
	if ((p = fp->f_data1) == NULL) {
		*datap = NULL;
		error = ENOENT;
	} else {
		*datap = p->cdpd_data;
		error = 0;
	}
	spin_unlock_shared(&fp->f_spin);
	return (error);
}

int
devfs_set_cdevpriv(struct file *fp, void *priv, cdevpriv_dtr_t dtr)
{
	struct cdev_privdata *p;
	int error;

	if (!hk_has_cdevpriv() || fp == NULL)
		return (ENOENT);
	p = kmalloc(sizeof(*p), M_DEVFS, M_WAITOK);
	p->cdpd_data = priv;
	p->cdpd_dtr = dtr;
	spin_lock(&fp->f_spin);
	if (fp->f_data1 == NULL) {
		fp->f_data1 = p;
		error = 0;
	} else {
		error = EBUSY;
	}
	spin_unlock(&fp->f_spin);
	if (error)
		kfree(p, M_DEVFS);
	return (error);
}

void
devfs_clear_cdevpriv(struct file *fp)
{
	struct cdev_privdata *p;

	if (fp == NULL)
		return;
	spin_lock(&fp->f_spin);
	p = fp->f_data1;
	fp->f_data1 = NULL;
	spin_unlock(&fp->f_spin);
	if (p != NULL) {
		p->cdpd_dtr(p->cdpd_data);
		kfree(p, M_DEVFS);
	}
}

/* ------------------------------------------------------------------------ */
/* Open and close                                                           */

/*
 * devfs_clone (devfs_core.c), called with devfs_lock held shared.  Kept
 * bug-for-bug: the record is dereferenced after the lock was dropped.
 */
static cdev_t
devfs_clone(cdev_t dev, const char *name, size_t len, int mode,
    struct ucred *cred)
{
	struct devfs_clone_handler *chandler;
	struct dev_clone_args ap;
	int error;

	for (chandler = chandlers; chandler != NULL;
	    chandler = chandler->next) {
		if (chandler->namlen != len)
			continue;
		if (!memcmp(chandler->name, name, len) && chandler->nhandler) {
			lockmgr(&devfs_lock, LK_RELEASE);
			devfs_config();
			ap.a_head.a_desc = &dev_clone_desc;
			ap.a_head.a_dev = dev;
			ap.a_dev = NULL;
			ap.a_name = name;
			ap.a_namelen = len;
			ap.a_mode = mode;
			ap.a_cred = cred;
			error = (chandler->nhandler)(&ap);
			lockmgr(&devfs_lock, LK_SHARED);
			if (error)
				continue;
			return (ap.a_dev);
		}
	}
	return (NULL);
}

/* vop_stdopen: count the open, the file holds the vnode. */
static void
stdopen(struct vnode *vp)
{
	__atomic_fetch_add(&vp->v_opencount, 1, __ATOMIC_SEQ_CST);
	vref(vp);
}

/* Tests: hk_set_devfs_open_pause (hk.h). */
static void (*volatile open_pause)(const char *devname);

void
hk_set_devfs_open_pause(void (*pause)(const char *devname))
{
	open_pause = pause;
}

/*
 * devfs_spec_open.  vp is locked shared by the caller and stays locked
 * (shared or exclusive) on return; *fvpp is the vnode the file now holds
 * (referenced), which is a clone's when a clone handler answered.
 */
static int
devfs_spec_open(struct vnode *vp, int mode, struct ucred *cred,
    struct file *vop_fp, struct file *dev_fp, struct vnode **fvpp, int quick)
{
	void (*pause)(const char *);
	struct vnode *orig_vp = NULL, *nvp;
	struct devfs_node *node, *newnode;
	char name[SPECNAMELEN + 1];
	cdev_t dev, ndev = NULL;
	int error, exists;

	/* 5.8.1 reads the node's flag without devfs_lock. */
	if ((node = vp->v_data) != NULL &&
	    (__atomic_load_n(&node->flags, __ATOMIC_SEQ_CST) & DEVFS_HIDDEN))
		return (ENOENT);
	if ((dev = vp->v_rdev) == NULL)
		return (ENXIO);

	if (quick || (dev_dflags(dev) & D_QUICK)) {
		vn_unlock(vp);
		error = dev_dopen(dev, mode, S_IFCHR, cred, dev_fp, vp);
		vn_lock(vp, LK_SHARED | LK_RETRY);
		/* 5.8.1 falls through to "skip" and returns 0: the error of
		 * a D_QUICK d_open is lost.  Modelled as is. */
		(void)error;
		stdopen(vp);
		*fvpp = vp;
		return (0);
	}

	vn_lock(vp, LK_UPGRADE | LK_RETRY);
	lockmgr(&devfs_lock, LK_SHARED);
	node = vp->v_data;
	if (node != NULL)
		strlcpy(name, node->name, sizeof(name));
	lockmgr(&devfs_lock, LK_RELEASE);
	if (node != NULL && vop_fp != NULL && hk_has_clone()) {
		lockmgr(&devfs_lock, LK_SHARED);
		ndev = devfs_clone(dev, name, strlen(name), mode, cred);
		if (ndev != NULL) {
			lockmgr(&devfs_lock, LK_RELEASE);
			lockmgr(&devfs_lock, LK_EXCLUSIVE);
			/* 5.8.1 goes on with the base device when the clone's
			 * node cannot be made ("XXX: possibly destroy device
			 * if this happens"); tests inject that. */
			if (__atomic_load_n(&fail_clone_nodes, __ATOMIC_SEQ_CST) > 0 &&
			    __atomic_sub_fetch(&fail_clone_nodes, 1,
			    __ATOMIC_SEQ_CST) >= 0)
				newnode = NULL;
			else
				newnode = node_create(ndev, &exists);
			if (newnode != NULL) {
				dev = ndev;
				if (exists == 0)
					devfs_link_dev(dev);
				nvp = newnode->v_node;
				vref(nvp);		/* devfs_allocv */
				vn_lock(nvp, LK_EXCLUSIVE);
				orig_vp = vp;
				vp = nvp;
			}
		}
		lockmgr(&devfs_lock, LK_RELEASE);
		if (ndev != NULL)
			devfs_config();
	}

	if (!dev->si_iosize_max)
		dev->si_iosize_max = MAXPHYS;

	vn_unlock(vp);
	/* Tests: the opener holds the node's vnode (and so its cdev) and has
	 * not called d_open yet (a CPU that lost its time slice). */
	if ((pause = open_pause) != NULL)
		pause(dev->si_name);
	error = dev_dopen(dev, mode, S_IFCHR, cred, dev_fp, vp);
	vn_lock(vp, LK_EXCLUSIVE | LK_RETRY);
	if (error) {
		if (orig_vp != NULL)
			vput(vp);
		return (error);
	}
	stdopen(vp);
	if (orig_vp != NULL)
		vput(vp);
	*fvpp = vp;
	return (0);
}

/* VOP_ACCESS on a devfs node: owner, group, other bits; root passes. */
static int
node_access(struct vnode *vp, struct ucred *cred, int fmode)
{
	struct devfs_node *n;
	uid_t uid;
	gid_t gid;
	int mode, want = 0, i, ok;

	lockmgr(&devfs_lock, LK_SHARED);
	if ((n = vp->v_data) == NULL) {
		lockmgr(&devfs_lock, LK_RELEASE);
		return (ENXIO);
	}
	if (n->flags & DEVFS_HIDDEN) {		/* devfs_vop_access */
		lockmgr(&devfs_lock, LK_RELEASE);
		return (ENOENT);
	}
	node_attr(n, &uid, &gid, &mode);
	lockmgr(&devfs_lock, LK_RELEASE);

	if (cred == NULL || cred->cr_uid == 0)
		return (0);
	if (fmode & FREAD)
		want |= 4;
	if (fmode & FWRITE)
		want |= 2;
	if (cred->cr_uid == uid)
		ok = (mode >> 6) & 7;
	else {
		ok = mode & 7;
		for (i = 0; i < cred->cr_ngroups; i++) {
			if (cred->cr_groups[i] == gid) {
				ok = (mode >> 3) & 7;
				break;
			}
		}
	}
	return ((ok & want) == want ? 0 : EACCES);
}

/* vn_open of a devfs path for a file (the open(2) half of hk_open). */
int
hk_devfs_open(const char *name, int fmode, struct ucred *cred,
    struct file *fp, int quick)
{
	struct hk_file_priv *fpp = fp->f_hk;
	struct devfs_node *node;
	struct vnode *vp, *fvp = NULL;
	struct file *vop_fp, *dev_fp;
	int error;

	/* devfs_vop_nresolve: a hidden node is not found. */
	lockmgr(&devfs_lock, LK_SHARED);
	node = node_find(name, strlen(name));
	if (node == NULL || (node->flags & DEVFS_HIDDEN)) {
		lockmgr(&devfs_lock, LK_RELEASE);
		return (ENOENT);
	}
	vp = node->v_node;
	vref(vp);
	lockmgr(&devfs_lock, LK_RELEASE);

	vop_fp = hk_profile != HK_PROFILE_LEGACY ? fp : NULL;
	dev_fp = hk_has_afp() ? fp : NULL;

	vn_lock(vp, LK_SHARED);
	if (vp->v_rdev == NULL)
		error = ENXIO;
	else
		error = node_access(vp, cred, fmode);
	if (error == 0)
	{
		/* vn_open hands the name it looked up to the file before
		 * VOP_OPEN (f_nchandle); the host keeps it for the open. */
		fp->f_nchandle.ncp = &vp->v_nc;
		error = devfs_spec_open(vp, fmode, cred, vop_fp, dev_fp, &fvp,
		    quick);
		fp->f_nchandle.ncp = NULL;
	}
	vn_unlock(vp);
	vrele(vp);
	if (error)
		return (error);
	fp->f_data = fvp;
	fpp->vp = fvp;
	fpp->opened = 1;
	return (0);
}

/* devfs_spec_close; vp locked shared by the caller, still locked after. */
static int
devfs_spec_close(struct vnode *vp, int fflag, struct file *dev_fp)
{
	cdev_t dev = vp->v_rdev;
	int error = 0, opencount;

	if (dev != NULL && (dev_dflags(dev) & D_QUICK)) {
		opencount = __atomic_load_n(&vp->v_opencount, __ATOMIC_SEQ_CST);
		if (opencount <= 1)
			opencount = count_dev(dev);
		if ((dev_dflags(dev) & D_TRACKCLOSE) || opencount == 1) {
			vn_unlock(vp);
			error = dev_dclose(dev, fflag, S_IFCHR, dev_fp);
			vn_lock(vp, LK_SHARED | LK_RETRY);
		}
		goto skip;
	}
	vn_lock(vp, LK_UPGRADE | LK_RETRY);
	if (dev != NULL) {
		reference_dev(dev);
		opencount = __atomic_load_n(&vp->v_opencount, __ATOMIC_SEQ_CST);
		if (opencount <= 1)
			opencount = count_dev(dev);
	} else {
		opencount = 0;
	}
	if (dev != NULL && ((dev_dflags(dev) & D_TRACKCLOSE) ||
	    opencount == 1)) {
		vn_unlock(vp);
		error = dev_dclose(dev, fflag, S_IFCHR, dev_fp);
		vn_lock(vp, LK_EXCLUSIVE | LK_RETRY);
	}
	if (dev != NULL)
		release_dev(dev);
skip:
	if (__atomic_load_n(&vp->v_opencount, __ATOMIC_SEQ_CST) > 0)
		__atomic_fetch_sub(&vp->v_opencount, 1, __ATOMIC_SEQ_CST);
	return (error);
}

/* devfs_fo_close: vn_close, then the cdevpriv destructor. */
int
hk_devfs_close(struct file *fp)
{
	struct hk_file_priv *fpp = fp->f_hk;
	struct vnode *vp = fpp->vp;
	int error;

	fpp->opened = 0;
	vn_lock(vp, LK_SHARED);
	error = devfs_spec_close(vp, fp->f_flag, hk_has_afp() ? fp : NULL);
	vn_unlock(vp);
	devfs_clear_cdevpriv(fp);
	fpp->vp = NULL;
	fp->f_data = NULL;
	vrele(vp);
	return (error);
}

/* ------------------------------------------------------------------------ */
/* nlookup / cache_vget for "/dev/<name>"                                    */

int
nlookup_init(struct nlookupdata *nd, const char *path, enum uio_seg seg,
    int flags)
{
	size_t len;

	memset(nd, 0, sizeof(*nd));
	if (seg != UIO_SYSSPACE)
		return (EFAULT);
	len = strlen(path);
	if (len >= MAXPATHLEN)
		return (ENAMETOOLONG);
	nd->nl_path = kmalloc(len + 1, M_TEMP, M_WAITOK);
	memcpy(nd->nl_path, path, len + 1);
	nd->nl_td = curthread;
	nd->nl_cred = crhold(curthread->td_ucred);
	nd->nl_flags = flags | NLC_HASBUF;
	return (0);
}

int
nlookup(struct nlookupdata *nd)
{
	struct devfs_node *node;
	const char *name;
	struct vnode *vp = NULL;

	if (nd->nl_path == NULL || strncmp(nd->nl_path, "/dev/", 5) != 0)
		return (ENOENT);
	name = nd->nl_path + 5;
	lockmgr(&devfs_lock, LK_SHARED);
	node = node_find(name, strlen(name));
	if (node != NULL && (node->flags & DEVFS_HIDDEN) == 0) {
		/* The handle holds the name entry, which holds the vnode. */
		vp = node->v_node;
		vhold(vp);
	}
	lockmgr(&devfs_lock, LK_RELEASE);
	if (vp == NULL)
		return (ENOENT);
	nd->nl_nch.ncp = &vp->v_nc;
	return (0);
}

void
nlookup_done(struct nlookupdata *nd)
{
	if (nd->nl_nch.ncp != NULL) {
		vdrop(nd->nl_nch.ncp->nc_vp);
		nd->nl_nch.ncp = NULL;
	}
	if (nd->nl_path != NULL) {
		kfree(nd->nl_path, M_TEMP);
		nd->nl_path = NULL;
	}
	if (nd->nl_cred != NULL) {
		crfree(nd->nl_cred);
		nd->nl_cred = NULL;
	}
}

int
cache_vget(struct nchandle *nch, struct ucred *cred, int lk,
    struct vnode **vpp)
{
	struct vnode *vp = nch->ncp != NULL ? nch->ncp->nc_vp : NULL;
	int error;

	*vpp = NULL;
	if (vp == NULL)
		return (ENOENT);
	vref(vp);
	if ((error = vn_lock(vp, lk)) != 0) {
		vrele(vp);
		return (error);
	}
	*vpp = vp;
	return (0);
}

/* cache_vref: a reference on the handle's vnode, not locked. */
int
cache_vref(struct nchandle *nch, struct ucred *cred, struct vnode **vpp)
{
	struct vnode *vp = nch->ncp != NULL ? nch->ncp->nc_vp : NULL;

	(void)cred;
	*vpp = NULL;
	if (vp == NULL)
		return (ENOENT);
	vref(vp);
	*vpp = vp;
	return (0);
}

int
VOP_GETATTR(struct vnode *vp, struct vattr *vap)
{
	struct devfs_node *n;
	int m;

	lockmgr(&devfs_lock, LK_SHARED);
	if ((n = vp->v_data) == NULL) {
		lockmgr(&devfs_lock, LK_RELEASE);
		return (EIO);
	}
	memset(vap, 0, sizeof(*vap));
	vap->va_type = vp->v_type;
	node_attr(n, &vap->va_uid, &vap->va_gid, &m);
	vap->va_mode = (u_short)m;
	lockmgr(&devfs_lock, LK_RELEASE);
	return (0);
}
