/*
 * kqemu_sysctl.c - what kqemu.ko tells: the sysctl tree hw.kqemu.* (the
 * ABI version, the engine, the module's license, the holders, the core's
 * statistics, and hw.kqemu.list, one line per live instance).
 *
 * Owns: the sysctl context of hw.kqemu, built at MOD_LOAD under the
 * kernel's own "hw" node and freed at MOD_UNLOAD (kqemu_module.c calls
 * kqemu_sysctl_attach and kqemu_sysctl_detach).
 *
 * Locking: no glue lock.  The statistics come from the core as one
 * snapshot under its driver lock (kqemu_core_stats), the listing from one
 * walk under it (kqemu_core_list); kqemu_holds is read with an atomic
 * load.  The buffer of the listing is allocated before the walk, with no
 * lock held.
 *
 * Design: docs/design.md §8.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/errno.h>
#include <sys/malloc.h>
#include <sys/sysctl.h>

#include "kqemu.h"
#include "kqemu_core.h"
#include "kqemu_var.h"

static int kqemu_version_value = KQEMU_VERSION;

/* One field of the core's statistics; arg2 is its offset. */
static int
kqemu_sysctl_stat(SYSCTL_HANDLER_ARGS)
{
	struct kqemu_stats st;
	unsigned long v;

	kqemu_core_stats(&st);
	v = *(unsigned long *)((char *)&st + arg2);
	return (sysctl_handle_long(oidp, &v, 0, req));
}

static int
kqemu_sysctl_int(SYSCTL_HANDLER_ARGS)
{
	int v = __atomic_load_n((int *)arg1, __ATOMIC_RELAXED);

	return (sysctl_handle_int(oidp, &v, 0, req));
}

/*
 * hw.kqemu.list: one line per live instance,
 *   "<cdev> pid=<pid> state=<NEW|READY> engine=<name> ioctls=<n> execs=<n>
 *    softmmu=<n> intr=<n> phys_calls=<n> ranges=<n> modify=<n>
 *    flushed=<n> modified=<n> locked=<pages> exception=<n> int=<n>
 *    syscall=<n> abort=<n> user_pages=<n> kernel_pages=<n>
 *    lock_failures=<n> schedules=<n> yields=<n> slices=<n>"
 * (exception..abort: EXEC exit reasons; user_pages..yields: what engine
 * kqemu's monitor holds now and how often it gave the CPU away)
 * so an administrator (and a test) sees who holds which instance.
 */
static int
kqemu_sysctl_list(SYSCTL_HANDLER_ARGS)
{
	struct kqemu_instance_info *info;
	char line[512];
	int error, i, n, max;

	max = kqemu_core_live() + 8;	/* more may open meanwhile */
	info = kmalloc(sizeof(*info) * max, M_KQEMU, M_WAITOK | M_NULLOK | M_ZERO);
	if (info == NULL)
		return (ENOMEM);
	n = kqemu_core_list(info, max);
	if (n > max)
		n = max;
	error = 0;
	for (i = 0; i < n && error == 0; i++) {
		struct kqemu_instance_info *o = &info[i];

		ksnprintf(line, sizeof(line),
		    "%s pid=%d state=%s engine=%s ioctls=%lu execs=%lu "
		    "softmmu=%lu intr=%lu phys_calls=%lu ranges=%lu modify=%lu "
		    "flushed=%lu modified=%lu locked=%lu exception=%lu int=%lu "
		    "syscall=%lu abort=%lu user_pages=%lu kernel_pages=%lu "
		    "lock_failures=%lu schedules=%lu yields=%lu slices=%lu\n",
		    o->name, o->pid, o->ready ? "READY" : "NEW", o->engine,
		    o->ioctls, o->execs, o->exec_softmmu, o->exec_intr,
		    o->set_phys_mem, (unsigned long)o->es.phys_ranges,
		    o->modify_ram_pages, (unsigned long)o->es.pages_flushed,
		    (unsigned long)o->es.modified_pages,
		    (unsigned long)o->es.locked_pages,
		    o->exec_exception, o->exec_int, o->exec_syscall,
		    o->exec_abort,
		    (unsigned long)o->es.user_pages,
		    (unsigned long)o->es.kernel_pages,
		    (unsigned long)o->es.lock_failures,
		    (unsigned long)o->es.schedules,
		    (unsigned long)o->es.yields,
		    (unsigned long)o->es.slices);
		error = SYSCTL_OUT(req, line, strlen(line));
	}
	if (error == 0)
		error = SYSCTL_OUT(req, "", 1);
	kfree(info, M_KQEMU);
	return (error);
}

/*
 * hw.kqemu is built at MOD_LOAD under the kernel's own "hw" node
 * (SYSCTL_STATIC_CHILDREN(_hw): kern_mib.c defines it in every kernel) and
 * torn down with its context at MOD_UNLOAD.
 */
static struct sysctl_ctx_list kqemu_sysctl_ctx;

#define KQEMU_STAT(f, d)	{ #f, __builtin_offsetof(struct kqemu_stats, f), d }
static const struct {
	const char	*name;
	int		offset;
	const char	*descr;
} kqemu_sysctl_stats[] = {
	KQEMU_STAT(instances, "Live instances"),
	KQEMU_STAT(opens, "Instances created"),
	KQEMU_STAT(inits, "Successful INITs"),
	KQEMU_STAT(init_errors, "Refused INITs"),
	KQEMU_STAT(execs, "Successful EXECs"),
	KQEMU_STAT(exec_softmmu, "EXECs that returned SOFTMMU"),
	KQEMU_STAT(exec_intr, "EXECs that returned INTR (signal pending)"),
	KQEMU_STAT(exec_exception, "EXECs that returned a guest exception"),
	KQEMU_STAT(exec_int, "EXECs that returned a guest software interrupt"),
	KQEMU_STAT(exec_syscall, "EXECs that returned a guest syscall"),
	KQEMU_STAT(exec_abort, "EXECs that returned ABORT (monitor error)"),
	KQEMU_STAT(exec_other, "EXECs that returned another exit reason"),
	KQEMU_STAT(set_phys_mem, "Successful SET_PHYS_MEMs"),
	KQEMU_STAT(modify_ram_pages, "Successful MODIFY_RAM_PAGES"),
	KQEMU_STAT(ioctl_errors, "ioctls answered with an errno"),
	KQEMU_STAT(locked_pages, "Locked-pages budget in use"),
	KQEMU_STAT(max_locked_pages, "Locked-pages budget (hw.kqemu.max_locked_pages)"),
};
#undef KQEMU_STAT

int
kqemu_sysctl_attach(void)
{
	struct sysctl_oid_list *hw, *kq;
	struct sysctl_oid *node;
	size_t i;

	hw = SYSCTL_STATIC_CHILDREN(_hw);
	sysctl_ctx_init(&kqemu_sysctl_ctx);
	node = SYSCTL_ADD_NODE(&kqemu_sysctl_ctx, hw, OID_AUTO, "kqemu",
	    CTLFLAG_RD, 0, "kqemu accelerator client driver");
	if (node == NULL) {
		sysctl_ctx_free(&kqemu_sysctl_ctx);
		return (EEXIST);
	}
	kq = SYSCTL_CHILDREN(node);
	SYSCTL_ADD_INT(&kqemu_sysctl_ctx, kq, OID_AUTO, "version", CTLFLAG_RD,
	    &kqemu_version_value, 0, "kqemu ABI version answered to GET_VERSION");
	SYSCTL_ADD_STRING(&kqemu_sysctl_ctx, kq, OID_AUTO, "engine", CTLFLAG_RD,
	    kqemu_engine_name, 0,
	    "Engine new instances use (loader tunable hw.kqemu.engine)");
	SYSCTL_ADD_STRING(&kqemu_sysctl_ctx, kq, OID_AUTO, "license", CTLFLAG_RD,
	    __DECONST(char *, kqemu_module_license), 0,
	    "This module's license (GPL when kqemu's monitor is linked)");
	SYSCTL_ADD_PROC(&kqemu_sysctl_ctx, kq, OID_AUTO, "holders",
	    CTLTYPE_INT | CTLFLAG_RD, &kqemu_holds, 0, kqemu_sysctl_int, "I",
	    "Holds taken by wrapping modules (kqemu_hold)");
	for (i = 0; i < sizeof(kqemu_sysctl_stats) / sizeof(kqemu_sysctl_stats[0]); i++) {
		SYSCTL_ADD_PROC(&kqemu_sysctl_ctx, kq, OID_AUTO,
		    kqemu_sysctl_stats[i].name, CTLTYPE_ULONG | CTLFLAG_RD,
		    NULL, kqemu_sysctl_stats[i].offset, kqemu_sysctl_stat, "LU",
		    kqemu_sysctl_stats[i].descr);
	}
	SYSCTL_ADD_PROC(&kqemu_sysctl_ctx, kq, OID_AUTO, "list",
	    CTLTYPE_STRING | CTLFLAG_RD, NULL, 0, kqemu_sysctl_list, "A",
	    "Live instances, one per line");
	return (0);
}

void
kqemu_sysctl_detach(void)
{
	sysctl_ctx_free(&kqemu_sysctl_ctx);
}
