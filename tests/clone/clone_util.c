/*
 * clone_util.c - see clone_util.h.
 */
#include <atf-c.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clone_util.h"
#include "h_single/h_single.h"

const struct ct_target ct_hsingle = {
	"h_single", "h_single_clone", "hsingle", "debug.hsingle_clone",
	"hw.hsingle_clone",
};
const struct ct_target ct_kqemu = {
	"kqemu", "kqemu_clone", "kqemu", "debug.kqemu_clone", "hw.kqemu_clone",
};

static int ct_shim_unloads;	/* successful shim unloads (any mode) */

/* User pages handed out, freed at shutdown (LeakSanitizer runs at exit). */
static void *ct_pages[4096];
static int ct_npages;

static int *
ct_page(void)
{
	void *p = aligned_alloc(4096, 4096);

	ATF_REQUIRE(p != NULL);
	memset(p, 0, 4096);
	if (ct_npages < (int)(sizeof(ct_pages) / sizeof(ct_pages[0])))
		ct_pages[ct_npages++] = p;
	return (p);
}

static void
ct_free_pages(void)
{
	while (ct_npages > 0)
		free(ct_pages[--ct_npages]);
}
static size_t ct_devbuf_base_count;	/* devbuf allocations after boot */

enum hk_profile
ct_profile_for(const char *mode)
{
	if (mode != NULL && strcmp(mode, "proc") == 0)
		return (HK_PROFILE_LEGACY);
	return (HK_PROFILE_MODERN);
}

void
ct_boot(const struct ct_target *t, const char *mode, enum hk_profile prof)
{
	char name[96];
	size_t bytes;

	ATF_REQUIRE_EQ_MSG(hk_boot(prof, NULL), 0, "hk_boot");
	/* The host kernel checks node permissions on open (VOP_ACCESS):
	 * let the uid-1000 test processes open kqemu's 0660 root:wheel node,
	 * as a devfs rule would on DragonFly. */
	ATF_REQUIRE_EQ(hk_setenv("hw.kqemu.perms", "0666"), 0);
	if (mode != NULL && mode[0] != '\0') {
		snprintf(name, sizeof(name), "%s.mode", t->tunable);
		ATF_REQUIRE_EQ(hk_setenv(name, mode), 0);
	}
	ct_shim_unloads = 0;
	ct_devbuf_base_count = 0;
	hk_kmalloc_stats("devbuf", &bytes, &ct_devbuf_base_count);
}

void
ct_setenv_int(const struct ct_target *t, const char *what, int v)
{
	char name[96], val[32];

	snprintf(name, sizeof(name), "%s.%s", t->tunable, what);
	snprintf(val, sizeof(val), "%d", v);
	ATF_REQUIRE_EQ(hk_setenv(name, val), 0);
}

void
ct_set_limits(const struct ct_target *t, int per_proc, int per_uid, int total)
{
	ct_setenv_int(t, "max_per_proc", per_proc);
	ct_setenv_int(t, "max_per_uid", per_uid);
	ct_setenv_int(t, "max_total", total);
}

int
ct_load(const struct ct_target *t)
{
	int error;

	if (!hk_kld_isloaded(t->driver)) {
		if (strcmp(t->driver, "kqemu") == 0)
			hk_setenv("hw.kqemu.engine", "conform");
		error = hk_kldload(t->driver, NULL);
		if (error)
			return (error);
	}
	return (hk_kldload(t->shim, NULL));
}

int
ct_shim_is_proc(const struct ct_target *t)
{
	char name[96], mode[16];
	size_t len = sizeof(mode);

	snprintf(name, sizeof(name), "%s.mode", t->sysctl);
	if (hk_sysctl(name, mode, &len, NULL, 0) != 0)
		return (0);
	return (strcmp(mode, "proc") == 0);
}

int
ct_registered(const struct ct_target *t)
{
	return (hk_modfind(t->shim) == 0);
}

int
ct_unload_shim(const struct ct_target *t)
{
	int attached = ct_registered(t);
	int error = hk_kldunload(t->shim);

	/* Every detach leaves one devbuf allocation: the interposer, or
	 * autoclone's clone and quiesce dev_ops (docs/design.md §7.3).  A file whose
	 * MOD_LOAD failed (5.8 keeps it loaded) detaches nothing. */
	if (error == 0 && attached && !hk_kld_isloaded(t->shim))
		ct_shim_unloads++;
	return (error);
}

void
ct_shutdown_clean(void)
{
	struct hk_leaks lk;
	size_t bytes = 0, count = 0;
	const struct ct_target *ts[] = { &ct_hsingle, &ct_kqemu };
	unsigned i;

	int at_shutdown = 0;

	/* Unload the shims ourselves, so their unloads are
	 * counted; hk_shutdown unloads the rest.  A proc mode shim refuses
	 * (EBUSY) until MOD_SHUTDOWN: hk_shutdown unloads it, leaving its
	 * interposer like any other unload. */
	for (i = 0; i < 2; i++) {
		if (!hk_kld_isloaded(ts[i]->shim))
			continue;
		if (ct_shim_is_proc(ts[i])) {
			ATF_CHECK_EQ_MSG(ct_unload_shim(ts[i]), EBUSY,
			    "kldunload %s (proc mode) before shutdown",
			    ts[i]->shim);
			at_shutdown++;
			continue;
		}
		ATF_CHECK_EQ_MSG(ct_unload_shim(ts[i]), 0,
		    "kldunload %s at shutdown", ts[i]->shim);
	}
	/* A proc shim still loaded holds its interposer there too. */
	ct_shim_unloads += at_shutdown;
	hk_kmalloc_stats("devbuf", &bytes, &count);
	ATF_CHECK_EQ_MSG(count - ct_devbuf_base_count,
	    (size_t)ct_shim_unloads,
	    "devbuf allocations left: %zu, shim unloads %d",
	    count - ct_devbuf_base_count, ct_shim_unloads);
	if (ct_shim_unloads == 0) {
		ATF_CHECK_EQ(hk_shutdown_clean(), 0);
		ct_free_pages();
		return;
	}
	ATF_REQUIRE_EQ(hk_shutdown(&lk), 0);
	ct_free_pages();
	/* The dev_ops left behind by detach (one struct dev_ops each) are
	 * the documented leak; nothing else may remain. */
	ATF_CHECK_EQ_MSG(lk.kmalloc_count, (size_t)ct_shim_unloads,
	    "%zu allocations (%zu bytes) leaked, %d expected",
	    lk.kmalloc_count, lk.kmalloc_bytes, ct_shim_unloads);
	ATF_CHECK_EQ(lk.cdevs, 0);
	ATF_CHECK_EQ(lk.files, 0);
	ATF_CHECK_EQ(lk.procs, 0);
	ATF_CHECK_EQ(lk.modules, 0);
}

void
ct_proc_new(struct ct_proc *cp, uid_t uid)
{
	ATF_REQUIRE_EQ(hk_proc_create(uid, uid, &cp->p), 0);
	cp->pid = hk_proc_pid(cp->p);
	cp->buf = ct_page();
	ATF_REQUIRE_EQ(hk_proc_map_user(cp->p, cp->buf, 4096, 1), 0);
}

int
ct_fork(struct ct_proc *cp, struct ct_proc *child)
{
	int error = hk_fork(&child->p);

	if (error)
		return (error);
	child->pid = hk_proc_pid(child->p);
	child->buf = ct_page();
	ATF_REQUIRE_EQ(hk_proc_map_user(child->p, child->buf, 4096, 1), 0);
	return (0);
}

void
ct_enter(struct ct_proc *cp)
{
	ATF_REQUIRE_EQ(hk_thread_enter(cp->p), 0);
}

void
ct_leave(void)
{
	hk_thread_leave();
}

int
ct_open(const struct ct_target *t, int *fdp)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/%s", t->node);
	return (hk_open(path, O_RDWR, fdp));
}

int
ct_set(struct ct_proc *cp, int fd, int v)
{
	cp->buf[0] = v;
	return (hk_ioctl(fd, HS_IOC_SET, &cp->buf[0]));
}

int
ct_get(struct ct_proc *cp, int fd, int *v)
{
	int error = hk_ioctl(fd, HS_IOC_GET, &cp->buf[1]);

	*v = cp->buf[1];
	return (error);
}

int
ct_serial(struct ct_proc *cp, int fd, int *serial)
{
	int error = hk_ioctl(fd, HS_IOC_SERIAL, &cp->buf[2]);

	*serial = cp->buf[2];
	return (error);
}

int
ct_sleep(struct ct_proc *cp, int fd, int ticks)
{
	cp->buf[3] = ticks;
	return (hk_ioctl(fd, HS_IOC_SLEEP, &cp->buf[3]));
}

long
ct_stat(const struct ct_target *t, const char *what)
{
	char name[96];
	long long v;

	snprintf(name, sizeof(name), "%s.%s", t->sysctl, what);
	if (hk_sysctl_int(name, &v) != 0)
		return (-1);
	return ((long)v);
}

int
ct_listing(const struct ct_target *t, char *buf, size_t len)
{
	char name[96];

	snprintf(name, sizeof(name), "%s.listing", t->sysctl);
	return (hk_sysctl(name, buf, &len, NULL, 0));
}

int
ct_listing_count_pid(const struct ct_target *t, pid_t pid)
{
	static char buf[1 << 16];
	char *line, *save;
	int unit, lpid, n = 0;

	if (ct_listing(t, buf, sizeof(buf)) != 0)
		return (-1);
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		if (sscanf(line, "%d %d", &unit, &lpid) == 2 && lpid == pid)
			n++;
	return (n);
}

long
ct_instances(void)
{
	long long v;

	if (hk_sysctl_int("debug.hsingle.instances", &v) != 0)
		return (-1);
	return ((long)v);
}

int
ct_clone_nodes(const struct ct_target *t)
{
	char name[64];
	size_t nl = strlen(t->node);
	int i, n = 0;

	for (i = 0; hk_devfs_node(i, name, sizeof(name)) == 0; i++) {
		if (strncmp(name, t->node, nl) == 0 && name[nl] != '\0' &&
		    isdigit((unsigned char)name[nl]))
			n++;
	}
	return (n);
}
