/*
 * kern_core.c - host kernel boot and teardown, kernel profiles, console,
 * panic, the lock-violation reporter, per-OS-thread globaldata/curthread,
 * and the kernel environment (kern/kern_environment.c: kgetenv & co,
 * loader tunables).
 *
 * Profiles and __DragonFly_version (decided with the shim): the shadow
 * sys/param.h makes __DragonFly_version the variable hk_osreldate, set here
 * from the profile: MODERN 500800, NOCDEVPRIV 300700 (synthetic: a_fp but no
 * cdevpriv), DEVFS24 200400, LEGACY 100800.  Capabilities: devfs clone
 * handlers >= 200400, a_fp >= 300700, cdevpriv >= 300800.
 *
 * Locking: kenv_mtx guards the environment; cpu_mtx the cpuid pool.  The
 * violation counter is atomic.  Boot/shutdown run on one OS thread while
 * no other thread is inside the kernel.
 */
#include "hk_impl.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int hk_osreldate = 500800;
enum hk_profile hk_profile = HK_PROFILE_MODERN;
int hk_booted;
int securelevel;
long physmem = 4L * 1024 * 1024 * 1024 / PAGE_SIZE;	/* 4 GiB of pages */
int hz = 100;
int ticks;
volatile time_t time_uptime = 1;
volatile time_t time_second = 1;
long hk_reports;

static volatile long violations;
static volatile int violation_fatal = 1;

/* ------------------------------------------------------------------------ */
/* Profiles                                                                  */

int
hk_has_afp(void)
{
	return (hk_osreldate >= 300700);
}

int
hk_has_cdevpriv(void)
{
	return (hk_osreldate >= 300800);
}

int
hk_has_clone(void)
{
	return (hk_osreldate >= 200400);
}

int
hk_profile_by_name(const char *name)
{
	if (name == NULL)
		return (-1);
	if (strcmp(name, "modern") == 0)
		return (HK_PROFILE_MODERN);
	if (strcmp(name, "nocdevpriv") == 0)
		return (HK_PROFILE_NOCDEVPRIV);
	if (strcmp(name, "legacy") == 0)
		return (HK_PROFILE_LEGACY);
	if (strcmp(name, "devfs24") == 0)
		return (HK_PROFILE_DEVFS24);
	return (-1);
}

int
hk_profile_osreldate(enum hk_profile profile)
{
	switch (profile) {
	case HK_PROFILE_MODERN:
		return (500800);
	case HK_PROFILE_NOCDEVPRIV:
		return (300700);
	case HK_PROFILE_DEVFS24:
		return (200400);
	case HK_PROFILE_LEGACY:
		return (100800);
	}
	return (-1);
}

/* ------------------------------------------------------------------------ */
/* Per-OS-thread state: globaldata, curthread                               */

#define HK_NCPUS	256
int ncpus = HK_NCPUS;
static pthread_mutex_t cpu_mtx = PTHREAD_MUTEX_INITIALIZER;
static unsigned char cpu_used[HK_NCPUS];
static pthread_key_t cpu_key;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static _Thread_local struct hk_tls tls;
static unsigned long thread_serial;

/*
 * Sanitizers, for every test program linked with the host kernel: libatf-c
 * keeps its test-case list until exit (not ours; the host kernel checks
 * kernel leaks itself, hk_shutdown_clean), and kyua calls a listing that
 * writes to stderr broken, so no "Suppressions used" report.  Weak: a test
 * program may define its own (tests/hostkern/h_common.c adds
 * abort_on_error).
 */
const char *__lsan_default_suppressions(void) __attribute__((__weak__));
const char *
__lsan_default_suppressions(void)
{
	return ("leak:atf_tp_get_tcs\nleak:libatf-c.so\n");
}

const char *__asan_default_options(void) __attribute__((__weak__));
const char *
__asan_default_options(void)
{
	return ("print_suppressions=0");
}

static void
cpu_release(void *arg)
{
	int id = (int)(intptr_t)arg - 1;

	pthread_mutex_lock(&cpu_mtx);
	cpu_used[id] = 0;
	pthread_mutex_unlock(&cpu_mtx);
}

static void
cpu_key_init(void)
{
	pthread_key_create(&cpu_key, cpu_release);
}

struct hk_tls *
hk_tls(void)
{
	int i;

	if (!tls.cpuid_set) {
		pthread_once(&cpu_once, cpu_key_init);
		pthread_mutex_lock(&cpu_mtx);
		for (i = 0; i < HK_NCPUS && cpu_used[i]; i++)
			;
		if (i == HK_NCPUS) {
			pthread_mutex_unlock(&cpu_mtx);
			HK_ABORT("more than %d OS threads inside the host kernel",
			    HK_NCPUS);
		}
		cpu_used[i] = 1;
		pthread_mutex_unlock(&cpu_mtx);
		pthread_setspecific(cpu_key, (void *)(intptr_t)(i + 1));
		tls.gd.gd_cpuid = i;
		tls.serial = __atomic_add_fetch(&thread_serial, 1,
		    __ATOMIC_SEQ_CST);
		tls.ktd.td_proc = &hk_proc0.p;
		tls.ktd.td_ucred = hk_proc0.cred;
		tls.ktd.td_gd = &tls.gd;
		strlcpy(tls.ktd.td_comm, "kernel", sizeof(tls.ktd.td_comm));
		tls.cpuid_set = 1;
	}
	return (&tls);
}

struct globaldata *
hk_mycpu(void)
{
	struct hk_tls *t = hk_tls();

	t->gd.gd_curthread = t->bound ? t->bound : &t->ktd;
	return (&t->gd);
}

struct thread *
hk_curthread(void)
{
	struct hk_tls *t = hk_tls();

	if (t->bound != NULL)
		return (t->bound);
	if (!t->is_devfs) {
		t->ktd.td_proc = &hk_proc0.p;
		t->ktd.td_ucred = hk_proc0.cred;
	}
	return (&t->ktd);
}

/* ------------------------------------------------------------------------ */
/* Console, panic, violations                                               */

static pthread_mutex_t cons_mtx = PTHREAD_MUTEX_INITIALIZER;
static int cons_quiet = -1;

int
kvprintf(const char *fmt, __va_list ap)
{
	int n;

	if (cons_quiet < 0)
		cons_quiet = getenv("HK_QUIET") != NULL;
	if (cons_quiet)
		return (0);
	pthread_mutex_lock(&cons_mtx);
	n = vfprintf(stderr, fmt, ap);
	pthread_mutex_unlock(&cons_mtx);
	return (n);
}

int
kprintf(const char *fmt, ...)
{
	__va_list ap;
	int n;

	__va_start(ap, fmt);
	n = kvprintf(fmt, ap);
	__va_end(ap);
	return (n);
}

int
kvsnprintf(char *buf, size_t len, const char *fmt, __va_list ap)
{
	return (vsnprintf(buf, len, fmt, ap));
}

int
ksnprintf(char *buf, size_t len, const char *fmt, ...)
{
	__va_list ap;
	int n;

	__va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	__va_end(ap);
	return (n);
}

int
ksprintf(char *buf, const char *fmt, ...)
{
	__va_list ap;
	int n;

	__va_start(ap, fmt);
	n = vsprintf(buf, fmt, ap);
	__va_end(ap);
	return (n);
}

/* kern/subr_prf.c kvasnprintf: a M_TEMP-allocated formatted string. */
int
kvasnprintf(char **strp, size_t size, const char *fmt, __va_list ap)
{
	__va_list ap2;
	int n;

	__va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	__va_end(ap2);
	if ((size_t)n + 1 < size)
		size = n + 1;
	*strp = kmalloc(size, M_TEMP, M_WAITOK);
	vsnprintf(*strp, size, fmt, ap);
	return (n);
}

void
kvasfree(char **strp)
{
	if (*strp != NULL)
		kfree(*strp, M_TEMP);
	*strp = NULL;
}

void
panic(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&cons_mtx);
	fprintf(stderr, "panic: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	pthread_mutex_unlock(&cons_mtx);
	abort();
}

void
hk_violation(const char *fmt, ...)
{
	va_list ap;

	__atomic_fetch_add(&violations, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&cons_mtx);
	fprintf(stderr, "hostkern: lock violation: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	pthread_mutex_unlock(&cons_mtx);
	if (__atomic_load_n(&violation_fatal, __ATOMIC_SEQ_CST))
		abort();
}

void
hk_report(const char *fmt, ...)
{
	va_list ap;

	__atomic_fetch_add(&hk_reports, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&cons_mtx);
	fprintf(stderr, "hostkern: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	pthread_mutex_unlock(&cons_mtx);
}

long
hk_lock_violations(void)
{
	return (__atomic_load_n(&violations, __ATOMIC_SEQ_CST));
}

void
hk_set_lock_violation_fatal(int fatal)
{
	__atomic_store_n(&violation_fatal, fatal, __ATOMIC_SEQ_CST);
}

void
hk_assert_sleepable(const char *what)
{
	struct hk_tls *t = hk_tls();

	if (t->nspin > 0)
		hk_violation("%s while holding spinlock \"%s\" (taken in %s)",
		    what, t->spin[t->nspin - 1].spin->hk_descr ?
		    t->spin[t->nspin - 1].spin->hk_descr : "?",
		    t->spin[t->nspin - 1].ident);
}

/*
 * 5.8.1 platform/pc64/x86_64/trap.c syscall2 under INVARIANTS: a syscall
 * must return with the critical section count it entered with and no
 * token held (spin_lock enters a critical section there, so a spinlock
 * held across the return is the same mismatch).  The host checks each
 * kind itself, so the report names what was left held.
 */
void
hk_syscall_mark(struct hk_sysmark *m)
{
	struct hk_tls *t = hk_tls();

	m->nspin = t->nspin;
	m->ntok = t->ntok;
	m->crit = curthread->td_critcount;
}

void
hk_syscall_check(const struct hk_sysmark *m, const char *what)
{
	struct hk_tls *t = hk_tls();
	int crit = curthread->td_critcount;

	if (t->nspin > m->nspin)
		hk_violation("%s: returns to user with spinlock \"%s\" held "
		    "(taken in %s): syscall2's critical section count "
		    "mismatch", what, t->spin[t->nspin - 1].spin->hk_descr ?
		    t->spin[t->nspin - 1].spin->hk_descr : "?",
		    t->spin[t->nspin - 1].ident);
	if (t->ntok > m->ntok)
		hk_violation("%s: returns to user with %d extra token(s) held "
		    "(\"%s\"): syscall2's extra tokens held after trap", what,
		    t->ntok - m->ntok, t->tok[t->ntok - 1]->t_desc ?
		    t->tok[t->ntok - 1]->t_desc : "?");
	if (crit != m->crit)
		hk_violation("%s: syscall2's critical section count mismatch! "
		    "%d/%d", what, m->crit, crit);
}

/* ------------------------------------------------------------------------ */
/* libkern bits                                                             */

size_t
hk_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return (n);
}

size_t
hk_strlcat(char *dst, const char *src, size_t size)
{
	size_t d = strnlen(dst, size);

	if (d == size)
		return (size + strlen(src));
	return (d + hk_strlcpy(dst + d, src, size - d));
}

void
DELAY(int usec)
{
	usleep(usec);
}

/* kern/kern_priv.c: root may do everything; others nothing privileged. */
int
priv_check_cred(struct ucred *cred, int priv, int flags)
{
	if (cred == NULL || cred == FSCRED)
		return (0);
	return (cred->cr_uid == 0 ? 0 : EPERM);
}

int
priv_check(struct thread *td, int priv)
{
	return (priv_check_cred(td ? td->td_ucred : NULL, priv, 0));
}

/* ------------------------------------------------------------------------ */
/* Kernel environment (kern/kern_environment.c)                             */

struct kenv_ent {
	char		*name;
	char		*value;
	struct kenv_ent	*next;
};
static pthread_mutex_t kenv_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct kenv_ent *kenv_list;

static struct kenv_ent **
kenv_find_locked(const char *name)
{
	struct kenv_ent **pp;

	for (pp = &kenv_list; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0)
			break;
	return (pp);
}

int
hk_setenv(const char *name, const char *value)
{
	struct kenv_ent **pp, *e;

	if (name == NULL || value == NULL)
		return (EINVAL);
	pthread_mutex_lock(&kenv_mtx);
	pp = kenv_find_locked(name);
	if ((e = *pp) == NULL) {
		e = calloc(1, sizeof(*e));
		e->name = strdup(name);
		*pp = e;
	} else {
		free(e->value);
	}
	e->value = strdup(value);
	pthread_mutex_unlock(&kenv_mtx);
	return (0);
}

int
hk_unsetenv(const char *name)
{
	struct kenv_ent **pp, *e;
	int error = ENOENT;

	pthread_mutex_lock(&kenv_mtx);
	pp = kenv_find_locked(name);
	if ((e = *pp) != NULL) {
		*pp = e->next;
		free(e->name);
		free(e->value);
		free(e);
		error = 0;
	}
	pthread_mutex_unlock(&kenv_mtx);
	return (error);
}

static void
kenv_clear(void)
{
	struct kenv_ent *e;

	pthread_mutex_lock(&kenv_mtx);
	while ((e = kenv_list) != NULL) {
		kenv_list = e->next;
		free(e->name);
		free(e->value);
		free(e);
	}
	pthread_mutex_unlock(&kenv_mtx);
}

/* kgetenv: a M_KENV copy the caller must kfreeenv() (leaks are reported). */
char *
kgetenv(const char *name)
{
	struct kenv_ent *e;
	char *v = NULL;
	size_t len = 0;

	pthread_mutex_lock(&kenv_mtx);
	if ((e = *kenv_find_locked(name)) != NULL)
		len = strlen(e->value) + 1;
	pthread_mutex_unlock(&kenv_mtx);
	if (len == 0)
		return (NULL);
	v = kmalloc(256 > len ? 256 : len, M_KENV, M_WAITOK | M_ZERO);
	pthread_mutex_lock(&kenv_mtx);
	if ((e = *kenv_find_locked(name)) != NULL)
		strlcpy(v, e->value, 256 > len ? 256 : len);
	pthread_mutex_unlock(&kenv_mtx);
	return (v);
}

void
kfreeenv(char *env)
{
	if (env != NULL)
		kfree(env, M_KENV);
}

int
ktestenv(const char *name)
{
	int found;

	pthread_mutex_lock(&kenv_mtx);
	found = *kenv_find_locked(name) != NULL;
	pthread_mutex_unlock(&kenv_mtx);
	return (found);
}

int
kgetenv_string(const char *name, char *data, int size)
{
	char *tmp;

	tmp = kgetenv(name);
	if (tmp == NULL)
		return (0);
	strlcpy(data, tmp, size);
	kfreeenv(tmp);
	return (1);
}

/* kgetenv_quad: strtoq with k/m/g/t suffixes; 0 if absent or malformed. */
int
kgetenv_quad(const char *name, int64_t *data)
{
	char *value, *vtp;
	int64_t iv;

	value = kgetenv(name);
	if (value == NULL)
		return (0);
	iv = strtoll(value, &vtp, 0);
	if (vtp == value || (vtp[0] != '\0' && vtp[1] != '\0')) {
		kfreeenv(value);
		return (0);
	}
	switch (vtp[0]) {
	case 't': case 'T':
		iv <<= 10;
		/* FALLTHROUGH */
	case 'g': case 'G':
		iv <<= 10;
		/* FALLTHROUGH */
	case 'm': case 'M':
		iv <<= 10;
		/* FALLTHROUGH */
	case 'k': case 'K':
		iv <<= 10;
		break;
	case '\0':
		break;
	default:
		kfreeenv(value);
		return (0);
	}
	*data = iv;
	kfreeenv(value);
	return (1);
}

int
kgetenv_int(const char *name, int *data)
{
	int64_t tmp;
	int rval;

	rval = kgetenv_quad(name, &tmp);
	if (rval)
		*data = (int)tmp;
	return (rval);
}

int
kgetenv_long(const char *name, long *data)
{
	int64_t tmp;
	int rval;

	rval = kgetenv_quad(name, &tmp);
	if (rval)
		*data = (long)tmp;
	return (rval);
}

int
kgetenv_ulong(const char *name, unsigned long *data)
{
	int64_t tmp;
	int rval;

	rval = kgetenv_quad(name, &tmp);
	if (rval)
		*data = (unsigned long)tmp;
	return (rval);
}

void
tunable_int_init(void *data)
{
	struct tunable_int *d = data;

	TUNABLE_INT_FETCH(d->path, d->var);
}

void
tunable_long_init(void *data)
{
	struct tunable_long *d = data;

	TUNABLE_LONG_FETCH(d->path, d->var);
}

void
tunable_ulong_init(void *data)
{
	struct tunable_ulong *d = data;

	TUNABLE_ULONG_FETCH(d->path, d->var);
}

void
tunable_quad_init(void *data)
{
	struct tunable_quad *d = data;

	TUNABLE_QUAD_FETCH(d->path, d->var);
}

void
tunable_str_init(void *data)
{
	struct tunable_str *d = data;

	TUNABLE_STR_FETCH(d->path, d->var, d->size);
}

/* ------------------------------------------------------------------------ */
/* Boot and shutdown                                                        */

static char *module_dir;

const char *
hk_module_dir(void)
{
	return (module_dir);
}

int
hk_boot(enum hk_profile profile, const char *module_path)
{
	const char *mp;

	if (hk_booted)
		return (EBUSY);
	if (hk_profile_osreldate(profile) < 0)
		return (EINVAL);
	hk_profile = profile;
	hk_osreldate = hk_profile_osreldate(profile);
	mp = module_path;
	if (mp == NULL)
		mp = getenv("HK_MODULE_PATH");
#ifdef HK_MODULE_DIR
	if (mp == NULL)
		mp = HK_MODULE_DIR;
#endif
	if (mp == NULL)
		mp = ".";
	free(module_dir);
	module_dir = strdup(mp);
	__atomic_store_n(&violations, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&hk_reports, 0, __ATOMIC_SEQ_CST);
	hk_malloc_boot();
	hk_vm_boot();
	hk_proc_boot();
	hk_descrip_boot();
	hk_device_boot();
	hk_devfs_boot();
	hk_sysctl_boot();
	hk_booted = 1;
	hk_linker_boot();
	return (0);
}

int
hk_shutdown(struct hk_leaks *lk)
{
	struct hk_leaks l;
	struct hk_tls *t;

	memset(&l, 0, sizeof(l));
	if (!hk_booted) {
		if (lk != NULL)
			*lk = l;
		return (ENXIO);
	}
	t = hk_tls();
	l.procs = hk_proc_shutdown();
	/* The caller may still be bound to an exited process: unbind. */
	if (t->bound != NULL)
		hk_thread_leave();
	l.modules = hk_linker_shutdown();
	devfs_config();
	l.files = hk_descrip_shutdown();
	l.cdevs = hk_device_shutdown();
	l.cdevs += (int)__atomic_load_n(&hk_reports, __ATOMIC_SEQ_CST);
	hk_devfs_shutdown();
	hk_sysctl_shutdown();
	l.vm = hk_vm_shutdown();
	hk_malloc_shutdown(&l.kmalloc_bytes, &l.kmalloc_count);
	kenv_clear();
	hk_booted = 0;
	if (lk != NULL)
		*lk = l;
	return (0);
}

int
hk_shutdown_clean(void)
{
	struct hk_leaks l;
	int bad;

	hk_shutdown(&l);
	bad = l.kmalloc_bytes != 0 || l.kmalloc_count != 0 || l.cdevs != 0 ||
	    l.files != 0 || l.procs != 0 || l.modules != 0 || l.vm != 0;
	if (bad)
		fprintf(stderr, "hostkern: shutdown not clean: kmalloc %zu bytes "
		    "in %zu allocations, %d cdevs/reports, %d files, %d procs, "
		    "%d modules, %d VM objects\n", l.kmalloc_bytes,
		    l.kmalloc_count, l.cdevs, l.files, l.procs, l.modules, l.vm);
	return (bad ? EBUSY : 0);
}
