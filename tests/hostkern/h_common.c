/* h_common.c - see h_common.h. */
#include "h_common.h"

#include <fcntl.h>
#include <stdio.h>

/*
 * AddressSanitizer: abort on the first report, so a case dies where the
 * kernel model went wrong.  The leak suppressions and the quiet report are
 * the host kernel's (tests/host/kern/kern_core.c).
 */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return ("print_suppressions=0:abort_on_error=1");
}

void
h_boot(enum hk_profile profile)
{
	ATF_REQUIRE_EQ(hk_boot(profile, NULL), 0);
}

void
h_load(const char *module)
{
	int error = hk_kldload(module, NULL);

	ATF_REQUIRE_MSG(error == 0, "kldload %s: %d", module, error);
}

struct hk_proc *
h_proc(uid_t uid, gid_t gid)
{
	struct hk_proc *p;

	ATF_REQUIRE_EQ(hk_proc_create(uid, gid, &p), 0);
	return (p);
}

long long
h_sysctl(const char *name)
{
	long long v = -1;
	int error = hk_sysctl_int(name, &v);

	ATF_REQUIRE_MSG(error == 0, "sysctl %s: %d", name, error);
	return (v);
}

int
h_open(const char *path, int flags)
{
	int fd = -1, error = hk_open(path, flags, &fd);

	ATF_REQUIRE_MSG(error == 0, "open %s: %d", path, error);
	return (fd);
}

void
h_shutdown_clean(void)
{
	hk_thread_leave();
	ATF_REQUIRE_EQ(hk_shutdown_clean(), 0);
}
