/*
 * kern_linker.c - the kernel linker and modules (kern/kern_linker.c,
 * kern/kern_module.c) on dlopen:
 *   - hk_kldload(NAME) dlopens MODULE_DIR/NAME.so; the shadow DATA_SET
 *     constructors hand its linker sets (sysinit_set, sysuninit_set,
 *     sysctl_set, modmetadata_set) to the file being loaded;
 *   - then, as linker_load_file does: dependencies (MODULE_DEPEND loads the
 *     dependency first and holds a reference on its file), module
 *     registration (EEXIST), sysctl registration, SYSINITs sorted by
 *     subsystem and order (MALLOC_DEFINE, TUNABLE_*, DECLARE_MODULE's
 *     MOD_LOAD);
 *   - reference rules of sys_kldunload/linker_file_unload: kldunload needs
 *     a user reference (else EBUSY); a file with more than one reference
 *     only loses one and kldunload returns 0 with the file still loaded; a
 *     module whose MOD_UNLOAD vetoes still loses a reference; a loaded
 *     file's name loads again only as EEXIST;
 *   - MOD_LOAD failure, as 5.8.1 has it: kern_module.c
 *     module_register_init (a SYSINIT, returning void) sends MOD_UNLOAD
 *     and releases the module; linker_load_file goes on, the file stays
 *     loaded (its sysctls and other SYSINITs' work included) and kldload
 *     returns 0.  hk_modfind tells whether the module registered.
 *   - at unload, after SYSUNINITs, anything still pointing into the file
 *     (a live cdev's ops, a clone handler, an exit/fork hook) is reported;
 *     then the linker waits (at most 2 s) for threads that dev_d* sent
 *     into the file's code, as DragonFly's non-preempted kernel threads
 *     are through before an unload can be (see "Dispatches into module
 *     text" below), reports a thread still there and leaves the file
 *     mapped, else dlclose really unmaps the code.
 *
 * Locking: kld_lock (lockmgr) serialises load and unload; mod_mtx guards
 * the file and module lists (never held across a call into a module); the
 * dispatch slots are lock-free (one writer each, see below).
 */
#include "hk_impl.h"

#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *hk_module_dir(void);

struct set_entry {
	const char	*set;
	void		*entry;
};

struct module {
	struct linker_file *file;
	const moduledata_t *data;
	char		*name;
	int		id;
	int		load_error;
	modspecific_t	specific;
	struct module	*next;		/* all modules */
};

struct modlist {
	char		*name;
	int		version;
	struct linker_file *container;
	struct modlist	*next;
};

struct linker_file {
	char		*filename;	/* "kqemu" */
	int		id;
	int		refs;
	int		userrefs;
	int		linked;
	void		*handle;
	uintptr_t	lo, hi;		/* mapped range */
	struct set_entry *sets;
	int		nsets;
	struct linker_file **deps;
	int		ndeps;
	struct linker_file *next;
};

/*
 * Dispatches into module text.  dev_d* (kern_device.c) load a function
 * pointer from si_ops and call it; DragonFly runs those few instructions
 * and the callee's first statements on a CPU without switching away (an
 * LWKT kernel thread is preempted only by an interrupt thread, which
 * switches back to it, and blocks only when it sleeps), so a module's own
 * in-flight count, taken by the callee's first statement, covers the
 * thread before the module's unload can have restored si_ops, drained and
 * returned.  A host thread can lose its CPU anywhere, for milliseconds.
 * So each OS thread publishes what it dispatches into: HK_DISPATCH_PENDING
 * from before its si_ops load until the callee is known, then the callee,
 * until the call returns (a stack: a callee may dispatch again).  Before
 * dlclose the linker notes the dispatches pending or in a call into the
 * file, and waits, bounded, until each has resolved elsewhere or returned
 * (a dispatch begun after that note loads the restored ops: the
 * generation of each entry tells a new dispatch from the one noted); a
 * thread still there after the bound is reported
 * (on DragonFly, sleeping in a module's code or returning into it when
 * the text is freed is a crash) and the file is left mapped so the
 * report, not a segfault, is what the test sees.
 *
 * The host cannot see the callee's first statement nor a tail call out of
 * the module, so the wait covers the whole call.  That is more lenient
 * than DragonFly for a module with no in-flight count of its own whose
 * call, entered before the unload, returns within the bound; such a call
 * is a bug the module's own tests must show (check_dangling catches the
 * usual sign: a live cdev still using the module's ops).
 *
 * Each slot is written only by its thread (depth is private to it); the
 * linker reads fn[] with sequentially consistent loads: either it sees a
 * thread's PENDING or fn, or that thread's si_ops load came after the
 * unload's restore (store-buffer pattern, both sides SC).
 */
#define HK_DISPATCH_THREADS	256	/* as kern_core.c's OS thread slots */
#define HK_DISPATCH_DEPTH	8
#define HK_DISPATCH_WAIT_MS	2000
#define HK_DISPATCH_PENDING	((const void *)1)

struct dispatch_slot {
	const void	*fn[HK_DISPATCH_DEPTH];	/* atomic; NULL: unused */
	unsigned long	gen[HK_DISPATCH_DEPTH];	/* atomic; one per dispatch */
	int		depth;			/* the owner's only */
} __attribute__((__aligned__(64)));
static struct dispatch_slot dispatch[HK_DISPATCH_THREADS];
static int dispatch_hiwater;		/* slots ever used (atomic max) */
static int dispatch_wait_ms = HK_DISPATCH_WAIT_MS;
static void (*dispatch_pause)(const void *fn);	/* atomic */

const void **
hk_dispatch_begin(void)
{
	int id = hk_tls()->gd.gd_cpuid, hw;
	struct dispatch_slot *ds;
	const void **e;

	if (id >= HK_DISPATCH_THREADS)
		HK_ABORT("dispatch: OS thread slot %d out of range", id);
	ds = &dispatch[id];
	if (ds->depth == HK_DISPATCH_DEPTH)
		HK_ABORT("dispatch: more than %d nested device calls",
		    HK_DISPATCH_DEPTH);
	hw = __atomic_load_n(&dispatch_hiwater, __ATOMIC_RELAXED);
	while (hw <= id && !__atomic_compare_exchange_n(&dispatch_hiwater,
	    &hw, id + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		;
	/* The generation before PENDING: a reader that sees this PENDING
	 * sees the new generation too. */
	__atomic_store_n(&ds->gen[ds->depth], ds->gen[ds->depth] + 1,
	    __ATOMIC_RELAXED);
	e = &ds->fn[ds->depth++];
	__atomic_store_n(e, HK_DISPATCH_PENDING, __ATOMIC_SEQ_CST);
	return (e);
}

void
hk_dispatch_callee(const void **e, const void *fn)
{
	void (*pause)(const void *);

	__atomic_store_n(e, fn, __ATOMIC_SEQ_CST);
	/* A test's stand-in for an interrupt taken right here. */
	if ((pause = __atomic_load_n(&dispatch_pause, __ATOMIC_ACQUIRE)) !=
	    NULL)
		pause(fn);
}

void
hk_dispatch_end(const void **e)
{
	__atomic_store_n(e, NULL, __ATOMIC_RELEASE);
	dispatch[hk_tls()->gd.gd_cpuid].depth--;
}

void
hk_set_dispatch_pause(void (*pause)(const void *fn))
{
	__atomic_store_n(&dispatch_pause, pause, __ATOMIC_RELEASE);
}

void
hk_set_unload_drain_ms(int ms)
{
	__atomic_store_n(&dispatch_wait_ms, ms > 0 ? ms : HK_DISPATCH_WAIT_MS,
	    __ATOMIC_RELAXED);
}

struct dispatch_note {
	int		slot, depth;
	unsigned long	gen;
};

/* Is entry (slot, d) pending or in a call into [lo, hi)?  Its gen too. */
static int
dispatch_entry_busy(int slot, int d, uintptr_t lo, uintptr_t hi,
    unsigned long *genp, uintptr_t *ap)
{
	uintptr_t a = (uintptr_t)__atomic_load_n(&dispatch[slot].fn[d],
	    __ATOMIC_SEQ_CST);

	*genp = __atomic_load_n(&dispatch[slot].gen[d], __ATOMIC_SEQ_CST);
	*ap = a;
	return (a == (uintptr_t)HK_DISPATCH_PENDING || (a >= lo && a < hi));
}

static long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1000L + ts.tv_nsec / 1000000);
}

/*
 * Before lf's code goes: wait for the threads dispatched into it.  Returns
 * 0 when none is left, else reports and returns EBUSY (leave it mapped).
 */
static int
dispatch_drain(struct linker_file *lf)
{
	int ms = __atomic_load_n(&dispatch_wait_ms, __ATOMIC_RELAXED);
	int hw = __atomic_load_n(&dispatch_hiwater, __ATOMIC_SEQ_CST);
	int me = hk_tls()->gd.gd_cpuid, i, d, n = 0, left;
	struct dispatch_note *note;
	unsigned long gen;
	uintptr_t a, fn = 0;
	long deadline;

	if (lf->hi <= lf->lo || hw == 0)
		return (0);
	note = calloc((size_t)hw * HK_DISPATCH_DEPTH, sizeof(*note));
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (i = 0; i < hw; i++) {
		for (d = 0; d < HK_DISPATCH_DEPTH; d++) {
			if (!dispatch_entry_busy(i, d, lf->lo, lf->hi, &gen,
			    &a))
				continue;
			if (i == me && a != (uintptr_t)HK_DISPATCH_PENDING) {
				free(note);
				hk_report("kldunload %s: the unloading thread "
				    "is inside a device call into the file",
				    lf->filename);
				return (EBUSY);
			}
			note[n].slot = i;
			note[n].depth = d;
			note[n].gen = gen;
			n++;
		}
	}
	deadline = mono_ms() + ms;
	for (;;) {
		for (i = 0, left = 0; i < n; i++) {
			if (note[i].slot < 0)
				continue;
			if (dispatch_entry_busy(note[i].slot, note[i].depth,
			    lf->lo, lf->hi, &gen, &a) && gen == note[i].gen) {
				left++;
				fn = a;
			} else {
				note[i].slot = -1;	/* resolved or returned */
			}
		}
		if (left == 0 || mono_ms() > deadline)
			break;
		usleep(100);
	}
	free(note);
	if (left == 0)
		return (0);
	hk_report("kldunload %s: %d thread(s) still in a device call into "
	    "the file (%p) %d ms after its MOD_UNLOAD returned: on DragonFly "
	    "the code is freed under them (the file is left mapped)",
	    lf->filename, left, (void *)fn, ms);
	return (EBUSY);
}

struct lock kld_lock;
static pthread_mutex_t mod_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct linker_file *files;
static struct module *modules;
static struct modlist *modlists;
static int next_file_id = 2, next_mod_id = 1;
static struct linker_file *loading;
static struct linker_file kernel_file = { .filename = "kernel", .id = 1 };

static int linker_file_unload(struct linker_file *lf);

void
hk_linker_set_add(const char *set, void *entry)
{
	struct linker_file *lf = loading ? loading : &kernel_file;

	lf->sets = realloc(lf->sets, (lf->nsets + 1) * sizeof(*lf->sets));
	lf->sets[lf->nsets].set = set;
	lf->sets[lf->nsets].entry = entry;
	lf->nsets++;
}

static int
lookup_set(struct linker_file *lf, const char *set, void ***vecp)
{
	void **vec;
	int i, n = 0;

	vec = calloc(lf->nsets + 1, sizeof(*vec));
	for (i = 0; i < lf->nsets; i++)
		if (strcmp(lf->sets[i].set, set) == 0)
			vec[n++] = lf->sets[i].entry;
	*vecp = vec;
	return (n);
}

void *
hk_addr_module_base(const void *addr)
{
	struct linker_file *lf;
	void *base = NULL;

	pthread_mutex_lock(&mod_mtx);
	for (lf = files; lf != NULL; lf = lf->next) {
		if ((uintptr_t)addr >= lf->lo && (uintptr_t)addr < lf->hi) {
			base = (void *)lf->lo;
			break;
		}
	}
	pthread_mutex_unlock(&mod_mtx);
	return (base);
}

const char *
hk_addr_module_name(const void *addr)
{
	struct linker_file *lf;
	const char *name = NULL;

	pthread_mutex_lock(&mod_mtx);
	for (lf = files; lf != NULL; lf = lf->next) {
		if ((uintptr_t)addr >= lf->lo && (uintptr_t)addr < lf->hi) {
			name = lf->filename;
			break;
		}
	}
	pthread_mutex_unlock(&mod_mtx);
	return (name);
}

/* ------------------------------------------------------------------------ */
/* Modules (kern_module.c)                                                  */

module_t
module_lookupbyname(const char *name)
{
	struct module *m;

	pthread_mutex_lock(&mod_mtx);
	for (m = modules; m != NULL; m = m->next)
		if (strcmp(m->name, name) == 0)
			break;
	pthread_mutex_unlock(&mod_mtx);
	return (m);
}

int
module_getid(module_t mod)
{
	return (mod->id);
}

const char *
module_getname(module_t mod)
{
	return (mod->name);
}

void
module_setspecific(module_t mod, modspecific_t *datap)
{
	mod->specific = *datap;
}

static int
module_register(const moduledata_t *data, struct linker_file *lf)
{
	struct module *m;

	if (module_lookupbyname(data->name) != NULL) {
		kprintf("module_register: module %s already exists!\n",
		    data->name);
		return (EEXIST);
	}
	m = kmalloc(sizeof(*m), M_MODULE, M_WAITOK | M_ZERO);
	m->name = kstrdup(data->name, M_MODULE);
	m->data = data;
	m->file = lf;
	pthread_mutex_lock(&mod_mtx);
	m->id = next_mod_id++;
	m->next = modules;
	modules = m;
	pthread_mutex_unlock(&mod_mtx);
	return (0);
}

static void
module_release(struct module *m)
{
	struct module **mp;

	pthread_mutex_lock(&mod_mtx);
	for (mp = &modules; *mp != NULL; mp = &(*mp)->next) {
		if (*mp == m) {
			*mp = m->next;
			break;
		}
	}
	pthread_mutex_unlock(&mod_mtx);
	kfree(m->name, M_MODULE);
	kfree(m, M_MODULE);
}

static int
mod_event(struct module *m, int what)
{
	if (m->data->evhand == NULL)
		return (0);
	return (m->data->evhand(m, what, m->data->priv));
}

/* kern_module.c module_register_init: the DECLARE_MODULE SYSINIT. */
void
module_register_init(const void *arg)
{
	const moduledata_t *data = arg;
	struct module *m;
	int error;

	m = module_lookupbyname(data->name);
	if (m == NULL) {
		if (module_register(data, &kernel_file) != 0)
			panic("module_register_init: register of module "
			    "failed!");
		m = module_lookupbyname(data->name);
	}
	error = mod_event(m, MOD_LOAD);
	if (error) {
		mod_event(m, MOD_UNLOAD);	/* module_unload, error ignored */
		module_release(m);
		kprintf("module_register_init: MOD_LOAD (%s, %p, %p) error %d\n",
		    data->name, (void *)data->evhand, data->priv, error);
	}
}

/* The file's modules, in registration order. */
static int
file_modules(struct linker_file *lf, struct module ***vecp)
{
	struct module *m, **vec;
	int n = 0, i;

	pthread_mutex_lock(&mod_mtx);
	for (m = modules; m != NULL; m = m->next)
		if (m->file == lf)
			n++;
	vec = calloc(n + 1, sizeof(*vec));
	i = n;
	for (m = modules; m != NULL; m = m->next)	/* list is LIFO */
		if (m->file == lf)
			vec[--i] = m;
	pthread_mutex_unlock(&mod_mtx);
	*vecp = vec;
	return (n);
}

/* ------------------------------------------------------------------------ */
/* Files                                                                    */

static struct linker_file *
find_file_by_name(const char *name)
{
	struct linker_file *lf;
	size_t len = strlen(name);

	if (len > 3 && strcmp(name + len - 3, ".ko") == 0)
		len -= 3;
	pthread_mutex_lock(&mod_mtx);
	for (lf = files; lf != NULL; lf = lf->next)
		if (strlen(lf->filename) == len &&
		    strncmp(lf->filename, name, len) == 0)
			break;
	pthread_mutex_unlock(&mod_mtx);
	return (lf);
}

static struct modlist *
modlist_lookup(const char *name)
{
	struct modlist *ml;

	pthread_mutex_lock(&mod_mtx);
	for (ml = modlists; ml != NULL; ml = ml->next)
		if (strcmp(ml->name, name) == 0)
			break;
	pthread_mutex_unlock(&mod_mtx);
	return (ml);
}

static int
range_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct linker_file *lf = arg;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	int i;

	if (info->dlpi_addr != lf->lo)
		return (0);
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < lo)
			lo = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
			hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	lf->lo = lo;
	lf->hi = hi;
	return (1);
}

static void
add_dep(struct linker_file *lf, struct linker_file *dep)
{
	lf->deps = realloc(lf->deps, (lf->ndeps + 1) * sizeof(*lf->deps));
	lf->deps[lf->ndeps++] = dep;
}

static int load_file(const char *name, struct linker_file **lfp);

/* linker_load_dependencies */
static int
load_dependencies(struct linker_file *lf)
{
	void **md;
	int n, i, j, error = 0;

	n = lookup_set(lf, "modmetadata_set", &md);
	for (i = 0; i < n; i++) {
		struct mod_metadata *mp = md[i];
		struct modlist *ml;
		if (mp->md_type != MDT_VERSION)
			continue;
		if ((ml = modlist_lookup(mp->md_cval)) != NULL) {
			kprintf("interface %s.%d already present in the KLD "
			    "'%s'!\n", mp->md_cval,
			    ((const struct mod_version *)mp->md_data)->mv_version,
			    ml->container->filename);
			free(md);
			return (EEXIST);
		}
	}
	for (i = 0; i < n && error == 0; i++) {
		struct mod_metadata *mp = md[i];
		struct modlist *ml;
		struct linker_file *dep;
		if (mp->md_type != MDT_DEPEND)
			continue;
		for (j = 0; j < n; j++) {
			struct mod_metadata *np = md[j];
			if (np->md_type == MDT_VERSION &&
			    strcmp(np->md_cval, mp->md_cval) == 0)
				break;
		}
		if (j < n)
			continue;	/* self reference */
		if ((ml = modlist_lookup(mp->md_cval)) != NULL) {
			ml->container->refs++;
			add_dep(lf, ml->container);
			continue;
		}
		error = load_file(mp->md_cval, &dep);
		if (error == 0 && modlist_lookup(mp->md_cval) == NULL) {
			linker_file_unload(dep);
			error = ENOENT;
		}
		if (error) {
			kprintf("KLD %s: depends on %s - not available or "
			    "version mismatch\n", lf->filename, mp->md_cval);
			break;
		}
		add_dep(lf, dep);
	}
	if (error == 0) {
		/* linker_addmodules: publish this file's interfaces. */
		for (i = 0; i < n; i++) {
			struct mod_metadata *mp = md[i];
			struct modlist *ml;
			if (mp->md_type != MDT_VERSION)
				continue;
			ml = kmalloc(sizeof(*ml), M_LINKER, M_WAITOK | M_ZERO);
			ml->name = kstrdup(mp->md_cval, M_LINKER);
			ml->version =
			    ((const struct mod_version *)mp->md_data)->mv_version;
			ml->container = lf;
			pthread_mutex_lock(&mod_mtx);
			ml->next = modlists;
			modlists = ml;
			pthread_mutex_unlock(&mod_mtx);
		}
	}
	free(md);
	return (error);
}

static int
sysinit_cmp(const void *a, const void *b)
{
	const struct sysinit *x = *(const struct sysinit *const *)a;
	const struct sysinit *y = *(const struct sysinit *const *)b;

	if (x->subsystem != y->subsystem)
		return (x->subsystem < y->subsystem ? -1 : 1);
	if (x->order != y->order)
		return (x->order < y->order ? -1 : 1);
	return (0);
}

static void
run_sysinits(struct linker_file *lf, const char *set, int reverse)
{
	void **si;
	int n, i;

	n = lookup_set(lf, set, &si);
	/* A stable sort keeps declaration order within equal keys. */
	for (i = 1; i < n; i++) {
		void *x = si[i];
		int j = i - 1;
		while (j >= 0 && sysinit_cmp(&si[j], &x) > 0) {
			si[j + 1] = si[j];
			j--;
		}
		si[j + 1] = x;
	}
	for (i = 0; i < n; i++) {
		struct sysinit *s = si[reverse ? n - 1 - i : i];
		if (s->subsystem == SI_SPECIAL_DUMMY)
			continue;
		s->func(s->udata);
	}
	free(si);
}

static void
register_sysctls(struct linker_file *lf, int reg)
{
	void **oids;
	int n, i;

	n = lookup_set(lf, "sysctl_set", &oids);
	for (i = 0; i < n; i++) {
		if (reg)
			sysctl_register_oid(oids[i]);
		else
			sysctl_unregister_oid(oids[i]);
	}
	free(oids);
}

static int
register_modules(struct linker_file *lf)
{
	void **md;
	int n, i, error, first_error = 0;

	n = lookup_set(lf, "modmetadata_set", &md);
	for (i = 0; i < n; i++) {
		struct mod_metadata *mp = md[i];
		if (mp->md_type != MDT_MODULE)
			continue;
		error = module_register(mp->md_data, lf);
		if (error) {
			kprintf("Module %s failed to register: %d\n",
			    ((const moduledata_t *)mp->md_data)->name, error);
			if (first_error == 0)
				first_error = error;
		}
	}
	free(md);
	return (first_error);
}

static void
file_free(struct linker_file *lf)
{
	struct linker_file **lp;

	pthread_mutex_lock(&mod_mtx);
	for (lp = &files; *lp != NULL; lp = &(*lp)->next) {
		if (*lp == lf) {
			*lp = lf->next;
			break;
		}
	}
	pthread_mutex_unlock(&mod_mtx);
	/* Threads dispatched into the file before its unload restored the
	 * ops they loaded (see dispatch_drain). */
	if (lf->handle != NULL && dispatch_drain(lf) == 0 &&
	    dlclose(lf->handle) != 0)
		kprintf("dlclose %s: %s\n", lf->filename, dlerror());
	free(lf->sets);
	free(lf->deps);
	kfree(lf->filename, M_LINKER);
	kfree(lf, M_LINKER);
}

static void
drop_modlists(struct linker_file *lf)
{
	struct modlist **mp, *ml;

	pthread_mutex_lock(&mod_mtx);
	for (mp = &modlists; (ml = *mp) != NULL;) {
		if (ml->container == lf) {
			*mp = ml->next;
			pthread_mutex_unlock(&mod_mtx);
			kfree(ml->name, M_LINKER);
			kfree(ml, M_LINKER);
			pthread_mutex_lock(&mod_mtx);
			mp = &modlists;
			continue;
		}
		mp = &ml->next;
	}
	pthread_mutex_unlock(&mod_mtx);
}

/* Report everything still pointing into lf's code or data. */
static void
check_dangling(struct linker_file *lf)
{
	void *base = (void *)lf->lo;

	hk_device_check_module(base, lf->filename);
	hk_devfs_check_module(base, lf->filename);
	hk_exit_hooks_check_module(base, lf->filename);
}

/* linker_load_file for NAME (no ".so"). */
static int
load_file(const char *name, struct linker_file **lfp)
{
	struct linker_file *lf;
	struct link_map *lm;
	char *path;
	size_t plen;
	int error;

	if ((lf = find_file_by_name(name)) != NULL) {
		lf->refs++;
		*lfp = lf;
		return (0);
	}
	plen = strlen(hk_module_dir()) + strlen(name) + 8;
	path = kmalloc(plen, M_LINKER, M_WAITOK);
	ksnprintf(path, plen, "%s/%s.so", hk_module_dir(), name);
	if (access(path, R_OK) != 0) {
		kfree(path, M_LINKER);
		return (ENOENT);
	}
	lf = kmalloc(sizeof(*lf), M_LINKER, M_WAITOK | M_ZERO);
	lf->filename = kstrdup(name, M_LINKER);
	lf->refs = 1;
	loading = lf;
	lf->handle = dlopen(path, RTLD_LAZY | RTLD_GLOBAL);
	loading = NULL;
	if (lf->handle == NULL) {
		kprintf("linker_load_file: %s: %s\n", path, dlerror());
		kfree(path, M_LINKER);
		free(lf->sets);
		kfree(lf->filename, M_LINKER);
		kfree(lf, M_LINKER);
		return (ENOEXEC);
	}
	kfree(path, M_LINKER);
	if (dlinfo(lf->handle, RTLD_DI_LINKMAP, &lm) == 0) {
		lf->lo = lm->l_addr;
		dl_iterate_phdr(range_cb, lf);
	}
	pthread_mutex_lock(&mod_mtx);
	lf->id = next_file_id++;
	lf->next = files;
	files = lf;
	pthread_mutex_unlock(&mod_mtx);

	if ((error = load_dependencies(lf)) != 0) {
		lf->refs = 1;
		linker_file_unload(lf);
		return (error);
	}
	if ((error = register_modules(lf)) != 0) {
		lf->refs = 1;
		linker_file_unload(lf);
		return (error);
	}
	/*
	 * 5.8.1 linker_load_file: sysctls, then SYSINITs (DECLARE_MODULE's
	 * module_register_init among them), then the file is linked and
	 * kldload returns 0.  module_register_init returns void: a MOD_LOAD
	 * error only gets MOD_UNLOAD and the module released, so the file
	 * stays loaded with whatever its SYSINITs left behind.
	 */
	register_sysctls(lf, 1);
	run_sysinits(lf, "sysinit_set", 0);
	lf->linked = 1;
	*lfp = lf;
	return (0);
}

/* linker_file_unload */
static int
linker_file_unload(struct linker_file *lf)
{
	struct module **mods;
	int n, i, error = 0;

	if (lf->refs > 1) {
		lf->refs--;
		return (0);
	}
	n = file_modules(lf, &mods);
	for (i = 0; i < n; i++) {
		if ((error = mod_event(mods[i], MOD_UNLOAD)) != 0) {
			lf->refs--;
			free(mods);
			return (error);
		}
		module_release(mods[i]);
	}
	free(mods);
	drop_modlists(lf);
	if (lf->linked) {
		lf->linked = 0;
		run_sysinits(lf, "sysuninit_set", 1);
		register_sysctls(lf, 0);
	}
	check_dangling(lf);
	for (i = 0; i < lf->ndeps; i++)
		linker_file_unload(lf->deps[i]);
	file_free(lf);
	return (0);
}

/* ------------------------------------------------------------------------ */
/* Syscalls                                                                 */

int
hk_kldload(const char *name, int *fileidp)
{
	struct linker_file *lf;
	struct hk_sysmark mark;
	int error;

	if (!hk_booted)
		return (ENXIO);
	if (priv_check(curthread, PRIV_KLD_LOAD) != 0)
		return (EPERM);
	hk_syscall_mark(&mark);
	lockmgr(&kld_lock, LK_EXCLUSIVE);
	if (find_file_by_name(name) != NULL || modlist_lookup(name) != NULL) {
		error = EEXIST;
	} else {
		error = load_file(name, &lf);
		if (error == 0) {
			lf->userrefs++;
			if (fileidp != NULL)
				*fileidp = lf->id;
		}
	}
	lockmgr(&kld_lock, LK_RELEASE);
	/* Host determinism: the nodes the module made exist on return
	 * (on DragonFly they appear shortly after). */
	devfs_config();
	hk_syscall_check(&mark, "kldload");
	return (error);
}

int
hk_kldunload(const char *name)
{
	struct linker_file *lf;
	struct hk_sysmark mark;
	int error;

	if (!hk_booted)
		return (ENXIO);
	if (priv_check(curthread, PRIV_KLD_UNLOAD) != 0)
		return (EPERM);
	hk_syscall_mark(&mark);
	lockmgr(&kld_lock, LK_EXCLUSIVE);
	lf = find_file_by_name(name);
	if (lf == NULL) {
		error = ENOENT;
	} else if (lf->userrefs == 0) {
		kprintf("linkerunload: attempt to unload file that was loaded "
		    "by the kernel\n");
		error = EBUSY;
	} else {
		lf->userrefs--;
		error = linker_file_unload(lf);
		if (error)
			lf->userrefs++;
	}
	lockmgr(&kld_lock, LK_RELEASE);
	hk_syscall_check(&mark, "kldunload");
	return (error);
}

/* modfind(2): is a module of that name registered? */
int
hk_modfind(const char *modname)
{
	return (module_lookupbyname(modname) != NULL ? 0 : ENOENT);
}

int
hk_kld_isloaded(const char *name)
{
	return (find_file_by_name(name) != NULL);
}

void
hk_linker_boot(void)
{
	lockinit(&kld_lock, "kldlk", 0, 0);
	hk_set_dispatch_pause(NULL);
	hk_set_unload_drain_ms(0);
	pthread_mutex_lock(&mod_mtx);
	files = NULL;
	modules = NULL;
	modlists = NULL;
	pthread_mutex_unlock(&mod_mtx);
	/* The kernel file: modules, sysctls and SYSINITs linked into the
	 * test program itself. */
	register_modules(&kernel_file);
	register_sysctls(&kernel_file, 1);
	run_sysinits(&kernel_file, "sysinit_set", 0);
}

/*
 * Unload every file, most recently loaded first (so dependents go before
 * their dependencies).  A veto is reported and the file is left mapped;
 * returns how many files stayed.
 */
int
hk_linker_shutdown(void)
{
	struct linker_file *lf;
	struct module **mods, *m;
	int n, i, stuck = 0, error;

	lockmgr(&kld_lock, LK_EXCLUSIVE);
	/* MOD_SHUTDOWN to every module first (module_shutdown). */
	n = 0;
	pthread_mutex_lock(&mod_mtx);
	for (m = modules; m != NULL; m = m->next)
		n++;
	mods = calloc(n + 1, sizeof(*mods));
	i = 0;
	for (m = modules; m != NULL; m = m->next)
		mods[i++] = m;
	pthread_mutex_unlock(&mod_mtx);
	for (i = 0; i < n; i++)
		mod_event(mods[i], MOD_SHUTDOWN);
	free(mods);
	for (;;) {
		pthread_mutex_lock(&mod_mtx);
		for (lf = files; lf != NULL; lf = lf->next) {
			struct linker_file *o;
			if (lf->linked < 0)
				continue;
			for (o = files; o != NULL; o = o->next) {
				for (i = 0; o != lf && o->linked >= 0 &&
				    i < o->ndeps; i++)
					if (o->deps[i] == lf)
						break;
				if (o != lf && o->linked >= 0 && i < o->ndeps)
					break;
			}
			if (o == NULL)
				break;	/* nobody depends on lf */
		}
		pthread_mutex_unlock(&mod_mtx);
		if (lf == NULL)
			break;
		/* Only files no other file depends on, newest first. */
		lf->refs = 1;
		error = linker_file_unload(lf);
		if (error) {
			fprintf(stderr, "hostkern: shutdown: module file %s "
			    "vetoed its unload (%d); left loaded\n",
			    lf->filename, error);
			lf->linked = -1;
			lf->refs = 0;
			stuck++;
		}
	}
	/* Forget files left behind (their code stays mapped). */
	pthread_mutex_lock(&mod_mtx);
	files = NULL;
	modules = NULL;
	modlists = NULL;
	pthread_mutex_unlock(&mod_mtx);
	lockmgr(&kld_lock, LK_RELEASE);
	lockuninit(&kld_lock);
	return (stuck);
}
