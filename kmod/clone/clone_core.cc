/*
 * clone_core.cc - the life of a record in the cloning shim's hermetic core
 * (C++, docs/design.md §3): create and destroy the core; reserve (limits, the
 * per-process list), publish, look up, unpublish, reference and free a
 * record.
 *
 * Owns: the transitions OPENING -> LIVE -> CLOSING -> gone (clone_core.h),
 * the allocations of records and table entries, and the limits reserve
 * applies (set at create, changed by clone_core_set_limit).
 *
 * Locking: as clone_core_impl.h.  reserve allocates with no lock held and
 * retries; publish, lookup and unpublish take one hash stripe; nothing
 * calls out with a lock held (finalize runs after the last rele, unlocked).
 *
 * Design: docs/design.md §5.
 */
#include "clone/clone_core_impl.h"

extern "C" {

int
clone_core_create(const clone_core_params *p, clone_core **corep)
{
	clone_core *c = alloc_obj<clone_core>();
	if (!c)
		return clone_os_errno(kENOMEM);
	c->params = *p;
	long want = p->hash_size_hint > 0 ? p->hash_size_hint : 4096;
	uint32_t n = 64;
	if (p->hash_buckets > 0) {
		want = p->hash_buckets;
		n = 1;
	}
	if (want > (1L << 20))
		want = 1L << 20;
	while (n < want)
		n <<= 1;
	c->mask_ = n - 1;
	c->table_lock_ = clone_os_spin_create(1);
	c->stripes_ = clone_os_spin_create(kStripes);
	c->buckets_ = static_cast<clone_rec **>(clone_os_alloc(sizeof(clone_rec *) * n));
	c->seqs_ = static_cast<clone_core::StripeSeq *>(
	    clone_os_alloc(sizeof(clone_core::StripeSeq) * kStripes));
	if (!c->table_lock_ || !c->stripes_ || !c->buckets_ || !c->seqs_) {
		if (c->table_lock_)
			clone_os_spin_destroy(c->table_lock_, 1);
		if (c->stripes_)
			clone_os_spin_destroy(c->stripes_, kStripes);
		if (c->buckets_)
			clone_os_free(c->buckets_);
		if (c->seqs_)
			clone_os_free(c->seqs_);
		free_obj(c);
		return clone_os_errno(kENOMEM);
	}
	c->table_ = Spin(c->table_lock_, 0);
	{
		LockGuard<Spin> g(c->table_);
		c->limits_[CLONE_LIMIT_PER_PROC] = p->max_per_proc;
		c->limits_[CLONE_LIMIT_PER_UID] = p->max_per_uid;
		c->limits_[CLONE_LIMIT_TOTAL] = p->max_total;
	}
	*corep = c;
	return 0;
}

int
clone_core_limit(clone_core *c, int which)
{
	if (which < 0 || which >= CLONE_LIMIT_COUNT)
		clone_os_panic("clone_core_limit: no such limit");
	LockGuard<Spin> g(c->table_);
	return c->limits_[which];
}

void
clone_core_set_limit(clone_core *c, int which, int value)
{
	if (which < 0 || which >= CLONE_LIMIT_COUNT)
		clone_os_panic("clone_core_set_limit: no such limit");
	LockGuard<Spin> g(c->table_);
	c->limits_[which] = value;
}

void
clone_core_destroy(clone_core *c)
{
	clone_rec *free;
	{
		LockGuard<Spin> g(c->table_);
		if (c->nrecs_ != 0 || !c->all_.empty())
			clone_os_panic("clone_core_destroy: records live");
		free = c->free_recs_;
		c->free_recs_ = nullptr;
	}
	while (free) {
		clone_rec *next = free->free_next;
		free_obj(free);
		free = next;
	}
	clone_os_spin_destroy(c->table_lock_, 1);
	clone_os_spin_destroy(c->stripes_, kStripes);
	clone_os_free(c->buckets_);
	clone_os_free(c->seqs_);
	free_obj(c);
}

int
clone_core_reserve(clone_core *c, int pid, unsigned uid, const void *creator,
    clone_rec **recp)
{
	clone_rec *rec;
	ProcEntry *npe = nullptr;
	UidEntry *nue = nullptr;
	int error = 0;

	{
		LockGuard<Spin> g(c->table_);
		if ((rec = c->free_recs_) != nullptr)
			c->free_recs_ = rec->free_next;
	}
	if (rec)
		reset_recycled(rec);
	else
		rec = alloc_obj<clone_rec>();
	if (!rec) {
		clone_core_count_refusal(c, CLONE_REFUSED_NOMEM);
		return clone_os_errno(kENOMEM);
	}
	rec->pid = pid;
	rec->uid = uid;
	rec->creator = creator;
	rec->unit = -1;
	rec->refs = 1;
	rec->state = OPENING;
	rec->core = c;
	for (;;) {
		bool need_pe = false, need_ue = false;
		{
			LockGuard<Spin> g(c->table_);
			const clone_core_params &p = c->params;
			const int max_proc = c->limits_[CLONE_LIMIT_PER_PROC];
			const int max_uid = c->limits_[CLONE_LIMIT_PER_UID];
			const int max_total = c->limits_[CLONE_LIMIT_TOTAL];
			ProcEntry *pe = c->find_proc_locked(pid);
			UidEntry *ue = c->find_uid_locked(uid);
			if (c->detaching_) {
				c->refused_[CLONE_REFUSED_DETACH]++;
				error = clone_os_errno(kENXIO);
			} else if (p.one_per_proc && pe && pe->count > 0) {
				c->refused_[CLONE_REFUSED_BUSY]++;
				error = clone_os_errno(kEBUSY);
			} else if (max_proc > 0 && pe && pe->count >= max_proc) {
				c->refused_[CLONE_REFUSED_PROC]++;
				error = clone_os_errno(kEMFILE);
			} else if (max_uid > 0 && ue && ue->count >= max_uid) {
				c->refused_[CLONE_REFUSED_UID]++;
				error = clone_os_errno(kEAGAIN);
			} else if (max_total > 0 && c->nrecs_ >= max_total) {
				c->refused_[CLONE_REFUSED_TOTAL]++;
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
				c->created_++;
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
			clone_core_count_refusal(c, CLONE_REFUSED_NOMEM);
			break;
		}
	}
	free_obj(npe);
	free_obj(nue);
	if (rec) {
		LockGuard<Spin> g(c->table_);
		c->recycle_locked(rec);
	}
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
		c->created_--;
		c->recycle_locked(rec);
	}
	free_obj(fpe);
	free_obj(fue);
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
	c->seq_begin(b);
	st_key(rec, key);
	if (load_acq(&rec->driver_opened) == 0) {
		/* autoclone: published by the handler before devfs opens it */
		__atomic_store_n(&rec->counted_unopened, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->unopened_, 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&rec->state, LIVE, __ATOMIC_RELEASE);
	st_next(&rec->hnext, c->buckets_[b]);
	st_next(&c->buckets_[b], rec);
	c->seq_end(b);
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

/*
 * No lock, no write: fp mode's lookup on every call (clone_core_impl.h,
 * the sequence counts).  A walk longer than any chain can be (records
 * moved under the reader) starts over; the count has changed then.
 */
clone_rec *
clone_core_find(clone_core *c, const void *key)
{
	uint32_t b = hash_ptr(key) & c->mask_;
	const uint32_t *seq = &c->seqs_[b & (kStripes - 1)].v;

	for (;;) {
		uint32_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
		clone_rec *found = nullptr;
		long steps = 0;

		if (s1 & 1) {
			__builtin_ia32_pause();
			continue;
		}
		for (clone_rec *r = ld_next(&c->buckets_[b]); r;
		    r = ld_next(&r->hnext)) {
			if (ld_key(r) == key) {
				found = r;
				break;
			}
			if (++steps > (1L << 20))
				break;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(seq, __ATOMIC_RELAXED) == s1 &&
		    steps <= (1L << 20))
			return found;
	}
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
			c->seq_begin(b);
			st_next(pp, r->hnext);
			__atomic_store_n(&r->state, CLOSING, __ATOMIC_RELEASE);
			c->seq_end(b);
			return r;	/* the hash's reference, now the caller's */
		}
	}
	return nullptr;
}

int
clone_core_unpublish_rec(clone_core *c, clone_rec *rec)
{
	/* The caller holds a reference: rec and its key cannot go, so the
	 * bucket is the one rec was published in, if it still is. */
	uint32_t b = hash_ptr(rec->key) & c->mask_;
	Spin s = c->stripe(b);
	LockGuard<Spin> g(s);
	for (clone_rec **pp = &c->buckets_[b]; *pp; pp = &(*pp)->hnext) {
		if (*pp == rec) {
			c->seq_begin(b);
			st_next(pp, rec->hnext);
			__atomic_store_n(&rec->state, CLOSING, __ATOMIC_RELEASE);
			c->seq_end(b);
			return 1;	/* the hash's reference, now the caller's */
		}
	}
	return 0;
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
	uncount_unopened(rec);
	{
		LockGuard<Spin> g(c->table_);
		c->unlink_locked(rec, &fpe, &fue);
		c->destroyed_++;
		c->recycle_locked(rec);
	}
	free_obj(fpe);
	free_obj(fue);
}

} // extern "C"
