/*
 * kqemu_var.h - what the files of kqemu.ko's C glue share.
 *
 * Owns: the declarations of the glue's shared state (defined in
 * kqemu_dev.c and kqemu_module.c) and the prototypes the glue files call
 * across each other.  The core's interface is kqemu_core.h, the OS
 * services the core takes are kqemu_os.h; nothing but the glue includes
 * this header, and it is kernel C (the C++ core never sees it).
 *
 * The glue, one concern a file (docs/design.md §2: the only kqemu files
 * that include kernel headers):
 *   kqemu_dev.c     the dev_ops and /dev/kqemu's entry points, the holders
 *   kqemu_module.c  the module event handler and the loader tunables
 *   kqemu_sysctl.c  the sysctl tree hw.kqemu.*
 *   kqemu_os.c      the kqemu_os_* services of the C++ core, malloc type
 * (kqemu_mon*.c, the monitor's host glue built with KQEMU_SRC, share
 * nothing declared here.)
 *
 * Locking: kqemu_lk (lockmgr, sleepable) guards kqemu_holds and
 * kqemu_unloading and serializes every cdev's si_drv1/si_drv2 against
 * d_open and d_close (kqemu_dev.c says how); MOD_UNLOAD decides under it.
 * kqemu_dev and kqemu_engine_name are written only by the module events,
 * which the kernel linker serializes: the name before hw.kqemu exists,
 * kqemu_dev by make_dev and after destroy_dev.  No entry point reads
 * kqemu_dev.
 * Order: kqemu_lk, then the core's driver lock.
 *
 * Design: docs/design.md §8.
 */
#ifndef KQEMU_VAR_H
#define KQEMU_VAR_H

#include <sys/param.h>
#include <sys/conf.h>
#include <sys/lock.h>
#include <sys/malloc.h>

MALLOC_DECLARE(M_KQEMU);

/* kqemu_dev.c */
extern struct dev_ops	kqemu_ops;
extern cdev_t		kqemu_dev;		/* /dev/kqemu; module events */
extern struct lock	kqemu_lk;
extern int		kqemu_holds;		/* kqemu_lk */
extern int		kqemu_unloading;	/* kqemu_lk */

/* kqemu_module.c: the engine new instances use (hw.kqemu.engine). */
extern char		kqemu_engine_name[16];

/* kqemu_sysctl.c: hw.kqemu, built at MOD_LOAD (0 or EEXIST) and freed
 * at MOD_UNLOAD. */
int	kqemu_sysctl_attach(void);
void	kqemu_sysctl_detach(void);

#endif /* KQEMU_VAR_H */
