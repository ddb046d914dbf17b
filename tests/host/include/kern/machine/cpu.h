/*
 * machine/cpu.h (host shadow): the user-reschedule request of DragonFly's
 * cpu/x86_64/include/cpu.h (RQF_AST_USER_RESCHED in gd_reqflags, set by
 * the scheduler clock when another user process should run).  Host: one
 * flag a test raises with hk_sched_want_user_resched(); modelled in
 * tests/host/kern/vm_model.c.
 */
#ifndef _HK_MACHINE_CPU_H_
#define _HK_MACHINE_CPU_H_
int	hk_user_resched_wanted(void);
void	hk_clear_user_resched(void);
#define user_resched_wanted()	(hk_user_resched_wanted())
#define clear_user_resched()	(hk_clear_user_resched())
#endif
