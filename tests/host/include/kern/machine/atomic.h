/*
 * machine/atomic.h (host shadow): DragonFly's x86_64 atomic ops, with its
 * exact signatures, on the compiler's __atomic builtins (sequentially
 * consistent, so TSan understands them).
 */
#ifndef _HK_MACHINE_ATOMIC_H_
#define _HK_MACHINE_ATOMIC_H_
#include <sys/types.h>

#define HK_ATOMIC_OPS(NAME, TYPE)						\
static __inline void atomic_add_##NAME(volatile TYPE *p, TYPE v)		\
	{ __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }				\
static __inline void atomic_subtract_##NAME(volatile TYPE *p, TYPE v)		\
	{ __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }				\
static __inline void atomic_set_##NAME(volatile TYPE *p, TYPE v)		\
	{ __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }				\
static __inline void atomic_clear_##NAME(volatile TYPE *p, TYPE v)		\
	{ __atomic_fetch_and(p, ~v, __ATOMIC_SEQ_CST); }			\
static __inline TYPE atomic_load_acq_##NAME(volatile TYPE *p)			\
	{ return __atomic_load_n(p, __ATOMIC_ACQUIRE); }			\
static __inline void atomic_store_rel_##NAME(volatile TYPE *p, TYPE v)		\
	{ __atomic_store_n(p, v, __ATOMIC_RELEASE); }				\
static __inline TYPE atomic_readandclear_##NAME(volatile TYPE *p)		\
	{ return __atomic_exchange_n(p, 0, __ATOMIC_SEQ_CST); }

HK_ATOMIC_OPS(char, u_char)
HK_ATOMIC_OPS(short, u_short)
HK_ATOMIC_OPS(int, u_int)
HK_ATOMIC_OPS(long, u_long)
HK_ATOMIC_OPS(64, uint64_t)
HK_ATOMIC_OPS(32, uint32_t)

static __inline int
atomic_cmpset_int(volatile u_int *dst, u_int expect, u_int src)
{
	return __atomic_compare_exchange_n(dst, &expect, src, 0,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static __inline int
atomic_fcmpset_int(volatile u_int *dst, u_int *expect, u_int src)
{
	return __atomic_compare_exchange_n(dst, expect, src, 0,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static __inline int
atomic_cmpset_long(volatile u_long *dst, u_long expect, u_long src)
{
	return __atomic_compare_exchange_n(dst, &expect, src, 0,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static __inline int
atomic_fcmpset_long(volatile u_long *dst, u_long *expect, u_long src)
{
	return __atomic_compare_exchange_n(dst, expect, src, 0,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static __inline int
atomic_cmpset_ptr(volatile void *dst, void *expect, void *src)
{
	return __atomic_compare_exchange_n((void *volatile *)dst, &expect, src,
	    0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static __inline u_int
atomic_fetchadd_int(volatile u_int *p, u_int v)
{
	return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
static __inline u_long
atomic_fetchadd_long(volatile u_long *p, u_long v)
{
	return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
static __inline uint64_t
atomic_fetchadd_64(volatile uint64_t *p, uint64_t v)
{
	return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
static __inline int
atomic_swap_int(volatile int *p, int v)
{
	return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
static __inline long
atomic_swap_long(volatile long *p, long v)
{
	return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
static __inline void *
atomic_swap_ptr(volatile void **p, void *v)
{
	return __atomic_exchange_n((void *volatile *)p, v, __ATOMIC_SEQ_CST);
}
static __inline void *
atomic_load_acq_ptr(volatile void *p)
{
	return __atomic_load_n((void *volatile *)p, __ATOMIC_ACQUIRE);
}
static __inline void
atomic_store_rel_ptr(volatile void *p, void *v)
{
	__atomic_store_n((void *volatile *)p, v, __ATOMIC_RELEASE);
}
#define atomic_add_acq_int	atomic_add_int
#define atomic_add_rel_int	atomic_add_int
#define atomic_subtract_acq_int	atomic_subtract_int
#define atomic_subtract_rel_int	atomic_subtract_int
#define atomic_cmpset_acq_int	atomic_cmpset_int
#define atomic_cmpset_rel_int	atomic_cmpset_int
#define atomic_add_acq_long	atomic_add_long
#define atomic_add_rel_long	atomic_add_long
#define atomic_cmpset_acq_long	atomic_cmpset_long
#define atomic_cmpset_rel_long	atomic_cmpset_long

#define cpu_ccfence()	__asm __volatile("" : : : "memory")
#define cpu_mfence()	__atomic_thread_fence(__ATOMIC_SEQ_CST)
#define cpu_lfence()	__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define cpu_sfence()	__atomic_thread_fence(__ATOMIC_RELEASE)
#define cpu_pause()	__builtin_ia32_pause()
#endif /* _HK_MACHINE_ATOMIC_H_ */
