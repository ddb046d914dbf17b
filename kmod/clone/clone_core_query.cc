/*
 * clone_core_query.cc - what the shim's glue reads from the core: the
 * records to reap (exit, last close, orphans) and the listing, both as
 * walks in chunks, the detach gate, the record accessors and the
 * statistics.
 *
 * Owns: nothing beyond the core's state (clone_core_impl.h).
 *
 * Locking: the walks take the table lock one chunk at a time
 * (clone_core_impl.h); the detach flag and the statistics take it briefly;
 * the accessors read a record the caller holds a reference on (constant
 * fields, or atomics).
 *
 * Design: docs/design.md §5.
 */
#include "clone/clone_core_impl.h"

namespace clone_detail {

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

static_assert(sizeof(clone_rec) <= sizeof(((clone_core_walk *)nullptr)->marker),
    "struct clone_core_walk cannot hold a marker record");

namespace clone_detail {

inline clone_rec *
walk_marker(clone_core_walk *w)
{
	return reinterpret_cast<clone_rec *>(w->marker);
}

/* Does r match the walk?  (table lock held) */
inline bool
walk_matches(const clone_rec *r, clone_walk_kind kind, int pid)
{
	if (load_acq(&r->state) != LIVE)
		return false;
	switch (kind) {
	case CLONE_WALK_UNOPENED:
		return load_acq(&r->driver_opened) == 0;
	case CLONE_WALK_IDLE:
		return r->pid == pid ||
		    __atomic_load_n(&r->op_calls, __ATOMIC_RELAXED) != 0;
	}
	return false;
}

/*
 * Visit the next chunk after the marker (table lock held): f(r) for each
 * record, until kWalkChunk were visited or f says stop (returns false,
 * r not consumed); then move the marker after the last one consumed, or
 * unlink it at the end of the list (done).
 */
template <class F>
void
walk_chunk_locked(clone_core *c, clone_core_walk *w, F f) REQUIRES(c->table_)
{
	clone_rec *m = walk_marker(w), *last = m, *r;
	int seen = 0;

	if (!m->all_node.linked()) {
		w->done = 1;
		return;
	}
	for (r = c->all_.next(m); r && seen < kWalkChunk; r = c->all_.next(r)) {
		seen++;
		if (load_acq(&r->state) != MARKER && !f(r))
			break;
		last = r;
	}
	if (last != m) {
		c->all_.remove(m);
		c->all_.insert_after(last, m);
	}
	if (!c->all_.next(m)) {
		c->all_.remove(m);
		w->done = 1;
	}
}

} // namespace clone_detail

extern "C" {

int
clone_core_recs_of_pid(clone_core *c, int pid, clone_rec **recs, int max)
{
	int n = 0;
	LockGuard<Spin> g(c->table_);
	ProcEntry *pe = c->find_proc_locked(pid);
	if (!pe)
		return 0;
	for (clone_rec *r = pe->recs.front(); r && n < max; r = pe->recs.next(r))
		if (try_ref(r))
			recs[n++] = r;
	return n;
}

long
clone_core_unopened(clone_core *c)
{
	return __atomic_load_n(&c->unopened_, __ATOMIC_RELAXED);
}

void
clone_core_walk_begin(clone_core *c, clone_core_walk *w)
{
	clone_rec *m = new (w->marker) clone_rec();
	m->state = MARKER;
	w->done = 0;
	LockGuard<Spin> g(c->table_);
	c->all_.push_front(m);
}

void
clone_core_walk_end(clone_core *c, clone_core_walk *w)
{
	clone_rec *m = walk_marker(w);
	{
		LockGuard<Spin> g(c->table_);
		if (m->all_node.linked())
			c->all_.remove(m);
	}
	w->done = 1;
	m->~clone_rec();
}

int
clone_core_walk_next(clone_core *c, clone_core_walk *w, clone_walk_kind kind,
    int pid, clone_rec **recs, int max)
{
	int n = 0;
	if (w->done)
		return 0;
	LockGuard<Spin> g(c->table_);
	walk_chunk_locked(c, w, [&](clone_rec *r) {
		if (n == max)
			return false;
		if (walk_matches(r, kind, pid) && try_ref(r))
			recs[n++] = r;
		return true;
	});
	return n;
}

int
clone_core_walk_listing(clone_core *c, clone_core_walk *w, char *buf, int len)
{
	Out o{buf, len, 0};
	if (w->done)
		return 0;
	LockGuard<Spin> g(c->table_);
	walk_chunk_locked(c, w, [&](clone_rec *r) {
		if (len - o.pos < CLONE_CORE_LISTING_LINE_MAX)
			return false;
		o.num(r->unit);
		o.put(' ');
		o.num(r->pid);
		o.put(' ');
		o.num(r->uid);
		o.put(' ');
		o.num(static_cast<long long>(__atomic_load_n(&r->open_calls, __ATOMIC_RELAXED)));
		o.put(' ');
		o.num(static_cast<long long>(__atomic_load_n(&r->op_calls, __ATOMIC_RELAXED)));
		o.put('\n');
		return true;
	});
	return o.pos;
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

long
clone_core_hash_chains(clone_core *c)
{
	return static_cast<long>(c->mask_) + 1;	/* fixed at create */
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
	return __atomic_compare_exchange_n(&rec->first_open_claimed, &zero, 1, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ? 1 : 0;
}

void
clone_rec_mark_driver_opened(clone_rec *rec)
{
	__atomic_store_n(&rec->driver_opened, 1, __ATOMIC_RELEASE);
	uncount_unopened(rec);
}

int
clone_rec_driver_opened(const clone_rec *rec)
{
	return static_cast<int>(load_acq(&rec->driver_opened));
}

void
clone_rec_count_open_call(clone_rec *rec)
{
	__atomic_fetch_add(&rec->open_calls, 1, __ATOMIC_RELAXED);
}

void *
clone_rec_op_call(clone_rec *rec)
{
	__atomic_store_n(&rec->op_calls,
	    __atomic_load_n(&rec->op_calls, __ATOMIC_RELAXED) + 1,
	    __ATOMIC_RELAXED);
	return rec->dev;
}

void
clone_rec_count_op_call(clone_rec *rec)
{
	/* A load and a store, not a locked add: this runs on every forwarded
	 * call.  Calls racing on one file may lose a count; none is lost
	 * from zero to non-zero (CLONE_WALK_IDLE only asks that). */
	__atomic_store_n(&rec->op_calls,
	    __atomic_load_n(&rec->op_calls, __ATOMIC_RELAXED) + 1,
	    __ATOMIC_RELAXED);
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
clone_core_stats(clone_core *c, long *live, long *created, long *destroyed,
    long refused[CLONE_REFUSED_COUNT])
{
	LockGuard<Spin> g(c->table_);
	*live = c->nrecs_;
	*created = c->created_;
	*destroyed = c->destroyed_;
	for (int i = 0; i < CLONE_REFUSED_COUNT; i++)
		refused[i] = c->refused_[i];
}

long
clone_core_record_bytes(void)
{
	return static_cast<long>(sizeof(clone_rec));
}

} // extern "C"
