/* sys/spinlock2.h (host shadow): DragonFly's spinlock API (sys/spinlock2.h). */
#ifndef _HK_SYS_SPINLOCK2_H_
#define _HK_SYS_SPINLOCK2_H_
#include <sys/types.h>
#include <sys/spinlock.h>
void	spin_init(struct spinlock *spin, const char *descr);
void	spin_uninit(struct spinlock *spin);
void	_hk_spin_lock(struct spinlock *spin, const char *ident);
void	spin_unlock(struct spinlock *spin);
void	_hk_spin_lock_shared(struct spinlock *spin, const char *ident);
void	spin_unlock_shared(struct spinlock *spin);
boolean_t spin_trylock(struct spinlock *spin);
int	spin_held(struct spinlock *spin);
#define spin_lock(spin)		_hk_spin_lock(spin, __func__)
#define spin_lock_shared(spin)	_hk_spin_lock_shared(spin, __func__)
#define spin_lock_quick(gd, spin)	_hk_spin_lock(spin, __func__)
#define spin_unlock_quick(gd, spin)	spin_unlock(spin)
#endif
