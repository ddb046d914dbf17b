/*
 * clone_core_query.cc - what the shim's glue reads from the core: the keys
 * to reap (exit, last close, orphans), the detach gate, the record
 * accessors, the statistics and the listing.
 *
 * Owns: nothing beyond the core's state (clone_core_impl.h).
 *
 * Locking: the key walks, the detach flag, the statistics and the listing
 * take the table lock; the accessors read a record the caller holds a
 * reference on (constant fields, or atomics).
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

extern "C" {

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
		if (load_acq(&r->state) == LIVE && load_acq(&r->driver_opened) == 0) {
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
		    (r->pid == pid || __atomic_load_n(&r->op_calls, __ATOMIC_RELAXED) != 0))
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
	return __atomic_compare_exchange_n(&rec->first_open_claimed, &zero, 1, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ? 1 : 0;
}

void
clone_rec_mark_driver_opened(clone_rec *rec)
{
	__atomic_store_n(&rec->driver_opened, 1, __ATOMIC_RELEASE);
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

void
clone_rec_count_op_call(clone_rec *rec)
{
	__atomic_fetch_add(&rec->op_calls, 1, __ATOMIC_RELAXED);
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
			o.num(static_cast<long long>(__atomic_load_n(&r->open_calls, __ATOMIC_RELAXED)));
			o.put(' ');
			o.num(static_cast<long long>(__atomic_load_n(&r->op_calls, __ATOMIC_RELAXED)));
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
