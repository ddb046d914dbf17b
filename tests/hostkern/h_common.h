/*
 * h_common.h - helpers shared by the host kernel's semantic tests.
 * Every case boots a fresh kernel (h_boot) and ends with h_shutdown_clean.
 */
#ifndef H_COMMON_H
#define H_COMMON_H
#include <atf-c.h>
#include <hk.h>
#include <errno.h>

/* BSD ioctls of the semcount test KLD (tests/kmod/semcount). */
#define SEMCOUNT_GETOPENS	0x40047301UL	/* _IOR('s', 1, int) */
#define SEMCOUNT_FFLAG		0x40047302UL	/* _IOR('s', 2, int) */
#define SEMCOUNT_ADD		0xc0107303UL	/* _IOWR('s', 3, int[4]) */
#define SEMCOUNT_SLEEP		0x20007304UL	/* _IO('s', 4) */
#define SEMCOUNT_CURSIG		0x40047305UL	/* _IOR('s', 5, int) */

void	h_boot(enum hk_profile profile);
void	h_load(const char *module);
struct hk_proc *h_proc(uid_t uid, gid_t gid);
long long h_sysctl(const char *name);
int	h_open(const char *path, int flags);	/* asserts success */
void	h_shutdown_clean(void);
#endif
