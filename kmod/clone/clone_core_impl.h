/*
 * clone_core_impl.h - the types of the shim's hermetic core (C++), shared
 * by clone_core.cc (the life of a record) and clone_core_query.cc (what
 * the glue reads: keys, accessors, statistics, the listing).  Nothing
 * outside the core includes it; the glue sees clone_core.h only.
 *
 * Owns, per attached shim: every record (one per clone), the per-process
 * list (pid -> ProcEntry -> its records), per-uid counts, the limits, the
 * statistics, and the key -> record hash of the hot path.
 *
 * Locking:
 *  - table_ (one OS spinlock, table_lock_) guards procs_, uids_, all_,
 *    every ProcEntry/UidEntry, nrecs_, the counters and detaching_ (checked
 *    by clang's -Wthread-safety: GUARDED_BY/REQUIRES below).
 *    Taken by reserve/abort/free and the walks: open, close, exit,
 *    sysctl.  Never taken by lookup, so never per ioctl.  A walk over all_
 *    holds it for one chunk (kWalkChunk records) at a time and keeps its
 *    place between chunks with a marker record (state MARKER) linked in
 *    all_; every walk skips markers, nothing else ever sees one.
 *  - stripes_ (nstripes OS spinlocks) guard the hash chains: bucket b is
 *    guarded by stripe b & (nstripes - 1).  lookup holds one stripe for a
 *    chain walk and a refcount bump: with 64 stripes and a hash sized from
 *    the limit, the written line is shared with 1/64th of the clones, not
 *    with all of them, and the walk is O(1) on average.
 *  - clone_rec::refs is atomic.  The hash owns one reference while a record
 *    is LIVE; lookup adds one under the stripe lock, so a record cannot be
 *    freed under a lookup: freeing needs unpublish (stripe lock) and then the
 *    last rele.  A walk adds one under the table lock, only to a LIVE
 *    record whose count is not zero (try_ref): a record whose last
 *    reference went is being finalized and is not handed out again; an
 *    OPENING one may still be aborted (freed with no reference count).
 *  - unopened_ is atomic: published records the driver has not opened
 *    (clone_rec::counted_unopened says which, cleared exactly once).
 *  - clone_core_find (fp mode's per-call lookup) takes no lock: each
 *    stripe has a sequence count (seqs_, odd while a writer under the
 *    stripe lock changes a chain of it); a reader walks the chain with
 *    relaxed atomic loads of key and hnext and keeps its answer only if
 *    the count was even and unchanged.  A record is never returned to the
 *    allocator while the core lives (free_recs_, reused by reserve), so a
 *    reader that follows a record just unlinked reads a clone_rec, never
 *    freed memory; key and hnext are only ever written with atomic stores.
 *  - Lock order: table_ before a stripe (publish does not nest them).
 *  Nothing is allocated, and nothing calls out, with a lock held.
 *
 * Design: docs/design.md §5.
 */
#ifndef CLONE_CORE_IMPL_H
#define CLONE_CORE_IMPL_H

#include "cxx/kcxx.h"
#include "clone/clone_core.h"

using kcxx::List;
using kcxx::ListNode;
using kcxx::LockGuard;
using kcxx::uint32_t;
using kcxx::uint64_t;
using kcxx::uintptr_t;

namespace clone_detail {

/* Errnos by DragonFly name, numbered by the glue (the host's differ). */
enum { kENOMEM = CLONE_E_NOMEM, kEMFILE = CLONE_E_MFILE, kEAGAIN = CLONE_E_AGAIN,
       kEBUSY = CLONE_E_BUSY, kENXIO = CLONE_E_NXIO, kEEXIST = CLONE_E_EXIST };

enum State : uint32_t { OPENING = 0, LIVE = 1, CLOSING = 2, MARKER = 3 };

constexpr int kWalkChunk = CLONE_CORE_WALK_CHUNK;

class CAPABILITY("spinlock") Spin {
public:
	Spin(clone_os_spin *s, int i) : s_(s), i_(i) {}
	void lock() ACQUIRE() { clone_os_spin_lock(s_, i_); }
	void unlock() RELEASE() { clone_os_spin_unlock(s_, i_); }

private:
	clone_os_spin *s_;
	int i_;
};

struct UidEntry {
	unsigned uid;
	int count;
	UidEntry *hnext;
};

struct ProcEntry;

} // namespace clone_detail

using namespace clone_detail;

struct clone_rec {
	ListNode proc_node;	/* ProcEntry::recs (table lock) */
	ListNode all_node;	/* clone_core::all_ (table lock) */
	clone_rec *hnext;	/* hash chain (its stripe) */
	const void *key;	/* set at publish, constant after */
	void *dev;
	void *base;
	int unit;
	int pid;
	unsigned uid;
	const void *creator;
	ProcEntry *proc;	/* table lock */
	UidEntry *uidp;		/* table lock */
	uint32_t refs;		/* atomic */
	uint32_t state;		/* atomic */
	uint32_t first_open_claimed; /* atomic, 0 -> 1 once (autoclone) */
	uint32_t driver_opened;	/* atomic: the driver owes a d_close */
	uint64_t open_calls;	/* atomic relaxed: d_open calls forwarded */
	uint64_t op_calls;	/* atomic relaxed: other calls forwarded */
	int close_fflag;
	int close_devtype;
	void *close_fp;
	clone_core *core;	/* constant: for unopened_ */
	uint32_t counted_unopened; /* atomic: counted in core->unopened_ */
	clone_rec *free_next;	/* clone_core::free_recs_ (table lock) */
};

namespace clone_detail {

struct ProcEntry {
	int pid;
	int count;
	ProcEntry *hnext;
	List<clone_rec, &clone_rec::proc_node> recs;
};

constexpr int kProcBuckets = 256;
constexpr int kUidBuckets = 64;
constexpr int kStripes = 64;

inline uint32_t
hash_ptr(const void *p)
{
	uint64_t v = reinterpret_cast<uintptr_t>(p);
	v ^= v >> 17;
	v *= 0x9e3779b97f4a7c15ULL;
	return static_cast<uint32_t>(v >> 32);
}

} // namespace clone_detail

struct clone_core {
	clone_core_params params;
	clone_os_spin *table_lock_;
	clone_os_spin *stripes_;
	clone_rec **buckets_;
	uint32_t mask_;
	Spin table_{nullptr, 0};	/* wraps table_lock_ once it exists */
	ProcEntry *procs_[kProcBuckets] GUARDED_BY(table_);
	UidEntry *uids_[kUidBuckets] GUARDED_BY(table_);
	List<clone_rec, &clone_rec::all_node> all_ GUARDED_BY(table_);
	long nrecs_ GUARDED_BY(table_);
	long created_ GUARDED_BY(table_);
	long destroyed_ GUARDED_BY(table_);
	long refused_[CLONE_REFUSED_COUNT] GUARDED_BY(table_);
	int limits_[CLONE_LIMIT_COUNT] GUARDED_BY(table_);	/* <= 0: none */
	bool detaching_ GUARDED_BY(table_);
	long unopened_;		/* atomic */
	clone_rec *free_recs_ GUARDED_BY(table_);	/* type-stable: see find */
	struct StripeSeq {
		uint32_t v;	/* odd while a writer changes the stripe */
		char pad[60];
	} *seqs_;		/* one per stripe, written under the stripe */

	Spin stripe(uint32_t b) { return Spin(stripes_, static_cast<int>(b & (kStripes - 1))); }

	/* Around a change of bucket b's chain, under its stripe lock. */
	void seq_begin(uint32_t b)
	{
		uint32_t *v = &seqs_[b & (kStripes - 1)].v;
		__atomic_store_n(v, *v + 1, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_RELEASE);
	}
	void seq_end(uint32_t b)
	{
		uint32_t *v = &seqs_[b & (kStripes - 1)].v;
		__atomic_store_n(v, *v + 1, __ATOMIC_RELEASE);
	}
	/* A record goes back to free_recs_, never to the allocator. */
	void recycle_locked(clone_rec *r) REQUIRES(table_)
	{
		r->free_next = free_recs_;
		free_recs_ = r;
	}

	ProcEntry *find_proc_locked(int pid) REQUIRES(table_)
	{
		for (ProcEntry *pe = procs_[static_cast<unsigned>(pid) % kProcBuckets]; pe; pe = pe->hnext)
			if (pe->pid == pid)
				return pe;
		return nullptr;
	}
	UidEntry *find_uid_locked(unsigned uid) REQUIRES(table_)
	{
		for (UidEntry *ue = uids_[uid % kUidBuckets]; ue; ue = ue->hnext)
			if (ue->uid == uid)
				return ue;
		return nullptr;
	}
	void unhash_proc_locked(ProcEntry *pe) REQUIRES(table_)
	{
		ProcEntry **pp = &procs_[static_cast<unsigned>(pe->pid) % kProcBuckets];
		while (*pp != pe)
			pp = &(*pp)->hnext;
		*pp = pe->hnext;
	}
	void unhash_uid_locked(UidEntry *ue) REQUIRES(table_)
	{
		UidEntry **pp = &uids_[ue->uid % kUidBuckets];
		while (*pp != ue)
			pp = &(*pp)->hnext;
		*pp = ue->hnext;
	}
	/* Unlink rec from the table; returns entries to free after unlocking. */
	void unlink_locked(clone_rec *rec, ProcEntry **freepe, UidEntry **freeue)
	    REQUIRES(table_)
	{
		ProcEntry *pe = rec->proc;
		UidEntry *ue = rec->uidp;
		pe->recs.remove(rec);
		all_.remove(rec);
		nrecs_--;
		if (--pe->count == 0) {
			unhash_proc_locked(pe);
			*freepe = pe;
		}
		if (--ue->count == 0) {
			unhash_uid_locked(ue);
			*freeue = ue;
		}
	}
};

namespace clone_detail {

template <class T>
T *
alloc_obj()
{
	void *p = clone_os_alloc(sizeof(T));
	return p ? new (p) T() : nullptr;
}

template <class T>
void
free_obj(T *t)
{
	if (t) {
		t->~T();
		clone_os_free(t);
	}
}

inline uint32_t
load_acq(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* The fields lock-free readers load (clone_core_find).  A link is stored
 * with release and loaded with acquire, so a reader that reaches a record
 * through it sees the record as it was made (plain moves on x86). */
inline clone_rec *
ld_next(clone_rec *const *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

inline void
st_next(clone_rec **p, clone_rec *v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

inline const void *
ld_key(const clone_rec *r)
{
	return __atomic_load_n(&r->key, __ATOMIC_RELAXED);
}

inline void
st_key(clone_rec *r, const void *k)
{
	__atomic_store_n(&r->key, k, __ATOMIC_RELAXED);
}

/* A record from free_recs_, made as new: every field as alloc_obj() would
 * leave it, key and hnext with atomic stores (a reader that followed it
 * before it was freed may still load them). */
inline void
reset_recycled(clone_rec *r)
{
	r->proc_node = ListNode();
	r->all_node = ListNode();
	st_next(&r->hnext, nullptr);
	st_key(r, nullptr);
	r->dev = nullptr;
	r->base = nullptr;
	r->unit = 0;
	r->pid = 0;
	r->uid = 0;
	r->creator = nullptr;
	r->proc = nullptr;
	r->uidp = nullptr;
	r->refs = 0;
	r->state = OPENING;
	r->first_open_claimed = 0;
	r->driver_opened = 0;
	r->open_calls = 0;
	r->op_calls = 0;
	r->close_fflag = 0;
	r->close_devtype = 0;
	r->close_fp = nullptr;
	r->core = nullptr;
	r->counted_unopened = 0;
	r->free_next = nullptr;
}

/* A reference for a walk: only on a LIVE record whose count is not zero
 * (see the locking notes above).  Called under the table lock. */
inline bool
try_ref(clone_rec *r)
{
	if (load_acq(&r->state) != LIVE)
		return false;
	uint32_t n = __atomic_load_n(&r->refs, __ATOMIC_RELAXED);
	while (n != 0)
		if (__atomic_compare_exchange_n(&r->refs, &n, n + 1, false,
		    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return true;
	return false;
}

/* Drop the record's count in core->unopened_, once. */
inline void
uncount_unopened(clone_rec *r)
{
	if (__atomic_exchange_n(&r->counted_unopened, 0, __ATOMIC_ACQ_REL) != 0)
		__atomic_fetch_sub(&r->core->unopened_, 1, __ATOMIC_RELAXED);
}

} // namespace clone_detail

#endif /* CLONE_CORE_IMPL_H */
