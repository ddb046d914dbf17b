/*
 * clone_sysctl.c - what a shim tells: the sysctl tree debug.<name>.*, the
 * statistics, the listing of live clones, the cost of one clone; and the
 * three limits, which root may change there (clone_shim_set_limit); and
 * a testing aid, autoclone's unload hold (unload_hold_ms).
 *
 * Owns: the shim's sysctl context (built at attach under the kernel's
 * "debug" node, SYSCTL_STATIC_CHILDREN(_debug); freed by clone_attach.c's
 * clone_shim_free).
 *
 * Locking: the handlers run under the sysctl lock that sysctl_ctx_free()
 * takes exclusively, so none runs once it returns.  The numbers come from
 * the core under its table lock (clone_core_stats), the listing from a
 * walk that holds it one chunk at a time (clone_core_walk_listing).
 *
 * Design: docs/design.md §4.
 */
#include "clone/clone_shim_var.h"

static int
clone_sysctl_mode(SYSCTL_HANDLER_ARGS)
{
	struct clone_shim *shim = arg1;
	const char *m = clone_shim_mode_name(shim->mode);

	return (SYSCTL_OUT(req, m, strlen(m) + 1));
}

/* arg2: the statistic, as an offset into struct clone_shim_stats. */
static int
clone_sysctl_stat(SYSCTL_HANDLER_ARGS)
{
	struct clone_shim_stats st;
	long v;

	clone_shim_stats(arg1, &st);
	v = *(long *)((char *)&st + arg2);
	return (SYSCTL_OUT(req, &v, sizeof(v)));
}

/*
 * The listing, one chunk of records at a time (the core holds its table
 * lock for one chunk only), each chunk copied out before the next is
 * read: one pass, no buffer the size of the table.  A clone made or gone
 * during the read may be in it or not.
 */
static int
clone_sysctl_listing(SYSCTL_HANDLER_ARGS)
{
	struct clone_shim *shim = arg1;
	struct clone_core_walk w;
	char *buf;
	int len, error = 0;

	buf = kmalloc(CLONE_CORE_LISTING_CHUNK_BYTES, M_CLONESHIM,
	    M_WAITOK | M_NULLOK);
	if (buf == NULL)
		return (ENOMEM);
	clone_core_walk_begin(shim->core, &w);
	while (!w.done && error == 0) {
		len = clone_core_walk_listing(shim->core, &w, buf,
		    CLONE_CORE_LISTING_CHUNK_BYTES);
		if (len > 0)
			error = SYSCTL_OUT(req, buf, len);
	}
	clone_core_walk_end(shim->core, &w);
	kfree(buf, M_CLONESHIM);
	if (error == 0)
		error = SYSCTL_OUT(req, "", 1);
	return (error);
}

/* arg2: the limit (enum clone_shim_limit).  Writes: 0 is the default,
 * below 0 no limit; reads: the limit in effect, -1 for none. */
static int
clone_sysctl_limit(SYSCTL_HANDLER_ARGS)
{
	int v, error;

	v = clone_shim_limit(arg1, arg2);
	error = sysctl_handle_int(oidp, &v, 0, req);
	if (error || req->newptr == NULL)
		return (error);
	return (clone_shim_set_limit(arg1, arg2, v));
}

/*
 * A testing aid, autoclone only: the unload waits unload_hold_ms with
 * D_QUICK on the device and the existing nodes locked (between steps (2)
 * and (3) of clone_autoclone_unload), so that a test can open the device
 * itself through a devfs mounted meanwhile -- the stray file 5.8.1's
 * D_QUICK open path hands out -- and check that it cannot reach the
 * instance the shim holds.  0 (the default) never waits; at most
 * CLONE_UNLOAD_HOLD_MAX_MS.
 */
#define CLONE_UNLOAD_HOLD_MAX_MS	10000

static int
clone_sysctl_hold_ms(SYSCTL_HANDLER_ARGS)
{
	struct clone_shim *shim = arg1;
	int v, error;

	v = __atomic_load_n(&shim->unload_hold_ms, __ATOMIC_RELAXED);
	error = sysctl_handle_int(oidp, &v, 0, req);
	if (error || req->newptr == NULL)
		return (error);
	if (v < 0 || v > CLONE_UNLOAD_HOLD_MAX_MS)
		return (EINVAL);
	__atomic_store_n(&shim->unload_hold_ms, v, __ATOMIC_RELAXED);
	return (0);
}

static int
clone_sysctl_holding(SYSCTL_HANDLER_ARGS)
{
	struct clone_shim *shim = arg1;
	int v = (int)__atomic_load_n(&shim->unload_holding, __ATOMIC_ACQUIRE);

	return (SYSCTL_OUT(req, &v, sizeof(v)));
}

/* Called by the autoclone unload, by the unloading thread only. */
void
clone_sysctl_unload_hold(struct clone_shim *shim)
{
	int ms = __atomic_load_n(&shim->unload_hold_ms, __ATOMIC_RELAXED);
	int ticks = (int)((long)ms * hz / 1000);

	if (ms <= 0)
		return;
	kprintf("clone_shim: %s: unload held %d ms with D_QUICK on "
	    "(unload_hold_ms, a testing aid)\n", shim->name, ms);
	__atomic_store_n(&shim->unload_holding, 1, __ATOMIC_RELEASE);
	tsleep(&shim->unload_holding, 0, "clnuhld", ticks > 0 ? ticks : 1);
	__atomic_store_n(&shim->unload_holding, 0, __ATOMIC_RELEASE);
}

static int
clone_sysctl_bytes(SYSCTL_HANDLER_ARGS)
{
	long v = clone_shim_bytes_per_clone(arg1);

	return (SYSCTL_OUT(req, &v, sizeof(v)));
}

static int
clone_sysctl_chains(SYSCTL_HANDLER_ARGS)
{
	struct clone_shim *shim = arg1;
	long v = clone_core_hash_chains(shim->core);

	return (SYSCTL_OUT(req, &v, sizeof(v)));
}

static const struct {
	const char	*name;
	int		off;
	const char	*descr;
} clone_sysctl_stats[] = {
#define CLONE_STAT(f, d) { #f, __builtin_offsetof(struct clone_shim_stats, f), d }
	CLONE_STAT(live, "clones live now"),
	CLONE_STAT(opens, "clones created"),
	CLONE_STAT(closes, "clones destroyed"),
	CLONE_STAT(refused_proc, "opens refused: per-process limit (EMFILE)"),
	CLONE_STAT(refused_uid, "opens refused: per-uid limit (EAGAIN)"),
	CLONE_STAT(refused_total, "opens refused: total limit (EAGAIN)"),
	CLONE_STAT(refused_busy, "opens refused: proc mode, second open (EBUSY)"),
	CLONE_STAT(refused_nomem, "opens refused: no memory (ENOMEM)"),
	CLONE_STAT(refused_foreign,
	    "calls refused: proc mode, another process's file (ENXIO)"),
	CLONE_STAT(refused_detach, "opens refused: racing unload (ENXIO)"),
#undef CLONE_STAT
};

int
clone_sysctl_attach(struct clone_shim *shim, const char *name)
{
	struct sysctl_oid_list *debug, *kids;
	struct sysctl_oid *node;
	size_t i;

	debug = SYSCTL_STATIC_CHILDREN(_debug);
	sysctl_ctx_init(&shim->sysctl_ctx);
	shim->sysctl_on = 1;
	node = SYSCTL_ADD_NODE(&shim->sysctl_ctx, debug, OID_AUTO, name,
	    CTLFLAG_RD, 0, "cloning shim");
	if (node == NULL)
		return (EEXIST);
	kids = SYSCTL_CHILDREN(node);
	SYSCTL_ADD_PROC(&shim->sysctl_ctx, kids, OID_AUTO, "mode",
	    CTLTYPE_STRING | CTLFLAG_RD, shim, 0, clone_sysctl_mode, "A",
	    "how opens find their clone: autoclone, fp, native or proc");
	for (i = 0; i < sizeof(clone_sysctl_stats) /
	    sizeof(clone_sysctl_stats[0]); i++) {
		SYSCTL_ADD_PROC(&shim->sysctl_ctx, kids, OID_AUTO,
		    clone_sysctl_stats[i].name, CTLTYPE_LONG | CTLFLAG_RD,
		    shim, clone_sysctl_stats[i].off, clone_sysctl_stat, "L",
		    clone_sysctl_stats[i].descr);
	}
	SYSCTL_ADD_PROC(&shim->sysctl_ctx, kids, OID_AUTO, "listing",
	    CTLTYPE_STRING | CTLFLAG_RD, shim, 0, clone_sysctl_listing, "A",
	    "one line per clone: unit pid uid opens ops");
	SYSCTL_ADD_PROC(&shim->sysctl_ctx, kids, OID_AUTO, "hash_chains",
	    CTLTYPE_LONG | CTLFLAG_RD, shim, 0, clone_sysctl_chains, "L",
	    "chains of the fp index (tunable hash_buckets)");
	SYSCTL_ADD_PROC(&shim->sysctl_ctx, kids, OID_AUTO, "bytes_per_clone",
	    CTLTYPE_LONG | CTLFLAG_RD, shim, 0, clone_sysctl_bytes, "L",
	    "memory one clone costs the shim (record + cdev)");
	SYSCTL_ADD_PROC(&shim->sysctl_ctx, kids, OID_AUTO, "max_per_proc",
	    CTLTYPE_INT | CTLFLAG_RW, shim, CLONE_SHIM_MAX_PER_PROC,
	    clone_sysctl_limit, "I", "clones per process, EMFILE beyond; "
	    "-1: no limit (write 0 for the default, 16)");
	SYSCTL_ADD_PROC(&shim->sysctl_ctx, kids, OID_AUTO, "max_per_uid",
	    CTLTYPE_INT | CTLFLAG_RW, shim, CLONE_SHIM_MAX_PER_UID,
	    clone_sysctl_limit, "I", "clones per uid, EAGAIN beyond; "
	    "-1: no limit (write 0 for the default, 256)");
	SYSCTL_ADD_PROC(&shim->sysctl_ctx, kids, OID_AUTO, "max_total",
	    CTLTYPE_INT | CTLFLAG_RW, shim, CLONE_SHIM_MAX_TOTAL,
	    clone_sysctl_limit, "I", "clones in all, EAGAIN beyond; "
	    "-1: no limit (write 0 for the default, 4096)");
	if (shim->mode == CLONE_MODE_AUTOCLONE) {
		SYSCTL_ADD_PROC(&shim->sysctl_ctx, kids, OID_AUTO,
		    "unload_hold_ms", CTLTYPE_INT | CTLFLAG_RW, shim, 0,
		    clone_sysctl_hold_ms, "I", "testing aid: the unload "
		    "waits this long with D_QUICK on (0: never, at most "
		    "10000)");
		SYSCTL_ADD_PROC(&shim->sysctl_ctx, kids, OID_AUTO,
		    "unload_holding", CTLTYPE_INT | CTLFLAG_RD, shim, 0,
		    clone_sysctl_holding, "I", "1 while the unload waits "
		    "(unload_hold_ms)");
	}
	return (0);
}

void
clone_shim_stats(struct clone_shim *shim, struct clone_shim_stats *st)
{
	long refused[CLONE_REFUSED_COUNT];

	clone_core_stats(shim->core, &st->live, &st->opens, &st->closes,
	    refused);
	st->refused_proc = refused[CLONE_REFUSED_PROC];
	st->refused_uid = refused[CLONE_REFUSED_UID];
	st->refused_total = refused[CLONE_REFUSED_TOTAL];
	st->refused_busy = refused[CLONE_REFUSED_BUSY];
	st->refused_nomem = refused[CLONE_REFUSED_NOMEM];
	st->refused_foreign = refused[CLONE_REFUSED_FOREIGN];
	st->refused_detach = refused[CLONE_REFUSED_DETACH];
}

int
clone_shim_listing(struct clone_shim *shim, char *buf, int len)
{
	struct clone_core_walk w;
	char *chunk;
	int n, total = 0;

	chunk = kmalloc(CLONE_CORE_LISTING_CHUNK_BYTES, M_CLONESHIM,
	    M_WAITOK | M_NULLOK);
	if (chunk == NULL) {
		if (len > 0)
			buf[0] = '\0';
		return (0);
	}
	clone_core_walk_begin(shim->core, &w);
	while (!w.done) {
		n = clone_core_walk_listing(shim->core, &w, chunk,
		    CLONE_CORE_LISTING_CHUNK_BYTES);
		if (total < len - 1)
			memcpy(buf + total, chunk,
			    (size_t)(n < len - 1 - total ? n : len - 1 - total));
		total += n;
	}
	clone_core_walk_end(shim->core, &w);
	kfree(chunk, M_CLONESHIM);
	if (len > 0)
		buf[total < len - 1 ? total : len - 1] = '\0';
	return (total);
}

long
clone_shim_bytes_per_clone(struct clone_shim *shim)
{
	return (clone_core_record_bytes() + (long)sizeof(struct cdev));
}
