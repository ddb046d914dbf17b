/*
 * kern_proc.c - processes, threads, credentials and signals; fork
 * (kern/kern_fork.c: fd table copied, then at_fork hooks), exit
 * (kern/kern_exit.c exit1: at_exit hooks run BEFORE the descriptors are
 * closed), kill/CURSIG; user memory (copyin/copyout/copyinstr/uiomove
 * against the process's registered ranges or its hk_uspace_ops: EFAULT
 * outside, never a crash).
 *
 * Locking: proc_mtx guards the process table and pid allocation; each
 * process's mtx guards its state, in_kernel count, fd table and user
 * ranges; hooks_mtx serialises at_exit/at_fork list writers only: exit1
 * and fork walk the lists with no lock, as 5.8.1 does (see "exit_list").
 */
#include "hk_impl.h"

#include <sys/usched.h>

#include <signal.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct hk_proc hk_proc0;
static struct ucred cred0;
static pthread_mutex_t proc_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct hk_proc *allproc;
static pid_t next_pid;

struct hk_thread {
	struct thread	td;
	struct lwp	lwp;
};

struct hk_proc *
hk_proc_of(struct proc *p)
{
	return ((struct hk_proc *)p);
}

/* ------------------------------------------------------------------------ */
/* Credentials                                                              */

struct ucred *
crhold(struct ucred *cr)
{
	if (cr != NOCRED && cr != FSCRED)
		__atomic_fetch_add(&cr->cr_ref, 1, __ATOMIC_SEQ_CST);
	return (cr);
}

void
crfree(struct ucred *cr)
{
	if (cr == NOCRED || cr == FSCRED || cr == &cred0)
		return;
	if (__atomic_sub_fetch(&cr->cr_ref, 1, __ATOMIC_SEQ_CST) == 0)
		free(cr);
}

static struct ucred *
crnew(uid_t uid, gid_t gid)
{
	struct ucred *cr = calloc(1, sizeof(*cr));

	cr->cr_ref = 1;
	cr->cr_uid = cr->cr_ruid = cr->cr_svuid = uid;
	cr->cr_ngroups = 1;
	cr->cr_groups[0] = cr->cr_rgid = cr->cr_svgid = gid;
	return (cr);
}

/* ------------------------------------------------------------------------ */
/* Process table                                                            */

static void
proc_init(struct hk_proc *p, struct ucred *cr, pid_t pid)
{
	pthread_mutex_init(&p->mtx, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->p.p_pid = pid;
	p->p.p_ucred = cr;
	p->cred = cr;
	p->p.p_hk = p;
	p->state = HK_PS_ALIVE;
	p->refs = 1;		/* the process table */
	snprintf(p->p.p_comm, sizeof(p->p.p_comm), "proc%d", (int)pid);
	p->p.p_usched = &hk_usched;
	if (pid != 0)
		p->p.p_vmspace = hk_vmspace_new(p);
}

void
hk_proc_boot(void)
{
	memset(&hk_proc0, 0, sizeof(hk_proc0));
	memset(&cred0, 0, sizeof(cred0));
	cred0.cr_ref = 1;
	cred0.cr_ngroups = 1;
	proc_init(&hk_proc0, &cred0, 0);
	strlcpy(hk_proc0.p.p_comm, "swapper", sizeof(hk_proc0.p.p_comm));
	pthread_mutex_lock(&proc_mtx);
	allproc = NULL;
	next_pid = 100;
	pthread_mutex_unlock(&proc_mtx);
}

static void
proc_free(struct hk_proc *p)
{
	hk_vmspace_exit(p);	/* a process that never went through exit1 */
	free(p->fds);
	free(p->ranges);
	crfree(p->cred);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mtx);
	free(p);
}

static void
proc_rele(struct hk_proc *p)
{
	int last;

	pthread_mutex_lock(&p->mtx);
	last = --p->refs == 0;
	pthread_mutex_unlock(&p->mtx);
	if (last)
		proc_free(p);
}

static struct hk_proc *
proc_new(struct ucred *cr, struct proc *parent)
{
	struct hk_proc *p = calloc(1, sizeof(*p));

	pthread_mutex_lock(&proc_mtx);
	proc_init(p, cr, next_pid++);
	p->p.p_pptr = parent;
	p->next = allproc;
	allproc = p;
	pthread_mutex_unlock(&proc_mtx);
	return (p);
}

int
hk_proc_create(uid_t uid, gid_t gid, struct hk_proc **pp)
{
	if (!hk_booted)
		return (ENXIO);
	*pp = proc_new(crnew(uid, gid), NULL);
	return (0);
}

pid_t
hk_proc_pid(struct hk_proc *p)
{
	return (p->p.p_pid);
}

struct hk_proc *
hk_proc_find(pid_t pid)
{
	struct hk_proc *p;

	pthread_mutex_lock(&proc_mtx);
	for (p = allproc; p != NULL; p = p->next)
		if (p->p.p_pid == pid)
			break;
	pthread_mutex_unlock(&proc_mtx);
	return (p);
}

/* kern_proc.c pfind: the process, held (PRELE when done), or NULL. */
struct proc *
pfind(pid_t pid)
{
	struct hk_proc *p;

	pthread_mutex_lock(&proc_mtx);
	for (p = allproc; p != NULL; p = p->next)
		if (p->p.p_pid == pid)
			break;
	if (p != NULL) {
		pthread_mutex_lock(&p->mtx);
		p->refs++;
		pthread_mutex_unlock(&p->mtx);
	}
	pthread_mutex_unlock(&proc_mtx);
	return (p ? &p->p : NULL);
}

void
PHOLD(struct proc *pp)
{
	struct hk_proc *p = hk_proc_of(pp);

	pthread_mutex_lock(&p->mtx);
	p->refs++;
	pthread_mutex_unlock(&p->mtx);
}

void
PRELE(struct proc *pp)
{
	proc_rele(hk_proc_of(pp));
}

/* ------------------------------------------------------------------------ */
/* Threads                                                                  */

static struct thread *
thread_new(struct hk_proc *p)
{
	struct hk_thread *ht = calloc(1, sizeof(*ht));
	static volatile int next_tid = 1;

	ht->td.td_proc = &p->p;
	ht->td.td_lwp = &ht->lwp;
	ht->td.td_ucred = p->cred;
	ht->td.td_gd = &hk_tls()->gd;
	ht->td.td_hk = ht;
	strlcpy(ht->td.td_comm, p->p.p_comm, sizeof(ht->td.td_comm));
	ht->lwp.lwp_proc = &p->p;
	ht->lwp.lwp_thread = &ht->td;
	ht->lwp.lwp_tid = __atomic_fetch_add(&next_tid, 1, __ATOMIC_SEQ_CST);
	ht->lwp.lwp_vmspace = p->p.p_vmspace;
	/* As userenter() leaves a thread that entered the kernel. */
	ht->td.td_release = lwkt_passive_release;
	ht->td.td_pri = TDPRI_USER_NORM;
	return (&ht->td);
}

int
hk_thread_enter(struct hk_proc *p)
{
	struct hk_tls *t = hk_tls();

	if (t->bound != NULL)
		HK_ABORT("hk_thread_enter: this OS thread is already bound "
		    "(pid %d)", (int)t->bound->td_proc->p_pid);
	pthread_mutex_lock(&p->mtx);
	if (p->state != HK_PS_ALIVE) {
		pthread_mutex_unlock(&p->mtx);
		return (ESRCH);
	}
	p->refs++;
	p->nthreads++;
	pthread_mutex_unlock(&p->mtx);
	t->bound = thread_new(p);
	return (0);
}

void
hk_thread_leave(void)
{
	struct hk_tls *t = hk_tls();
	struct thread *td = t->bound;
	struct hk_proc *p;

	if (td == NULL)
		return;
	p = hk_proc_of(td->td_proc);
	t->bound = NULL;
	free(td->td_hk);
	pthread_mutex_lock(&p->mtx);
	p->nthreads--;
	pthread_mutex_unlock(&p->mtx);
	proc_rele(p);
}

struct hk_proc *
hk_curproc(void)
{
	struct hk_tls *t = hk_tls();

	return (t->bound ? hk_proc_of(t->bound->td_proc) : NULL);
}

/* ------------------------------------------------------------------------ */
/* Syscall entry and exit                                                   */

static void exit1(struct hk_proc *p);

int
hk_sys_enter(struct hk_proc **pp)
{
	struct hk_tls *t = hk_tls();
	struct hk_proc *p;

	if (!hk_booted)
		HK_ABORT("syscall before hk_boot");
	if (t->bound == NULL)
		HK_ABORT("syscall from an OS thread not bound to a host-kernel "
		    "process (hk_thread_enter first)");
	p = hk_proc_of(t->bound->td_proc);
	pthread_mutex_lock(&p->mtx);
	if (p->state != HK_PS_ALIVE) {
		/* The process is exiting or gone: its threads are dying. */
		pthread_mutex_unlock(&p->mtx);
		return (EINTR);
	}
	p->in_kernel++;
	pthread_mutex_unlock(&p->mtx);
	if (t->sys_depth++ == 0)
		hk_syscall_mark(&t->sys_mark);
	*pp = p;
	return (0);
}

void
hk_sys_leave(struct hk_proc *p)
{
	struct hk_tls *t = hk_tls();
	int doexit;

	if (--t->sys_depth == 0)
		hk_syscall_check(&t->sys_mark, "syscall");

	pthread_mutex_lock(&p->mtx);
	p->in_kernel--;
	doexit = p->in_kernel == 0 && p->state == HK_PS_ALIVE &&
	    (p->sigpending & (1ULL << (SIGKILL - 1)));
	if (doexit)
		p->state = HK_PS_EXITING;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mtx);
	if (doexit)
		exit1(p);
}

/* ------------------------------------------------------------------------ */
/* at_exit / at_fork (kern/kern_exit.c, kern/kern_fork.c)                   */

/*
 * 5.8.1 kern_exit.c exit_list and kern_fork.c fork_list, as DragonFly has
 * them: at_exit/at_fork append at the tail (after removing a duplicate, as
 * the INVARIANTS kernel does), rm_at_exit/rm_at_fork unlink the first
 * matching entry and kfree it at once, and exit1/fork1 walk the list with
 * no lock at all, loading an entry's next link only after its function
 * returned (TAILQ_FOREACH).  So an entry freed while a walker is inside or
 * just before it is a real use after free here too: ASan reports it, and
 * a plain build follows kfree's 0xdeadc0de poison into a fault, as 5.8's
 * exit1 did.  The links are read and written with relaxed/acquire/release
 * atomics so TSan sees no race in the walk itself, only with the kfree.
 * hooks_mtx serialises the writers with each other only (on 5.8 they run
 * under kld_lock, from MOD_LOAD/MOD_UNLOAD); walkers never take it.
 */
struct hook {
	struct hook	*next;
	void		*fn;
};
struct hook_list {
	struct hook	*first;
};
static pthread_mutex_t hooks_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct hook_list exit_hooks, fork_hooks;

static int
hook_rm(struct hook_list *list, void *fn)
{
	struct hook **pp, *h;

	pthread_mutex_lock(&hooks_mtx);
	for (pp = &list->first; (h = *pp) != NULL; pp = &h->next) {
		if (__atomic_load_n(&h->fn, __ATOMIC_RELAXED) == fn) {
			__atomic_store_n(pp, __atomic_load_n(&h->next,
			    __ATOMIC_RELAXED), __ATOMIC_RELEASE);
			pthread_mutex_unlock(&hooks_mtx);
			kfree(h, M_ATEXIT);	/* under any walker on it */
			return (1);
		}
	}
	pthread_mutex_unlock(&hooks_mtx);
	return (0);
}

static int
hook_add(struct hook_list *list, void *fn, const char *what)
{
	struct hook **pp, *h;

	if (hook_rm(list, fn))
		kprintf("WARNING: %s callout entry (%p) already present\n",
		    what, fn);
	h = kmalloc(sizeof(*h), M_ATEXIT, M_NOWAIT);
	if (h == NULL)
		return (ENOMEM);
	__atomic_store_n(&h->fn, fn, __ATOMIC_RELAXED);
	__atomic_store_n(&h->next, NULL, __ATOMIC_RELAXED);
	pthread_mutex_lock(&hooks_mtx);
	for (pp = &list->first; *pp != NULL; pp = &(*pp)->next)
		;
	__atomic_store_n(pp, h, __ATOMIC_RELEASE);	/* TAILQ_INSERT_TAIL */
	pthread_mutex_unlock(&hooks_mtx);
	return (0);
}

int
at_exit(exitlist_fn function)
{
	return (hook_add(&exit_hooks, (void *)function, "exit"));
}

int
rm_at_exit(exitlist_fn function)
{
	return (hook_rm(&exit_hooks, (void *)function));
}

int
at_fork(forklist_fn function)
{
	return (hook_add(&fork_hooks, (void *)function, "fork"));
}

int
rm_at_fork(forklist_fn function)
{
	return (hook_rm(&fork_hooks, (void *)function));
}

/*
 * TAILQ_FOREACH(ep, &exit_list, next) (*ep->function)(td): no lock; the
 * entry's function and next link are loaded from the entry itself, the
 * link after the call.
 */
static void (*volatile exit_walk_pause)(void *fn);

void
hk_set_exit_walk_pause(void (*pause)(void *fn))
{
	exit_walk_pause = pause;
}

static void
hooks_walk_exit(struct thread *td)
{
	struct hook *h;
	void (*pause)(void *);

	for (h = __atomic_load_n(&exit_hooks.first, __ATOMIC_ACQUIRE);
	    h != NULL; h = __atomic_load_n(&h->next, __ATOMIC_ACQUIRE)) {
		/* Tests: the walker holds the entry and has not yet loaded
		 * its function (where a descheduled CPU would stall). */
		if ((pause = exit_walk_pause) != NULL)
			pause(__atomic_load_n(&h->fn, __ATOMIC_RELAXED));
		((exitlist_fn)__atomic_load_n(&h->fn, __ATOMIC_RELAXED))(td);
	}
}

static void
hooks_walk_fork(struct proc *p1, struct proc *p2, int flags)
{
	struct hook *h;

	for (h = __atomic_load_n(&fork_hooks.first, __ATOMIC_ACQUIRE);
	    h != NULL; h = __atomic_load_n(&h->next, __ATOMIC_ACQUIRE))
		((forklist_fn)__atomic_load_n(&h->fn, __ATOMIC_RELAXED))(p1,
		    p2, flags);
}

void
hk_exit_hooks_check_module(void *base, const char *name)
{
	struct hook *h;
	int lists;

	pthread_mutex_lock(&hooks_mtx);
	for (lists = 0; lists < 2; lists++) {
		for (h = lists ? fork_hooks.first : exit_hooks.first; h;
		    h = h->next) {
			if (hk_addr_module_base(h->fn) == base)
				hk_report("kldunload %s: %s hook %p still "
				    "registered into the unloaded module", name,
				    lists ? "at_fork" : "at_exit", h->fn);
		}
	}
	pthread_mutex_unlock(&hooks_mtx);
}

/* ------------------------------------------------------------------------ */
/* fork, exit, kill                                                         */

int
hk_fork(struct hk_proc **childp)
{
	struct hk_proc *p, *c;
	int error;

	if ((error = hk_sys_enter(&p)) != 0)
		return (error);
	c = proc_new(crhold(p->cred), &p->p);
	pthread_mutex_lock(&p->mtx);
	if (p->nranges) {
		c->ranges = calloc(p->nranges, sizeof(*c->ranges));
		memcpy(c->ranges, p->ranges, p->nranges * sizeof(*c->ranges));
		c->nranges = p->nranges;
	}
	c->has_uops = p->has_uops;
	c->uops = p->uops;
	pthread_mutex_unlock(&p->mtx);
	hk_fdcopy(p, c);
	/* kern_fork.c: the fork hooks run after the fd table is copied. */
	hooks_walk_fork(&p->p, &c->p, RFFDG | RFPROC);
	*childp = c;
	hk_sys_leave(p);
	return (0);
}

/*
 * kern_exit.c exit1 from the point every other thread has left the kernel:
 * at_exit hooks (curthread a thread of p), then fdfree, then the process
 * leaves the table.  p->state is HK_PS_EXITING.
 */
static void
exit1(struct hk_proc *p)
{
	struct hk_tls *t = hk_tls();
	struct thread *saved = t->bound, *td = NULL;
	struct hk_sysmark mark;
	struct hk_proc **pp;

	if (saved == NULL || saved->td_proc != &p->p) {
		td = thread_new(p);
		t->bound = td;
	}
	/* kern_exit.c sets P_POSTEXIT just before it walks exit_list. */
	pthread_mutex_lock(&proc_mtx);
	p->p.p_flags |= P_POSTEXIT;
	pthread_mutex_unlock(&proc_mtx);
	hk_syscall_mark(&mark);
	hooks_walk_exit(curthread);
	/* exit1 goes on to lwkt_switch, which panics with a spinlock held. */
	hk_syscall_check(&mark, "exit1 (after the at_exit hooks)");
	hk_fdfree(p);
	hk_vmspace_exit(p);
	if (td != NULL) {
		t->bound = saved;
		free(td->td_hk);
	}
	pthread_mutex_lock(&proc_mtx);
	for (pp = &allproc; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	pthread_mutex_unlock(&proc_mtx);
	pthread_mutex_lock(&p->mtx);
	p->state = HK_PS_DEAD;
	p->p.p_flags |= P_WEXIT;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mtx);
	proc_rele(p);		/* the table's reference */
}

/*
 * kern_proc.c allproc_scan: every process still on allproc (exit1 takes it
 * off after its at_exit walk and fdfree), under the table lock.
 */
void
allproc_scan(int (*callback)(struct proc *, void *), void *data,
    int segmented)
{
	struct hk_proc *p;

	(void)segmented;
	pthread_mutex_lock(&proc_mtx);
	for (p = allproc; p != NULL; p = p->next)
		if (callback(&p->p, data) < 0)
			break;
	pthread_mutex_unlock(&proc_mtx);
}

int
hk_proc_exit(struct hk_proc *p, int status)
{
	struct hk_tls *t = hk_tls();
	int self;

	pthread_mutex_lock(&p->mtx);
	if (p->state != HK_PS_ALIVE) {
		pthread_mutex_unlock(&p->mtx);
		return (ESRCH);
	}
	p->state = HK_PS_EXITING;
	p->exit_status = status;
	p->refs++;
	self = t->bound != NULL && t->bound->td_proc == &p->p;
	pthread_mutex_unlock(&p->mtx);
	hk_sleep_wakeall();
	pthread_mutex_lock(&p->mtx);
	while (p->in_kernel > 0)
		pthread_cond_wait(&p->cv, &p->mtx);
	pthread_mutex_unlock(&p->mtx);
	(void)self;
	exit1(p);
	proc_rele(p);
	return (0);
}

int
hk_kill(struct hk_proc *p, int sig)
{
	int doexit = 0;

	if (sig <= 0 || sig > 64)
		return (EINVAL);
	pthread_mutex_lock(&p->mtx);
	if (p->state != HK_PS_ALIVE) {
		pthread_mutex_unlock(&p->mtx);
		return (ESRCH);
	}
	__atomic_fetch_or(&p->sigpending, 1ULL << (sig - 1), __ATOMIC_SEQ_CST);
	if (sig == SIGKILL && p->in_kernel == 0) {
		p->state = HK_PS_EXITING;
		p->refs++;
		doexit = 1;
	}
	pthread_mutex_unlock(&p->mtx);
	hk_sleep_wakeall();
	if (doexit) {
		exit1(p);
		proc_rele(p);
	}
	return (0);
}

int
hk_sig_clear(struct hk_proc *p, int sig)
{
	if (sig <= 0 || sig > 64)
		return (EINVAL);
	__atomic_fetch_and(&p->sigpending, ~(1ULL << (sig - 1)),
	    __ATOMIC_SEQ_CST);
	return (0);
}

/* kern_sig.c __cursig without stops and traces: lowest pending signal. */
int
hk_cursig(struct lwp *lp)
{
	struct hk_proc *p;
	uint64_t pend;
	int sig;

	if (lp == NULL || lp->lwp_proc == NULL)
		return (0);
	p = hk_proc_of(lp->lwp_proc);
	pend = __atomic_load_n(&p->sigpending, __ATOMIC_SEQ_CST);
	for (sig = 1; sig <= 64; sig++) {
		if ((pend & (1ULL << (sig - 1))) &&
		    !sigismember(&lp->lwp_sigmask, sig))
			return (sig);
	}
	return (0);
}

/* Exit every process; returns how many could not be reaped. */
int
hk_proc_shutdown(void)
{
	struct hk_proc *p;
	int n = 0, guard;

	for (guard = 0; guard < 100000; guard++) {
		pthread_mutex_lock(&proc_mtx);
		for (p = allproc; p != NULL; p = p->next) {
			if (__atomic_load_n(&p->state, __ATOMIC_SEQ_CST) ==
			    HK_PS_ALIVE)
				break;
		}
		if (p != NULL) {
			pthread_mutex_lock(&p->mtx);
			p->refs++;
			pthread_mutex_unlock(&p->mtx);
		}
		pthread_mutex_unlock(&proc_mtx);
		if (p == NULL)
			break;
		hk_proc_exit(p, 0);
		proc_rele(p);
	}
	pthread_mutex_lock(&proc_mtx);
	for (p = allproc; p != NULL; p = p->next)
		n++;
	pthread_mutex_unlock(&proc_mtx);
	return (n);
}

/* ------------------------------------------------------------------------ */
/* User memory                                                              */

int
hk_proc_map_user(struct hk_proc *p, const void *addr, size_t len, int writable)
{
	struct hk_urange *r;

	pthread_mutex_lock(&p->mtx);
	r = realloc(p->ranges, (p->nranges + 1) * sizeof(*r));
	p->ranges = r;
	r[p->nranges].start = (uintptr_t)addr;
	r[p->nranges].len = len;
	r[p->nranges].writable = writable;
	r[p->nranges].shared = 0;
	p->nranges++;
	pthread_mutex_unlock(&p->mtx);
	return (0);
}

int
hk_proc_unmap_user(struct hk_proc *p, const void *addr)
{
	int i, error = ENOENT;

	pthread_mutex_lock(&p->mtx);
	for (i = 0; i < p->nranges; i++) {
		if (p->ranges[i].start == (uintptr_t)addr) {
			p->ranges[i] = p->ranges[--p->nranges];
			error = 0;
			break;
		}
	}
	pthread_mutex_unlock(&p->mtx);
	return (error);
}

int
hk_proc_set_uspace(struct hk_proc *p, const struct hk_uspace_ops *ops)
{
	pthread_mutex_lock(&p->mtx);
	if (ops != NULL) {
		p->uops = *ops;
		p->has_uops = 1;
	} else {
		p->has_uops = 0;
	}
	pthread_mutex_unlock(&p->mtx);
	return (0);
}

/* Is [uaddr, uaddr+len) user memory of the current process? */
static int
user_ok(struct hk_proc *p, uintptr_t uaddr, size_t len, int write)
{
	int i, ok = 0;

	if (uaddr + len < uaddr)
		return (0);
	pthread_mutex_lock(&p->mtx);
	for (i = 0; i < p->nranges; i++) {
		struct hk_urange *r = &p->ranges[i];
		if (uaddr >= r->start && uaddr + len <= r->start + r->len &&
		    (!write || r->writable)) {
			ok = 1;
			break;
		}
	}
	pthread_mutex_unlock(&p->mtx);
	return (ok);
}

int
hk_proc_share_user(struct hk_proc *p, const void *addr, int shared)
{
	int i, error = ENOENT;

	pthread_mutex_lock(&p->mtx);
	for (i = 0; i < p->nranges; i++) {
		if (p->ranges[i].start == (uintptr_t)addr) {
			p->ranges[i].shared = shared;
			error = 0;
			break;
		}
	}
	pthread_mutex_unlock(&p->mtx);
	return (error);
}

int
hk_user_range_find(struct hk_proc *p, uintptr_t uaddr, uintptr_t *startp,
    size_t *lenp, int *sharedp)
{
	int i, error = ENOENT;

	pthread_mutex_lock(&p->mtx);
	for (i = 0; i < p->nranges; i++) {
		struct hk_urange *r = &p->ranges[i];
		if (uaddr >= r->start && uaddr < r->start + r->len) {
			*startp = r->start;
			*lenp = r->len;
			*sharedp = r->shared;
			error = 0;
			break;
		}
	}
	pthread_mutex_unlock(&p->mtx);
	return (error);
}

int
hk_user_range_ok(struct hk_proc *p, uintptr_t uaddr, size_t len, int write)
{
	int has;

	pthread_mutex_lock(&p->mtx);
	has = p->has_uops;
	pthread_mutex_unlock(&p->mtx);
	return (!has && user_ok(p, uaddr, len, write));
}

static struct hk_proc *
user_proc(void)
{
	struct thread *td = curthread;

	if (td->td_proc == NULL || td->td_proc == &hk_proc0.p)
		return (NULL);
	return (hk_proc_of(td->td_proc));
}

int
copyin(const void *udaddr, void *kaddr, size_t len)
{
	struct hk_proc *p = user_proc();
	struct hk_uspace_ops ops;
	int has;

	if (len == 0)
		return (0);
	hk_assert_sleepable("copyin (a fault under a spinlock panics 5.8)");
	if (p == NULL || udaddr == NULL)
		return (EFAULT);
	pthread_mutex_lock(&p->mtx);
	has = p->has_uops;
	ops = p->uops;
	pthread_mutex_unlock(&p->mtx);
	if (has)
		return (ops.read(ops.ctx, (uintptr_t)udaddr, kaddr, len) ?
		    EFAULT : 0);
	if (!user_ok(p, (uintptr_t)udaddr, len, 0))
		return (EFAULT);
	memcpy(kaddr, udaddr, len);
	return (0);
}

int
copyout(const void *kaddr, void *udaddr, size_t len)
{
	struct hk_proc *p = user_proc();
	struct hk_uspace_ops ops;
	int has;

	if (len == 0)
		return (0);
	hk_assert_sleepable("copyout (a fault under a spinlock panics 5.8)");
	if (p == NULL || udaddr == NULL)
		return (EFAULT);
	pthread_mutex_lock(&p->mtx);
	has = p->has_uops;
	ops = p->uops;
	pthread_mutex_unlock(&p->mtx);
	if (has)
		return (ops.write(ops.ctx, (uintptr_t)udaddr, kaddr, len) ?
		    EFAULT : 0);
	if (!user_ok(p, (uintptr_t)udaddr, len, 1))
		return (EFAULT);
	memcpy(udaddr, kaddr, len);
	return (0);
}

int
copyin_nofault(const void *udaddr, void *kaddr, size_t len)
{
	return (copyin(udaddr, kaddr, len));
}

int
copyout_nofault(const void *kaddr, void *udaddr, size_t len)
{
	return (copyout(kaddr, udaddr, len));
}

int
copyinstr(const void *udaddr, void *kaddr, size_t len, size_t *lencopied)
{
	const char *u = udaddr;
	char *k = kaddr;
	size_t i;
	int error;

	for (i = 0; i < len; i++) {
		if ((error = copyin(u + i, k + i, 1)) != 0)
			return (error);
		if (k[i] == '\0') {
			if (lencopied)
				*lencopied = i + 1;
			return (0);
		}
	}
	if (lencopied)
		*lencopied = len;
	return (ENAMETOOLONG);
}

/* kern/kern_subr.c uiomove */
int
uiomove(caddr_t cp, size_t n, struct uio *uio)
{
	struct iovec *iov;
	size_t cnt;
	int error = 0;

	KASSERT(uio->uio_rw == UIO_READ || uio->uio_rw == UIO_WRITE,
	    ("uiomove: mode"));
	if (uio->uio_segflg == UIO_USERSPACE && n > 0 && uio->uio_resid > 0)
		hk_assert_sleepable("uiomove (a fault under a spinlock panics "
		    "5.8)");
	while (n > 0 && uio->uio_resid) {
		iov = uio->uio_iov;
		cnt = iov->iov_len;
		if (cnt == 0) {
			uio->uio_iov++;
			uio->uio_iovcnt--;
			continue;
		}
		if (cnt > n)
			cnt = n;
		switch (uio->uio_segflg) {
		case UIO_USERSPACE:
			if (uio->uio_rw == UIO_READ)
				error = copyout(cp, iov->iov_base, cnt);
			else
				error = copyin(iov->iov_base, cp, cnt);
			break;
		case UIO_SYSSPACE:
			if (uio->uio_rw == UIO_READ)
				bcopy(cp, iov->iov_base, cnt);
			else
				bcopy(iov->iov_base, cp, cnt);
			break;
		case UIO_NOCOPY:
			break;
		}
		if (error)
			break;
		iov->iov_base = (char *)iov->iov_base + cnt;
		iov->iov_len -= cnt;
		uio->uio_resid -= cnt;
		uio->uio_offset += cnt;
		cp += cnt;
		n -= cnt;
	}
	return (error);
}

int
uiomovez(size_t n, struct uio *uio)
{
	static const char zeroes[256];
	int error = 0;

	while (n > 0 && uio->uio_resid && error == 0) {
		size_t c = n < sizeof(zeroes) ? n : sizeof(zeroes);
		error = uiomove(__DECONST(caddr_t, zeroes), c, uio);
		n -= c;
	}
	return (error);
}
