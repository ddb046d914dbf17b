/*
 * sys/systm.h (host shadow): console output, panic and assertions
 * (INVARIANTS always on), user copies, exit/fork hooks, sleep/wakeup,
 * kernel environment.
 */
#ifndef _HK_SYS_SYSTM_H_
#define _HK_SYS_SYSTM_H_
#include <sys/param.h>
#include <sys/libkern.h>
#include <sys/globaldata.h>
#include <machine/stdarg.h>
#include <machine/atomic.h>

extern int securelevel;
extern long physmem;
extern int ncpus;

void	panic(const char *, ...) __dead2 __printflike(1, 2);
#define	KASSERT(exp,msg)	do { if (__predict_false(!(exp)))	\
					panic msg; } while (0)
#define KKASSERT(exp)		do { if (__predict_false(!(exp)))	  \
					panic("assertion \"%s\" failed "  \
					"in %s at %s:%u", #exp, __func__, \
					__FILE__, __LINE__); } while (0)
#define CTASSERT(x)		_Static_assert(x, "compile-time assertion failed")

int	kprintf(const char *, ...) __printflike(1, 2);
int	ksnprintf(char *, size_t, const char *, ...) __printflike(3, 4);
int	ksprintf(char *buf, const char *, ...) __printflike(2, 3);
int	kvprintf(const char *, __va_list) __printflike(1, 0);
int	kvsnprintf(char *, size_t, const char *, __va_list) __printflike(3, 0);
int	kvasnprintf(char **, size_t, const char *, __va_list) __printflike(3, 0);
void	kvasfree(char **);

#define krateprintf(rate, ...)	kprintf(__VA_ARGS__)

int	copyinstr(const void *udaddr, void *kaddr, size_t len, size_t *lencopied);
int	copyin(const void *udaddr, void *kaddr, size_t len);
int	copyin_nofault(const void *udaddr, void *kaddr, size_t len);
int	copyout(const void *kaddr, void *udaddr, size_t len);
int	copyout_nofault(const void *kaddr, void *udaddr, size_t len);

char	*kgetenv(const char *name);
void	kfreeenv(char *env);
int	ktestenv(const char *name);

struct thread;
struct proc;
struct spinlock;
struct ucred;
struct lock;
typedef void (*exitlist_fn)(struct thread *td);
int	at_exit(exitlist_fn function);
int	rm_at_exit(exitlist_fn function);
typedef void (*forklist_fn)(struct proc *parent, struct proc *child, int flags);
int	at_fork(forklist_fn function);
int	rm_at_fork(forklist_fn function);

#define PCATCH		0x00000100
#define PINTERLOCKED	0x00000400
#define PWAKEUP_CPUMASK	0x00003FFF
int	tsleep(const volatile void *, int, const char *, int);
int	ssleep(const volatile void *, struct spinlock *, int, const char *, int);
int	lksleep(const volatile void *, struct lock *, int, const char *, int);
void	wakeup(const volatile void *chan);
void	wakeup_one(const volatile void *chan);

int	priv_check(struct thread *td, int priv);
int	priv_check_cred(struct ucred *cred, int priv, int flags);
#define PRIV_ROOT	1
#define PRIV_KLD_LOAD	2
#define PRIV_KLD_UNLOAD	3

void	DELAY(int usec);
#endif
