/*
 * clone_core.h - the shim's hermetic core, seen from its C glue.
 *
 * The core (clone_core.cc, C++, no kernel header) owns the bookkeeping of
 * one attached shim: the records (one per clone), the per-process list
 * (pid -> its records), per-uid counts, limits, statistics, and a striped
 * key -> record hash used on the hot path (key = the struct file in fp
 * mode, the owner pid in proc mode, the clone cdev in autoclone mode).
 * It never calls into the wrapped driver: the glue does, between
 * clone_core_lookup() and clone_core_rele(), holding only a reference.
 *
 * Record life: reserve (OPENING, counted against the limits, on the
 * per-process list) -> publish (LIVE, findable by key) -> unpublish
 * (CLOSING, no longer findable) -> last rele -> the glue's finalize
 * callback (forward d_close, destroy the clone) -> clone_core_free (GONE).
 * An open that fails between reserve and publish calls clone_core_abort.
 *
 * Locking (see clone_core_impl.h for the detail):
 *   table lock (one spinlock)  per-process/per-uid tables, the all-records
 *                              list, counts, the detaching flag; taken on
 *                              open, close, exit and sysctl, never per op,
 *                              and never for more than one chunk of a walk
 *                              (CLONE_CORE_WALK_CHUNK records).
 *   stripe locks (spinlocks)   the hash chains of the buckets they stripe;
 *                              held for a chain walk and a refcount bump.
 *   record refs (atomic)       a record is freed only by its last rele.
 * Nothing here sleeps while holding a lock; allocation happens before any
 * lock is taken.
 *
 * The OS interface (clone_os_*) is implemented by clone_os.c.
 *
 * Design: docs/design.md §5.
 */
#ifndef CLONE_CORE_H
#define CLONE_CORE_H

#ifdef __cplusplus
extern "C" {
#endif

struct clone_core;
struct clone_rec;
struct clone_os_spin;

/* --- OS interface, implemented by the glue ---------------------------- */
void *clone_os_alloc(__SIZE_TYPE__ size);	/* zeroed; NULL on failure */
void clone_os_free(void *p);
struct clone_os_spin *clone_os_spin_create(int n);	/* n spinlocks or NULL */
void clone_os_spin_destroy(struct clone_os_spin *s, int n);
void clone_os_spin_lock(struct clone_os_spin *s, int i);
void clone_os_spin_unlock(struct clone_os_spin *s, int i);
void clone_os_panic(const char *msg) __attribute__((__noreturn__));
/* DragonFly errno for one of these names (host numbers differ). */
enum { CLONE_E_NOMEM, CLONE_E_MFILE, CLONE_E_AGAIN, CLONE_E_BUSY, CLONE_E_NXIO,
       CLONE_E_EXIST };
int clone_os_errno(int which);

/* --- the core's API ---------------------------------------------------- */
struct clone_core_params {
	int max_per_proc;	/* <= 0: unlimited; clone_core_set_limit */
	int max_per_uid;	/* changes them later */
	int max_total;
	int hash_size_hint;	/* expected live records: sizes the hash */
	int hash_buckets;	/* > 0: exactly this many chains (rounded up
				 * to a power of two; tests force collisions) */
	int one_per_proc;	/* proc mode: second reserve by a pid -> EBUSY */
	/* called (no lock held) when the last reference of a CLOSING
	 * record goes; must end with clone_core_free(core, rec). */
	void (*finalize)(void *ctx, struct clone_rec *rec);
	void *ctx;
};

/* Refusal reasons, for the statistics. */
enum clone_refusal {
	CLONE_REFUSED_PROC, CLONE_REFUSED_UID, CLONE_REFUSED_TOTAL,
	CLONE_REFUSED_BUSY, CLONE_REFUSED_NOMEM, CLONE_REFUSED_FOREIGN,
	CLONE_REFUSED_DETACH, CLONE_REFUSED_COUNT
};

int clone_core_create(const struct clone_core_params *p, struct clone_core **corep);
/* Only when no record exists (after a successful clone_core_begin_detach). */
void clone_core_destroy(struct clone_core *core);

/* Reserve a record for (pid, uid): limits, per-process list.  creator is
 * the opening thread (autoclone). 0 or EMFILE/EAGAIN/EBUSY/ENXIO/ENOMEM. */
int clone_core_reserve(struct clone_core *core, int pid, unsigned uid,
    const void *creator, struct clone_rec **recp);
/* Undo a reservation that was never published. */
void clone_core_abort(struct clone_core *core, struct clone_rec *rec);
/* Make rec findable under key (LIVE).  EEXIST if the key is taken. */
int clone_core_publish(struct clone_core *core, struct clone_rec *rec, const void *key);
/* Find the LIVE record of key and take a reference; NULL if none. */
struct clone_rec *clone_core_lookup(struct clone_core *core, const void *key);
/* The same without a reference, for a caller that holds what keeps the
 * record published (fp mode: the caller's reference on the file whose
 * close alone unpublishes it). */
struct clone_rec *clone_core_find(struct clone_core *core, const void *key);
/* Remove key's record from the hash (CLOSING) and hand the hash's
 * reference to the caller; NULL if none. */
struct clone_rec *clone_core_unpublish(struct clone_core *core, const void *key);
void clone_core_ref(struct clone_rec *rec);
/* Drop a reference taken with clone_core_ref on a record that is not
 * published and still referenced by its opener (never the last one). */
void clone_core_unref_unpublished(struct clone_rec *rec);
/* Drop a reference; the last one of a CLOSING record calls finalize. */
void clone_core_rele(struct clone_core *core, struct clone_rec *rec);
/* From finalize: unlink from every list, count the close, free. */
void clone_core_free(struct clone_core *core, struct clone_rec *rec);

/*
 * Reaping.  Every record a reaper finds comes back with a reference of
 * the reaper's own, so it cannot go (nor its key be reused by another
 * record) before the reaper is done; the reaper then unpublishes that
 * record itself, by identity (clone_core_unpublish_rec), never by a key
 * it copied: two reapers, or a record freed and a new one made at the
 * same address or pid, can never make it reap the wrong record.
 */
/* Unpublish rec if it is still published (LIVE -> CLOSING): 1 and the
 * hash's reference is the caller's, or 0 (someone else did). */
int clone_core_unpublish_rec(struct clone_core *core, struct clone_rec *rec);
/* Up to max published records of pid, referenced (proc mode's exit;
 * O(records of pid), off the all-records list). */
int clone_core_recs_of_pid(struct clone_core *core, int pid,
    struct clone_rec **recs, int max);
/* Published records whose driver d_open has not succeeded yet (autoclone:
 * the handler made the record, devfs has not opened its node or never
 * will).  Counted without a walk, so a reaper can skip an empty walk. */
long clone_core_unopened(struct clone_core *core);

/*
 * A walk over every record, in chunks: the table lock is held for at most
 * CLONE_CORE_WALK_CHUNK records at a time, never across the whole table
 * (opens and closes wait for it).  The walk's place is a marker record in
 * the caller's struct clone_core_walk; begin, call next/listing until
 * done, then end (always).
 */
#define CLONE_CORE_WALK_CHUNK	32
/* The longest listing line: "unit pid uid opens ops\n", every number at
 * its widest (int, int, unsigned, two 64-bit counters). */
#define CLONE_CORE_LISTING_LINE_MAX	80
#define CLONE_CORE_LISTING_CHUNK_BYTES \
	(CLONE_CORE_WALK_CHUNK * CLONE_CORE_LISTING_LINE_MAX)
struct clone_core_walk {
	int		done;
	unsigned long	marker[32];	/* a struct clone_rec (size checked) */
};
enum clone_walk_kind {
	/* published, the driver's d_open not (yet) succeeded (autoclone) */
	CLONE_WALK_UNOPENED,
	/* published, and served a call or owned by pid (proc mode's device
	 * last close: a record that never served a call may belong to an
	 * open still in flight in another process -- devfs counts that open
	 * only after d_open returns -- so it is left to its process's exit
	 * or its own first call) */
	CLONE_WALK_IDLE,
};
void clone_core_walk_begin(struct clone_core *core, struct clone_core_walk *w);
/* The next chunk's matching records, referenced (at most max); 0 once
 * w->done, or when the chunk had none. */
int clone_core_walk_next(struct clone_core *core, struct clone_core_walk *w,
    enum clone_walk_kind kind, int pid, struct clone_rec **recs, int max);
/* The next chunk's listing lines into buf (len >=
 * CLONE_CORE_LISTING_CHUNK_BYTES), not NUL-terminated; returns bytes. */
int clone_core_walk_listing(struct clone_core *core, struct clone_core_walk *w,
    char *buf, int len);
void clone_core_walk_end(struct clone_core *core, struct clone_core_walk *w);

/* The limits, by index: read, or changed for the reserves that follow
 * (<= 0: unlimited).  Records already made stay; the hash keeps the size
 * max_total gave it at create. */
enum { CLONE_LIMIT_PER_PROC, CLONE_LIMIT_PER_UID, CLONE_LIMIT_TOTAL,
       CLONE_LIMIT_COUNT };
int clone_core_limit(struct clone_core *core, int which);
void clone_core_set_limit(struct clone_core *core, int which, int value);

/* Detach: EBUSY if any record exists, else marks the core detaching
 * (every later reserve gets ENXIO) and returns 0. */
int clone_core_begin_detach(struct clone_core *core);
/* Undo begin_detach (a detach that had to give up). */
void clone_core_cancel_detach(struct clone_core *core);
long clone_core_live(struct clone_core *core);
/* Chains of the fp hash (fixed at create). */
long clone_core_hash_chains(struct clone_core *core);

/* Record accessors. */
/* The clone cdev, its unit (-1: none), the base cdev it clones. */
void clone_rec_set_dev(struct clone_rec *rec, void *dev, int unit, void *base);
void *clone_rec_dev(const struct clone_rec *rec);
void *clone_rec_base(const struct clone_rec *rec);
int clone_rec_unit(const struct clone_rec *rec);
int clone_rec_pid(const struct clone_rec *rec);
const void *clone_rec_creator(const struct clone_rec *rec);
const void *clone_rec_key(const struct clone_rec *rec);
/* State for autoclone's first open: atomically LIVE-but-unopened -> opened.
 * Returns 1 if this call claimed the first open. */
int clone_rec_claim_first_open(struct clone_rec *rec);
/* The driver's d_open succeeded on the clone: a d_close is owed. */
void clone_rec_mark_driver_opened(struct clone_rec *rec);
int clone_rec_driver_opened(const struct clone_rec *rec);
void clone_rec_count_open_call(struct clone_rec *rec);
/* Not atomic with itself: concurrent calls on one file may lose counts
 * (never the first one). */
void clone_rec_count_op_call(struct clone_rec *rec);
/* Both in one call, for the forwarded calls: count one, return the clone. */
void *clone_rec_op_call(struct clone_rec *rec);
/* d_close arguments kept for a deferred finalize. */
void clone_rec_set_close_args(struct clone_rec *rec, int fflag, int devtype, void *fp);
void clone_rec_close_args(const struct clone_rec *rec, int *fflag, int *devtype, void **fp);

void clone_core_count_refusal(struct clone_core *core, enum clone_refusal why);
void clone_core_stats(struct clone_core *core, long *live, long *created,
    long *destroyed, long refused[CLONE_REFUSED_COUNT]);
/* Bytes the core allocates per record (bench: bytes per clone). */
long clone_core_record_bytes(void);

#ifdef __cplusplus
}
#endif
#endif /* CLONE_CORE_H */
