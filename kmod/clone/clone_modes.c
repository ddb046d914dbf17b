/*
 * clone_modes.c - which modes this kernel can run, their names, and which
 * drivers the shim can wrap at all.
 *
 * Owns: the one capability table (by __DragonFly_version: on the host it
 * follows the kernel profile a test chose, on a real kernel it is a
 * constant), the default choice, the mode names used by the loader
 * tunable and the sysctl tree, and the driver checks attach makes first.
 *
 * Locking: none; everything here is constant or read-only.
 *
 * Design: docs/design.md §4.
 */
#include "clone/clone_shim_var.h"

int
clone_shim_mode_supported(enum clone_shim_mode mode)
{
	int v = __DragonFly_version;

	switch (mode) {
	case CLONE_MODE_AUTOCLONE:
		return (v >= CLONE_VERSION_CLONE_HANDLERS ? 0 : EOPNOTSUPP);
	case CLONE_MODE_FP:
		return (v >= CLONE_VERSION_A_FP ? 0 : EOPNOTSUPP);
	case CLONE_MODE_NATIVE:
		return (v >= CLONE_VERSION_CDEVPRIV ? 0 : EOPNOTSUPP);
	case CLONE_MODE_PROC:
		return (0);
	default:
		return (EINVAL);
	}
}

enum clone_shim_mode
clone_shim_default_mode(void)
{
	if (clone_shim_mode_supported(CLONE_MODE_AUTOCLONE) == 0)
		return (CLONE_MODE_AUTOCLONE);
	if (clone_shim_mode_supported(CLONE_MODE_FP) == 0)
		return (CLONE_MODE_FP);
	return (CLONE_MODE_PROC);
}

static const char *clone_mode_names[] = {
	[CLONE_MODE_DEFAULT] = "default",
	[CLONE_MODE_AUTOCLONE] = "autoclone",
	[CLONE_MODE_FP] = "fp",
	[CLONE_MODE_NATIVE] = "native",
	[CLONE_MODE_PROC] = "proc",
};

const char *
clone_shim_mode_name(enum clone_shim_mode mode)
{
	if ((unsigned)mode > CLONE_MODE_PROC)
		return ("?");
	return (clone_mode_names[mode]);
}

int
clone_shim_mode_by_name(const char *name)
{
	int i;

	for (i = CLONE_MODE_AUTOCLONE; i <= CLONE_MODE_PROC; i++)
		if (strcmp(name, clone_mode_names[i]) == 0)
			return (i);
	if (strcmp(name, "default") == 0 || name[0] == '\0')
		return (CLONE_MODE_DEFAULT);
	return (-1);
}

enum clone_shim_mode
clone_shim_mode(const struct clone_shim *shim)
{
	return (shim->mode);
}

/*
 * What a driver must be for the shim to keep it safe in every mode.
 * Returns 0, or ENODEV with *why saying what is missing (attach prints
 * it; kqemu_clone(4) says what it means for a user):
 *  - D_MPSAFE: the shim calls the driver's d_open/d_close from paths the
 *    kernel's dev_d* wrappers never see (a process's exit, a reap, the
 *    instance held on the device, unload), so nothing would take the MP
 *    lock a driver without D_MPSAFE relies on.
 *  - no d_mmap, d_mmap_single or d_kqfilter of its own: a clone is
 *    destroyed (and the driver's state for it closed) at its last close,
 *    but a mapping or a knote made through it can outlive that close and
 *    would call the driver on a clone that is gone -- or, after an
 *    unload, through ops that are gone.
 *  - no d_uksmap: vm_mmap.c calls it with the device itself, never with
 *    a clone, so a mapping would reach the instance of no open.
 * "Its own" means other than the kernel's default for that operation
 * (compile_dev_ops on an empty dev_ops gives exactly those); a driver
 * with a d_default handles every operation itself and is refused too.
 */
int
clone_shim_driver_supported(cdev_t dev, const char **why)
{
	struct dev_ops defaults, *ops = dev->si_ops;

	bzero(&defaults, sizeof(defaults));
	compile_dev_ops(&defaults);
	*why = NULL;
	if ((ops->head.flags & D_MPSAFE) == 0)
		*why = "not D_MPSAFE";
	else if (ops->d_mmap != defaults.d_mmap ||
	    ops->d_mmap_single != defaults.d_mmap_single)
		*why = "d_mmap or d_mmap_single (a mapping outlives the clone)";
	else if (ops->d_kqfilter != defaults.d_kqfilter)
		*why = "d_kqfilter (a knote outlives the clone)";
	else if (ops->d_uksmap != NULL)
		*why = "d_uksmap (maps the device itself, never a clone)";
	return (*why != NULL ? ENODEV : 0);
}
