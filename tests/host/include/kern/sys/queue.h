/* sys/queue.h (host shadow): glibc's queue.h plus DragonFly's _MUTABLE loops. */
#ifndef _HK_SYS_QUEUE_H_
#define _HK_SYS_QUEUE_H_
#include_next <sys/queue.h>
#ifndef TAILQ_FOREACH_MUTABLE
#define TAILQ_FOREACH_MUTABLE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST((head));				\
	    (var) && ((tvar) = TAILQ_NEXT((var), field), 1);		\
	    (var) = (tvar))
#endif
#ifndef LIST_FOREACH_MUTABLE
#define LIST_FOREACH_MUTABLE(var, head, field, tvar)			\
	for ((var) = LIST_FIRST((head));				\
	    (var) && ((tvar) = LIST_NEXT((var), field), 1);		\
	    (var) = (tvar))
#endif
#ifndef SLIST_FOREACH_MUTABLE
#define SLIST_FOREACH_MUTABLE(var, head, field, tvar)			\
	for ((var) = SLIST_FIRST((head));				\
	    (var) && ((tvar) = SLIST_NEXT((var), field), 1);		\
	    (var) = (tvar))
#endif
#ifndef TAILQ_FIRST
#define TAILQ_FIRST(head)	((head)->tqh_first)
#endif
#ifndef TAILQ_NEXT
#define TAILQ_NEXT(elm, field)	((elm)->field.tqe_next)
#endif
#ifndef LIST_FIRST
#define LIST_FIRST(head)	((head)->lh_first)
#endif
#ifndef LIST_NEXT
#define LIST_NEXT(elm, field)	((elm)->field.le_next)
#endif
#ifndef SLIST_FIRST
#define SLIST_FIRST(head)	((head)->slh_first)
#endif
#ifndef SLIST_NEXT
#define SLIST_NEXT(elm, field)	((elm)->field.sle_next)
#endif
#ifndef TAILQ_EMPTY
#define TAILQ_EMPTY(head)	((head)->tqh_first == NULL)
#endif
#ifndef LIST_EMPTY
#define LIST_EMPTY(head)	((head)->lh_first == NULL)
#endif
#ifndef TAILQ_LAST
#define TAILQ_LAST(head, headname) \
	(*(((struct headname *)((head)->tqh_last))->tqh_last))
#endif
#endif
