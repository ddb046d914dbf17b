/*
 * sys/globaldata.h (host shadow): mycpu, mycpuid, ncpus, curthread.
 *
 * Each OS thread that enters the host kernel gets its own globaldata with a
 * cpuid of its own (ncpus is large), so per-cpu data used inside a critical
 * section is never shared by two OS threads at once, as on a real kernel.
 */
#ifndef _HK_SYS_GLOBALDATA_H_
#define _HK_SYS_GLOBALDATA_H_
#include <sys/types.h>

struct thread;
struct globaldata {
	int		gd_cpuid;
	struct thread	*gd_curthread;
	int		gd_spinlocks;	/* spinlocks held by this OS thread */
	int		gd_intr_nesting_level;
};

struct globaldata *hk_mycpu(void);
struct thread *hk_curthread(void);
extern int ncpus;

#define mycpu		(hk_mycpu())
#define mycpuid		(hk_mycpu()->gd_cpuid)
#define curthread	(hk_curthread())
#define curproc		(hk_curthread()->td_proc)
#endif
