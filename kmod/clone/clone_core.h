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
 * Locking (see clone_core.cc for the detail):
 *   table lock (one spinlock)  per-process/per-uid tables, the all-records
 *                              list, counts, the detaching flag; taken on
 *                              open, close, exit and sysctl, never per op.
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

/* Up to max published keys of pid's records, copied under the table lock
 * (at_exit in proc mode); returns how many. */
int clone_core_keys_of_pid(struct clone_core *core, int pid,
    const void **keys, int max);
/* Up to max published keys, with their owner pids, of records whose first
 * open never happened (autoclone: devfs made the record but could not make
 * the node, or the opener is between the handler and its d_open). */
int clone_core_unopened_keys(struct clone_core *core, const void **keys,
    int *pids, int max);
/* Up to max published keys for proc mode's device last close: every
 * record that has served a call, and every record of pid.  A record that
 * never served a call may belong to an open still in flight in another
 * process (devfs counts that open only after d_open returns), so it is
 * left to its process's exit or its own first call. */
int clone_core_idle_keys(struct clone_core *core, int pid, const void **keys,
    int max);

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
void clone_rec_count_op_call(struct clone_rec *rec);
/* d_close arguments kept for a deferred finalize. */
void clone_rec_set_close_args(struct clone_rec *rec, int fflag, int devtype, void *fp);
void clone_rec_close_args(const struct clone_rec *rec, int *fflag, int *devtype, void **fp);

void clone_core_count_refusal(struct clone_core *core, enum clone_refusal why);
void clone_core_stats(struct clone_core *core, long *live, long *created,
    long *destroyed, long refused[CLONE_REFUSED_COUNT]);
/* "unit pid uid opens ops\n" per record; returns the full length. */
int clone_core_listing(struct clone_core *core, char *buf, int len);
/* Bytes the core allocates per record (bench: bytes per clone). */
long clone_core_record_bytes(void);

#ifdef __cplusplus
}
#endif
#endif /* CLONE_CORE_H */
