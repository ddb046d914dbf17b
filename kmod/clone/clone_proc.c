/*
 * clone_proc.c - proc mode, for kernels whose dev args carry no file: one
 * clone per process, found by pid.  Nothing but the process's exit and the
 * device's last close tells that a clone is done, so this file owns both:
 * the at_exit hook (shared by every proc shim) and the last-close reap.
 * The entry points themselves are the interposer's (clone_interposer.c).
 *
 * Locking: clone_exit_hooks is touched by attach/detach only (module
 * events, serialised by the kernel linker).  The hook runs inside
 * clone_enter()/clone_leave() like every entry point.
 *
 * Design: docs/design.md §4, §7.4.
 */
#include <sys/param.h>
#include <sys/fcntl.h>
#include <sys/stat.h>

#include "clone/clone_shim_var.h"

static int clone_exit_hooks;	/* attached shims using the at_exit hook */

/*
 * No fp: the device's last close reaps the records (nobody has the device
 * open) -- but not one that never served a call and is not the closer's:
 * devfs counts an open only after its d_open returned, so that may be an
 * open in flight in another process (clone_core_idle_keys).  The
 * interposer has no D_TRACKCLOSE in proc mode (cleared if the driver had
 * it), so its d_close is the device's last close.  The instance on the
 * device itself is the shim's (nothing to forward), unless a file opened
 * before attach had it: that file is closed now too, so its instance goes
 * (clone_close_unheld_base).
 */
void
clone_proc_last_close(struct clone_shim *shim, int devtype)
{
	const void *keys[32];
	int i, n;

	while ((n = clone_core_idle_keys(shim->core, clone_curpid(), keys,
	    32)) > 0) {
		for (i = 0; i < n; i++)
			clone_unpublish_and_rele(shim, keys[i], FREAD | FWRITE,
			    devtype, NULL);
	}
	clone_close_unheld_base(shim, devtype);
}

/*
 * proc mode: a process exits.  Runs before its files are closed
 * (kern_exit.c exit1), with every other thread of it out of the kernel:
 * its clone goes.  (autoclone uses no exit hook: clone_autoclone_reap_orphans.)
 */
static void
clone_at_exit(struct thread *td)
{
	int slot = clone_enter();
	struct proc *p = td->td_proc;
	const void *keys[4];
	int i, j, n;

	if (p != NULL) {
		for (i = 0; i < CLONE_MAX_SHIMS; i++) {
			struct clone_shim *shim = clone_shim_slot(i);

			if (shim == NULL)
				continue;
			for (;;) {
				if (shim->mode == CLONE_MODE_PROC)
					n = clone_core_keys_of_pid(shim->core,
					    (int)p->p_pid, keys, 4);
				else
					n = 0;
				if (n <= 0)
					break;
				for (j = 0; j < n; j++)
					clone_unpublish_and_rele(shim, keys[j],
					    FREAD | FWRITE, S_IFCHR, NULL);
			}
		}
	}
	clone_leave(slot);
}

/* The at_exit hook, shared by the proc shims. */
int
clone_hook_exit(void)
{
	int error = 0;

	if (clone_exit_hooks == 0)
		error = at_exit(clone_at_exit);	/* M_NOWAIT: can fail */
	if (error == 0)
		clone_exit_hooks++;
	return (error);
}

/* allproc_scan callback: count processes inside exit1()'s at_exit walk. */
static int
clone_count_exiting(struct proc *p, void *data)
{
	if (p->p_flags & P_POSTEXIT)
		++*(int *)data;
	return (0);
}

/*
 * Called by detach only after the shim's slot was cleared and the in-flight
 * counters drained.  5.8's exit1() walks exit_list with no lock, and
 * rm_at_exit() kfree()s our entry at once: a process still inside
 * clone_at_exit, or just returned from it, would then load the next link
 * from the freed entry.  After the drain no walker is inside the hook, and
 * one that calls it now finds no shim and returns at once; the grace period
 * covers the few instructions between its return and the walker's load of
 * the link.  What no module can close: a walker that loaded the pointer to
 * our entry just before rm_at_exit() unlinked it, or was stalled past the
 * grace (procfs's own rm_at_exit() has the same race).  So only proc mode
 * uses the hook (docs/design.md §7.4).
 */
void
clone_unhook_exit(void)
{
	int i, n;

	if (--clone_exit_hooks > 0)
		return;
	/* 50 ms of grace (at least one tick). */
	tsleep(&clone_exit_hooks, 0, "clnexit", hz / 20 > 0 ? hz / 20 : 1);
	/*
	 * A walker that loaded the pointer to our entry and then lost its CPU
	 * (an interrupt, or a vCPU the host descheduled) is still inside
	 * exit1() between P_POSTEXIT, set just before the walk, and its move
	 * to the zombie list: wait until no process is there (bounded: one
	 * stuck in exit must not hang the unload).  What remains is a walker
	 * that sets P_POSTEXIT after the last scan and reaches our entry in
	 * the instructions before rm_at_exit() frees it.
	 */
	for (i = 0; i < 100; i++) {
		n = 0;
		allproc_scan(clone_count_exiting, &n, 0);
		if (n == 0)
			break;
		tsleep(&clone_exit_hooks, 0, "clnexit", 1);
	}
	rm_at_exit(clone_at_exit);
}
