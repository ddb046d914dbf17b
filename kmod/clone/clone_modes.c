/*
 * clone_modes.c - which modes this kernel can run, and their names.
 *
 * Owns: the one capability table (by __DragonFly_version: on the host it
 * follows the kernel profile a test chose, on a real kernel it is a
 * constant), the default choice, and the mode names used by the loader
 * tunable and the sysctl tree.
 *
 * Locking: none; everything here is constant or read-only.
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
