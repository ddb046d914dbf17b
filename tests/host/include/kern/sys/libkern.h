/* sys/libkern.h (host shadow): libkern's string and integer helpers. */
#ifndef _HK_SYS_LIBKERN_H_
#define _HK_SYS_LIBKERN_H_
#include <sys/types.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
size_t	hk_strlcpy(char *dst, const char *src, size_t size);
size_t	hk_strlcat(char *dst, const char *src, size_t size);
#define strlcpy	hk_strlcpy
#define strlcat	hk_strlcat
static __inline int imax(int a, int b) { return (a > b ? a : b); }
static __inline int imin(int a, int b) { return (a < b ? a : b); }
static __inline long lmax(long a, long b) { return (a > b ? a : b); }
static __inline long lmin(long a, long b) { return (a < b ? a : b); }
static __inline u_int umax(u_int a, u_int b) { return (a > b ? a : b); }
static __inline u_int umin(u_int a, u_int b) { return (a < b ? a : b); }
static __inline u_long ulmax(u_long a, u_long b) { return (a > b ? a : b); }
static __inline u_long ulmin(u_long a, u_long b) { return (a < b ? a : b); }
#endif
