/*
 * clone_proc.c - proc mode, for kernels whose dev args carry no file: one
 * clone per process, found by pid.  Nothing but the process's exit and the
 * device's last close tells that a clone is done, so this file owns both:
 * the at_exit hook (shared by every proc shim), the last-close reap, and
 * why a proc shim refuses to be detached.
 * The entry points themselves are the interposer's (clone_interposer.c).
 *
 * Locking: clone_exit_hooks and clone_shutting_down are touched by module
 * events only (serialised by the kernel linker).  The hook runs inside
 * clone_enter()/clone_leave() like every entry point.  The reaps hold a
 * reference on each record they end (clone_reap_rec), never a lock.
 *
 * Design: docs/design.md §4, §7.4.
 */
#include <sys/param.h>
#include <sys/fcntl.h>
#include <sys/stat.h>

#include "clone/clone_shim_var.h"

static int clone_exit_hooks;	/* attached shims using the at_exit hook */
static int clone_shutting_down;	/* MOD_SHUTDOWN came (clone_shim_shutdown) */

/*
 * No fp: the device's last close reaps the records (nobody has the device
 * open) -- but not one that never served a call and is not the closer's
 * (CLONE_WALK_IDLE says why).  The interposer has no D_TRACKCLOSE in proc
 * mode (cleared if the driver had it), so its d_close is the device's last
 * close.  The instance on the device itself is the shim's (nothing to
 * forward), unless a file opened before attach had it: that file is closed
 * now too, so its instance goes (clone_close_unheld_base).  The walk holds
 * the table lock one chunk at a time; each record is ended with the walk's
 * own reference, so a record another reaper ended meanwhile (or a new one
 * of a reused pid) is never ended by mistake.
 */
void
clone_proc_last_close(struct clone_shim *shim, int devtype)
{
	struct clone_core_walk w;
	struct clone_rec *recs[16];
	int i, n, pid = clone_curpid();

	clone_core_walk_begin(shim->core, &w);
	while (!w.done) {
		n = clone_core_walk_next(shim->core, &w, CLONE_WALK_IDLE, pid,
		    recs, 16);
		for (i = 0; i < n; i++)
			clone_reap_rec(shim, recs[i], FREAD | FWRITE, devtype);
	}
	clone_core_walk_end(shim->core, &w);
	clone_close_unheld_base(shim, devtype);
}

/*
 * proc mode: a process exits.  Runs before its files are closed
 * (kern_exit.c exit1), with every other thread of it out of the kernel:
 * its clone goes.  (autoclone uses no exit hook:
 * clone_autoclone_reap_orphans.)
 */
static void
clone_at_exit(struct thread *td)
{
	int slot = clone_enter();
	struct proc *p = td->td_proc;
	struct clone_rec *recs[4];
	int i, j, n;

	if (p != NULL) {
		for (i = 0; i < CLONE_MAX_SHIMS; i++) {
			struct clone_shim *shim = clone_shim_slot(i);

			if (shim == NULL || shim->mode != CLONE_MODE_PROC)
				continue;
			/* Each found record is LIVE and referenced: ending it
			 * makes it CLOSING, so the loop ends. */
			while ((n = clone_core_recs_of_pid(shim->core,
			    (int)p->p_pid, recs, 4)) > 0) {
				for (j = 0; j < n; j++)
					clone_reap_rec(shim, recs[j],
					    FREAD | FWRITE, S_IFCHR);
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

/*
 * Whether a proc shim may be detached: never while the system runs
 * (EBUSY), because its module could then never be unloaded safely.
 *
 * The hook is code of this module, reached through an entry of 5.8.1's
 * exit_list.  exit1() (kern_exit.c) walks that list with no lock:
 * TAILQ_FOREACH(ep, &exit_list, next) ep->function(td).  rm_at_exit()
 * unlinks the entry and kfree()s it at once.  A process that loaded the
 * pointer to our entry just before rm_at_exit() -- it may then lose its
 * CPU to an interrupt, or its whole vCPU to the host, for any time --
 * later reads ep->function and ep->next from freed memory, and calls
 * whatever is there.  No lock, reference or flag of the kernel's tells a
 * module that no process is between those loads, so no wait of ours can
 * be proven long enough (a grace period and a scan for P_POSTEXIT were
 * tried: narrower, never closed).  And the entry must be gone before
 * MOD_UNLOAD returns 0, since linker_file_unload() (kern_linker.c) then
 * unmaps this module's text that ep->function points into.  So the entry
 * stays, and the module with it: detach refuses, kldunload says EBUSY,
 * and the shim keeps cloning (docs/design.md §7.4, kqemu_clone(4)).
 *
 * The one exception is after MOD_SHUTDOWN (clone_shim_shutdown): a real
 * kernel never unloads a module after it (module_shutdown runs from
 * shutdown_post_sync, on the way to halt), and the host kernel unloads
 * its modules only after every process is gone, so nothing can be in
 * exit1()'s walk.
 */
int
clone_proc_may_unhook(void)
{
	return (clone_shutting_down ? 0 : EBUSY);
}

void
clone_shim_shutdown(struct clone_shim *shim)
{
	clone_shutting_down = 1;
}

/* Detach, after clone_proc_may_unhook() allowed it, the slot was cleared
 * and the in-flight counters drained: the last proc shim removes the
 * hook. */
void
clone_unhook_exit(void)
{
	if (--clone_exit_hooks == 0)
		rm_at_exit(clone_at_exit);
}
