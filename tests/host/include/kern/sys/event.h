/* sys/event.h (host shadow): struct knote as a type only (kqfilter args). */
#ifndef _HK_SYS_EVENT_H_
#define _HK_SYS_EVENT_H_
struct knote;
struct kqinfo { void *ki_note; };
#define EVFILT_READ	(-1)
#define EVFILT_WRITE	(-2)
#endif
