/*
 * clone_core.cc - the cloning shim's bookkeeping (hermetic C++, DESIGN.md §4).
 *
 * Owns, per attached shim: every record (one per clone), the per-process
 * list (pid -> ProcEntry -> its records), per-uid counts, the limits, the
 * statistics, and the key -> record hash of the hot path.
 *
 * Locking:
 *  - table_ (one OS spinlock, table_lock_) guards procs_, uids_, all_,
 *    every ProcEntry/UidEntry, nrecs_, the counters and detaching_ (checked
 *    by clang's -Wthread-safety: GUARDED_BY/REQUIRES below).
 *    Taken by reserve/abort/free/listing/keys: open, close, exit, sysctl.
 *    Never taken by lookup, so never per ioctl.
 *  - stripes_ (nstripes OS spinlocks) guard the hash chains: bucket b is
 *    guarded by stripe b & (nstripes - 1).  lookup holds one stripe for a
 *    chain walk and a refcount bump: with 64 stripes and a hash sized from
 *    the limit, the written line is shared with 1/64th of the clones, not
 *    with all of them, and the walk is O(1) on average.
 *  - clone_rec::refs is atomic.  The hash owns one reference while a record
 *    is LIVE; lookup adds one under the stripe lock, so a record cannot be
 *    freed under a lookup: freeing needs unpublish (stripe lock) and then the
 *    last rele.
 *  - Lock order: table_ before a stripe (publish does not nest them).
 *  Nothing is allocated, and nothing calls out, with a lock held.
 */
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

enum State : uint32_t { OPENING = 0, LIVE = 1, CLOSING = 2 };

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
	uint32_t first_open;	/* atomic, 0 -> 1 once */
	uint32_t opened;	/* atomic: the driver's d_open succeeded */
	uint64_t opens;		/* atomic relaxed: d_open calls */
	uint64_t ops;		/* atomic relaxed: forwarded ops */
	int close_fflag;
	int close_devtype;
	void *close_fp;
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
	long opens_ GUARDED_BY(table_);
	long closes_ GUARDED_BY(table_);
	long refused_[CLONE_REF_COUNT] GUARDED_BY(table_);
	bool detaching_ GUARDED_BY(table_);

	Spin stripe(uint32_t b) { return Spin(stripes_, static_cast<int>(b & (kStripes - 1))); }

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

/* Decimal formatting for the listing (no libc in the core). */
struct Out {
	char *buf;
	int len;
	int pos;
	void put(char c)
	{
		if (pos + 1 < len)
			buf[pos] = c;
		pos++;
	}
	void num(long long v)
	{
		char tmp[24];
		int n = 0;
		unsigned long long u = v < 0 ? 0ULL - static_cast<unsigned long long>(v) :
		    static_cast<unsigned long long>(v);
		if (v < 0)
			put('-');
		do {
			tmp[n++] = static_cast<char>('0' + u % 10);
			u /= 10;
		} while (u);
		while (n)
			put(tmp[--n]);
	}
};

} // namespace clone_detail

extern "C" {

int
clone_core_create(const clone_core_params *p, clone_core **corep)
{
	clone_core *c = alloc_obj<clone_core>();
	if (!c)
		return clone_os_errno(kENOMEM);
	c->params = *p;
	long want = p->hash_size_hint > 0 ? p->hash_size_hint : 4096;
	if (want > (1L << 20))
		want = 1L << 20;
	uint32_t n = 64;
	while (n < want)
		n <<= 1;
	c->mask_ = n - 1;
	c->table_lock_ = clone_os_spin_create(1);
	c->stripes_ = clone_os_spin_create(kStripes);
	c->buckets_ = static_cast<clone_rec **>(clone_os_alloc(sizeof(clone_rec *) * n));
	if (!c->table_lock_ || !c->stripes_ || !c->buckets_) {
		if (c->table_lock_)
			clone_os_spin_destroy(c->table_lock_, 1);
		if (c->stripes_)
			clone_os_spin_destroy(c->stripes_, kStripes);
		if (c->buckets_)
			clone_os_free(c->buckets_);
		free_obj(c);
		return clone_os_errno(kENOMEM);
	}
	c->table_ = Spin(c->table_lock_, 0);
	*corep = c;
	return 0;
}

void
clone_core_destroy(clone_core *c)
{
	{
		LockGuard<Spin> g(c->table_);
		if (c->nrecs_ != 0 || !c->all_.empty())
			clone_os_panic("clone_core_destroy: records live");
	}
	clone_os_spin_destroy(c->table_lock_, 1);
	clone_os_spin_destroy(c->stripes_, kStripes);
	clone_os_free(c->buckets_);
	free_obj(c);
}

int
clone_core_reserve(clone_core *c, int pid, unsigned uid, const void *creator,
    clone_rec **recp)
{
	clone_rec *rec = alloc_obj<clone_rec>();
	ProcEntry *npe = nullptr;
	UidEntry *nue = nullptr;
	int error = 0;

	if (!rec) {
		clone_core_count_refusal(c, CLONE_REF_NOMEM);
		return clone_os_errno(kENOMEM);
	}
	rec->pid = pid;
	rec->uid = uid;
	rec->creator = creator;
	rec->unit = -1;
	rec->refs = 1;
	rec->state = OPENING;
	for (;;) {
		bool need_pe = false, need_ue = false;
		{
			LockGuard<Spin> g(c->table_);
			const clone_core_params &p = c->params;
			ProcEntry *pe = c->find_proc_locked(pid);
			UidEntry *ue = c->find_uid_locked(uid);
			if (c->detaching_) {
				c->refused_[CLONE_REF_DETACH]++;
				error = clone_os_errno(kENXIO);
			} else if (p.one_per_proc && pe && pe->count > 0) {
				c->refused_[CLONE_REF_BUSY]++;
				error = clone_os_errno(kEBUSY);
			} else if (p.max_per_proc > 0 && pe && pe->count >= p.max_per_proc) {
				c->refused_[CLONE_REF_PROC]++;
				error = clone_os_errno(kEMFILE);
			} else if (p.max_per_uid > 0 && ue && ue->count >= p.max_per_uid) {
				c->refused_[CLONE_REF_UID]++;
				error = clone_os_errno(kEAGAIN);
			} else if (p.max_total > 0 && c->nrecs_ >= p.max_total) {
				c->refused_[CLONE_REF_TOTAL]++;
				error = clone_os_errno(kEAGAIN);
			} else if ((!pe && !npe) || (!ue && !nue)) {
				need_pe = !pe && !npe;
				need_ue = !ue && !nue;
			} else {
				if (!pe) {
					pe = npe;
					npe = nullptr;
					pe->pid = pid;
					unsigned b = static_cast<unsigned>(pid) % kProcBuckets;
					pe->hnext = c->procs_[b];
					c->procs_[b] = pe;
				}
				if (!ue) {
					ue = nue;
					nue = nullptr;
					ue->uid = uid;
					ue->hnext = c->uids_[uid % kUidBuckets];
					c->uids_[uid % kUidBuckets] = ue;
				}
				pe->count++;
				ue->count++;
				pe->recs.push_back(rec);
				c->all_.push_back(rec);
				rec->proc = pe;
				rec->uidp = ue;
				c->nrecs_++;
				c->opens_++;
			}
		}
		if (error)
			break;
		if (!need_pe && !need_ue) {
			*recp = rec;
			rec = nullptr;
			break;
		}
		/* Allocate what was missing with no lock held, then retry. */
		if (need_pe && !(npe = alloc_obj<ProcEntry>()))
			error = clone_os_errno(kENOMEM);
		if (!error && need_ue && !(nue = alloc_obj<UidEntry>()))
			error = clone_os_errno(kENOMEM);
		if (error) {
			clone_core_count_refusal(c, CLONE_REF_NOMEM);
			break;
		}
	}
	free_obj(npe);
	free_obj(nue);
	free_obj(rec);
	return error;
}

void
clone_core_abort(clone_core *c, clone_rec *rec)
{
	/* Never published: only the opener knows it; it goes like a close
	 * that was never counted as an open. */
	ProcEntry *fpe = nullptr;
	UidEntry *fue = nullptr;
	{
		LockGuard<Spin> g(c->table_);
		c->unlink_locked(rec, &fpe, &fue);
		c->opens_--;
	}
	free_obj(fpe);
	free_obj(fue);
	free_obj(rec);
}

int
clone_core_publish(clone_core *c, clone_rec *rec, const void *key)
{
	uint32_t b = hash_ptr(key) & c->mask_;
	Spin s = c->stripe(b);
	LockGuard<Spin> g(s);
	for (clone_rec *r = c->buckets_[b]; r; r = r->hnext)
		if (r->key == key)
			return clone_os_errno(kEEXIST);
	rec->key = key;
	__atomic_store_n(&rec->state, LIVE, __ATOMIC_RELEASE);
	rec->hnext = c->buckets_[b];
	c->buckets_[b] = rec;
	return 0;
}

clone_rec *
clone_core_lookup(clone_core *c, const void *key)
{
	uint32_t b = hash_ptr(key) & c->mask_;
	Spin s = c->stripe(b);
	LockGuard<Spin> g(s);
	for (clone_rec *r = c->buckets_[b]; r; r = r->hnext) {
		if (r->key == key) {
			__atomic_fetch_add(&r->refs, 1, __ATOMIC_RELAXED);
			return r;
		}
	}
	return nullptr;
}

clone_rec *
clone_core_unpublish(clone_core *c, const void *key)
{
	uint32_t b = hash_ptr(key) & c->mask_;
	Spin s = c->stripe(b);
	LockGuard<Spin> g(s);
	for (clone_rec **pp = &c->buckets_[b]; *pp; pp = &(*pp)->hnext) {
		clone_rec *r = *pp;
		if (r->key == key) {
			*pp = r->hnext;
			r->hnext = nullptr;
			__atomic_store_n(&r->state, CLOSING, __ATOMIC_RELEASE);
			return r;	/* the hash's reference, now the caller's */
		}
	}
	return nullptr;
}

void
clone_core_ref(clone_rec *rec)
{
	__atomic_fetch_add(&rec->refs, 1, __ATOMIC_RELAXED);
}

void
clone_core_unref_unpublished(clone_rec *rec)
{
	if (__atomic_fetch_sub(&rec->refs, 1, __ATOMIC_ACQ_REL) == 1)
		clone_os_panic("clone_core_unref_unpublished: last reference");
}

void
clone_core_rele(clone_core *c, clone_rec *rec)
{
	if (__atomic_fetch_sub(&rec->refs, 1, __ATOMIC_ACQ_REL) != 1)
		return;
	if (load_acq(&rec->state) != CLOSING)
		clone_os_panic("clone_core_rele: last reference of a live record");
	c->params.finalize(c->params.ctx, rec);
}

void
clone_core_free(clone_core *c, clone_rec *rec)
{
	ProcEntry *fpe = nullptr;
	UidEntry *fue = nullptr;
	{
		LockGuard<Spin> g(c->table_);
		c->unlink_locked(rec, &fpe, &fue);
		c->closes_++;
	}
	free_obj(fpe);
	free_obj(fue);
	free_obj(rec);
}

int
clone_core_keys_of_pid(clone_core *c, int pid, const void **keys, int max)
{
	int n = 0;
	LockGuard<Spin> g(c->table_);
	ProcEntry *pe = c->find_proc_locked(pid);
	if (!pe)
		return 0;
	for (clone_rec *r = pe->recs.front(); r && n < max; r = pe->recs.next(r))
		if (load_acq(&r->state) == LIVE)
			keys[n++] = r->key;
	return n;
}

int
clone_core_unopened_keys(clone_core *c, const void **keys, int *pids, int max)
{
	int n = 0;
	LockGuard<Spin> g(c->table_);
	for (clone_rec *r = c->all_.front(); r && n < max; r = c->all_.next(r)) {
		if (load_acq(&r->state) == LIVE && load_acq(&r->opened) == 0) {
			keys[n] = r->key;
			pids[n] = r->pid;
			n++;
		}
	}
	return n;
}

int
clone_core_idle_keys(clone_core *c, int pid, const void **keys, int max)
{
	int n = 0;
	LockGuard<Spin> g(c->table_);
	for (clone_rec *r = c->all_.front(); r && n < max; r = c->all_.next(r))
		if (load_acq(&r->state) == LIVE &&
		    (r->pid == pid || __atomic_load_n(&r->ops, __ATOMIC_RELAXED) != 0))
			keys[n++] = r->key;
	return n;
}

int
clone_core_begin_detach(clone_core *c)
{
	LockGuard<Spin> g(c->table_);
	if (c->nrecs_ != 0)
		return clone_os_errno(kEBUSY);
	c->detaching_ = true;
	return 0;
}

void
clone_core_cancel_detach(clone_core *c)
{
	LockGuard<Spin> g(c->table_);
	c->detaching_ = false;
}

long
clone_core_live(clone_core *c)
{
	LockGuard<Spin> g(c->table_);
	return c->nrecs_;
}

void
clone_rec_set_dev(clone_rec *rec, void *dev, int unit, void *base)
{
	rec->dev = dev;
	rec->unit = unit;
	rec->base = base;
}

void *clone_rec_dev(const clone_rec *rec) { return rec->dev; }
void *clone_rec_base(const clone_rec *rec) { return rec->base; }
int clone_rec_unit(const clone_rec *rec) { return rec->unit; }
int clone_rec_pid(const clone_rec *rec) { return rec->pid; }
const void *clone_rec_creator(const clone_rec *rec) { return rec->creator; }
const void *clone_rec_key(const clone_rec *rec) { return rec->key; }

int
clone_rec_claim_first_open(clone_rec *rec)
{
	uint32_t zero = 0;
	return __atomic_compare_exchange_n(&rec->first_open, &zero, 1, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ? 1 : 0;
}

void
clone_rec_mark_opened(clone_rec *rec)
{
	__atomic_store_n(&rec->opened, 1, __ATOMIC_RELEASE);
}

int
clone_rec_opened(const clone_rec *rec)
{
	return static_cast<int>(load_acq(&rec->opened));
}

void
clone_rec_count_open(clone_rec *rec)
{
	__atomic_fetch_add(&rec->opens, 1, __ATOMIC_RELAXED);
}

void
clone_rec_count_op(clone_rec *rec)
{
	__atomic_fetch_add(&rec->ops, 1, __ATOMIC_RELAXED);
}

void
clone_rec_set_close_args(clone_rec *rec, int fflag, int devtype, void *fp)
{
	rec->close_fflag = fflag;
	rec->close_devtype = devtype;
	rec->close_fp = fp;
}

void
clone_rec_close_args(const clone_rec *rec, int *fflag, int *devtype, void **fp)
{
	*fflag = rec->close_fflag;
	*devtype = rec->close_devtype;
	*fp = rec->close_fp;
}

void
clone_core_count_refusal(clone_core *c, enum clone_refusal why)
{
	LockGuard<Spin> g(c->table_);
	c->refused_[why]++;
}

void
clone_core_stats(clone_core *c, long *live, long *opens, long *closes,
    long refused[CLONE_REF_COUNT])
{
	LockGuard<Spin> g(c->table_);
	*live = c->nrecs_;
	*opens = c->opens_;
	*closes = c->closes_;
	for (int i = 0; i < CLONE_REF_COUNT; i++)
		refused[i] = c->refused_[i];
}

int
clone_core_listing(clone_core *c, char *buf, int len)
{
	Out o{buf, len, 0};
	{
		LockGuard<Spin> g(c->table_);
		for (clone_rec *r = c->all_.front(); r; r = c->all_.next(r)) {
			o.num(r->unit);
			o.put(' ');
			o.num(r->pid);
			o.put(' ');
			o.num(r->uid);
			o.put(' ');
			o.num(static_cast<long long>(__atomic_load_n(&r->opens, __ATOMIC_RELAXED)));
			o.put(' ');
			o.num(static_cast<long long>(__atomic_load_n(&r->ops, __ATOMIC_RELAXED)));
			o.put('\n');
		}
	}
	if (len > 0)
		buf[o.pos < len ? o.pos : len - 1] = '\0';
	return o.pos;
}

long
clone_core_record_bytes(void)
{
	return static_cast<long>(sizeof(clone_rec));
}

} // extern "C"
