/*
 * kqemu_export.h - what kqemu.ko exports to a module that wraps its device
 * (kqemu_clone.ko).
 *
 * Why: DragonFly's linker drops a reference even when MOD_UNLOAD vetoes, so
 * MODULE_DEPEND alone does not keep kqemu loaded under its wrapper
 * (docs/design.md §10).  A wrapper holds kqemu for as long as it keeps
 * kqemu's dev_ops or cdevs anywhere: kqemu's MOD_UNLOAD refuses with EBUSY
 * while any hold is outstanding (and also while its cdev is intercepted or
 * any instance lives, held or not).
 *
 * Locking: both calls take kqemu's device lock (a sleepable lockmgr lock);
 * call them from thread context, without a spinlock held.
 */
#ifndef KQEMU_EXPORT_H
#define KQEMU_EXPORT_H

#ifdef __cplusplus
extern "C" {
#endif

/* Take a hold: 0, or ENXIO when kqemu is already unloading. */
int	kqemu_hold(void);
/* Drop a hold taken by kqemu_hold(). */
void	kqemu_rele(void);

#ifdef __cplusplus
}
#endif

#endif /* KQEMU_EXPORT_H */
