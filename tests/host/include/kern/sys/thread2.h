/* sys/thread2.h (host shadow): critical sections (per OS thread: no-ops
 * that count, since each OS thread has its own "cpu"). */
#ifndef _HK_SYS_THREAD2_H_
#define _HK_SYS_THREAD2_H_
#include <sys/thread.h>
#define crit_enter()		(++curthread->td_critcount)
#define crit_exit()		(--curthread->td_critcount)
#define crit_enter_id(id)	crit_enter()
#define crit_exit_id(id)	crit_exit()
#define crit_enter_gd(gd)	crit_enter()
#define crit_exit_gd(gd)	crit_exit()
/* sys/thread2.h lwkt_passive_recover: back to user priority before the
 * return to user mode (priority only raised if the designation was
 * released). */
static __inline void
lwkt_passive_recover(struct thread *td)
{
	if (td->td_release == NULL)
		lwkt_setpri_self(TDPRI_USER_NORM);
	td->td_release = NULL;
}
#endif
