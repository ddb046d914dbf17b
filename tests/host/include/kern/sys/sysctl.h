/*
 * sys/sysctl.h (host shadow): DragonFly's sysctl oid tree (kern/kern_sysctl.c
 * semantics).  Static SYSCTL_* oids are a linker set: registered when their
 * module loads and unregistered when it unloads.  Read them with hk_sysctl.
 */
#ifndef _HK_SYS_SYSCTL_H_
#define _HK_SYS_SYSCTL_H_
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/linker_set.h>
#include <string.h>

#define CTL_MAXNAME	12
#define CTLTYPE		0xf
#define	CTLTYPE_NODE	0x01
#define	CTLTYPE_INT	0x02
#define	CTLTYPE_STRING	0x03
#define	CTLTYPE_S64	0x04
#define	CTLTYPE_QUAD	CTLTYPE_S64
#define	CTLTYPE_OPAQUE	0x05
#define	CTLTYPE_STRUCT	CTLTYPE_OPAQUE
#define	CTLTYPE_UINT	0x06
#define	CTLTYPE_LONG	0x07
#define	CTLTYPE_ULONG	0x08
#define	CTLTYPE_U64	0x09
#define	CTLTYPE_UQUAD	CTLTYPE_U64
#define	CTLFLAG_RD	0x80000000
#define	CTLFLAG_WR	0x40000000
#define	CTLFLAG_RW	(CTLFLAG_RD|CTLFLAG_WR)
#define	CTLFLAG_ANYBODY	0x10000000
#define	CTLFLAG_SECURE	0x08000000
#define	CTLFLAG_PRISON	0x04000000
#define	CTLFLAG_DYN	0x02000000
#define	CTLFLAG_SKIP	0x01000000
#define	CTLMASK_SECURE	0x00F00000
#define CTLFLAG_SHLOCK	0x00008000
#define CTLFLAG_EXLOCK	0x00004000
#define CTLFLAG_NOLOCK	0x00002000
#define CTLFLAG_TUN	0	/* not in 5.8; accepted for portability */
#define OID_AUTO	(-1)

struct sysctl_oid;
struct sysctl_req;
#define SYSCTL_HANDLER_ARGS struct sysctl_oid *oidp, void *arg1, int arg2, \
	struct sysctl_req *req

struct thread;
struct sysctl_req {
	struct thread	*td;
	int		 lock;
	void		*oldptr;
	size_t		 oldlen;
	size_t		 oldidx;
	int		(*oldfunc)(struct sysctl_req *, const void *, size_t);
	void		*newptr;
	size_t		 newlen;
	size_t		 newidx;
	int		(*newfunc)(struct sysctl_req *, void *, size_t);
	size_t		 validlen;
	int		 flags;
};

SLIST_HEAD(sysctl_oid_list, sysctl_oid);

struct sysctl_oid {
	struct sysctl_oid_list *oid_parent;
	SLIST_ENTRY(sysctl_oid) oid_link;
	int		oid_number;
	int		oid_kind;
	void		*oid_arg1;
	int		oid_arg2;
	const char	*oid_name;
	int		(*oid_handler)(SYSCTL_HANDLER_ARGS);
	const char	*oid_fmt;
	int		oid_refcnt;
	u_int		oid_running;
	const char	*oid_descr;
};

#define SYSCTL_IN(r, p, l)	(r->newfunc)(r, p, l)
#define SYSCTL_OUT(r, p, l)	(r->oldfunc)(r, p, l)
#define SYSCTL_OUT_STR(r, p)	(r->oldfunc)(r, p, strlen(p) + 1)

int sysctl_handle_int(SYSCTL_HANDLER_ARGS);
int sysctl_handle_long(SYSCTL_HANDLER_ARGS);
int sysctl_handle_quad(SYSCTL_HANDLER_ARGS);
int sysctl_handle_64(SYSCTL_HANDLER_ARGS);
int sysctl_handle_32(SYSCTL_HANDLER_ARGS);
int sysctl_handle_intptr(SYSCTL_HANDLER_ARGS);
int sysctl_handle_string(SYSCTL_HANDLER_ARGS);
int sysctl_handle_opaque(SYSCTL_HANDLER_ARGS);

void sysctl_register_oid(struct sysctl_oid *oidp);
void sysctl_unregister_oid(struct sysctl_oid *oidp);

#define SYSCTL_DECL(name)					\
	extern struct sysctl_oid_list sysctl_##name##_children
#define	SYSCTL_SET_CHILDREN(oid_ptr, children) do {			\
	(oid_ptr)->oid_arg1 = (children);				\
} while(0)
#define	SYSCTL_CHILDREN(oid_ptr) (struct sysctl_oid_list *) \
	(oid_ptr)->oid_arg1
#define	SYSCTL_STATIC_CHILDREN(oid_name) \
	(&sysctl_##oid_name##_children)

struct sysctl_ctx_entry {
	struct sysctl_oid *entry;
	TAILQ_ENTRY(sysctl_ctx_entry) link;
};
TAILQ_HEAD(sysctl_ctx_list, sysctl_ctx_entry);

#define	SYSCTL_NODE_CHILDREN(parent, name) \
	sysctl_##parent##_##name##_children
#define	__DESCR(d) d

#define	SYSCTL_OID(parent, nbr, name, kind, a1, a2, handler, fmt, descr)\
	static struct sysctl_oid sysctl__##parent##_##name = {		\
		&sysctl_##parent##_children, { NULL }, nbr, kind,	\
		a1, a2, #name, handler, fmt, 0, 0, __DESCR(descr)	\
	};								\
	DATA_SET(sysctl_set, sysctl__##parent##_##name)
#define	SYSCTL_ADD_OID(ctx, parent, nbr, name, kind, a1, a2, handler, fmt, descr) \
	sysctl_add_oid(ctx, parent, nbr, name, kind, a1, a2, handler, fmt, descr)

#define	SYSCTL_NODE(parent, nbr, name, access, handler, descr)		\
	struct sysctl_oid_list SYSCTL_NODE_CHILDREN(parent, name);	\
	SYSCTL_OID(parent, nbr, name, CTLTYPE_NODE|(access),		\
	    (void*)&SYSCTL_NODE_CHILDREN(parent, name), 0, handler, "N", descr)
#define SYSCTL_ADD_NODE(ctx, parent, nbr, name, access, handler, descr)	\
	sysctl_add_oid(ctx, parent, nbr, name, CTLTYPE_NODE|(access),	\
	0, 0, handler, "N", descr)
#define SYSCTL_STRING(parent, nbr, name, access, arg, len, descr)	\
	SYSCTL_OID(parent, nbr, name, CTLTYPE_STRING|(access),		\
		arg, len, sysctl_handle_string, "A", descr)
#define SYSCTL_ADD_STRING(ctx, parent, nbr, name, access, arg, len, descr) \
	sysctl_add_oid(ctx, parent, nbr, name, CTLTYPE_STRING|(access),	\
	arg, len, sysctl_handle_string, "A", descr)
#define	SYSCTL_INT(parent, nbr, name, access, ptr, val, descr)		\
	SYSCTL_OID(parent, nbr, name,					\
		CTLTYPE_INT|CTLFLAG_NOLOCK|(access),			\
		ptr, val, sysctl_handle_int, "I", descr)
#define SYSCTL_ADD_INT(ctx, parent, nbr, name, access, ptr, val, descr)	\
	sysctl_add_oid(ctx, parent, nbr, name,				\
		CTLTYPE_INT|CTLFLAG_NOLOCK|(access),			\
	ptr, val, sysctl_handle_int, "I", descr)
#define SYSCTL_QUAD(parent, nbr, name, access, ptr, val, descr)		\
	SYSCTL_OID(parent, nbr, name,					\
		CTLTYPE_QUAD|CTLFLAG_NOLOCK|(access),			\
		ptr, val, sysctl_handle_quad, "Q", descr)
#define SYSCTL_ADD_QUAD(ctx, parent, nbr, name, access, ptr, val, descr) \
	sysctl_add_oid(ctx, parent, nbr, name,				\
		CTLTYPE_QUAD|CTLFLAG_NOLOCK|(access),			\
		ptr, val, sysctl_handle_quad, "Q", descr)
#define SYSCTL_UQUAD(parent, nbr, name, access, ptr, val, descr)	\
	SYSCTL_OID(parent, nbr, name,					\
		CTLTYPE_UQUAD|CTLFLAG_NOLOCK|(access),			\
		ptr, val, sysctl_handle_quad, "QU", descr)
#define SYSCTL_ADD_UQUAD(ctx, parent, nbr, name, access, ptr, val, descr) \
	sysctl_add_oid(ctx, parent, nbr, name,				\
		CTLTYPE_UQUAD|CTLFLAG_NOLOCK|(access),			\
		ptr, val, sysctl_handle_quad, "QU", descr)
#define SYSCTL_UINT(parent, nbr, name, access, ptr, val, descr)		\
	SYSCTL_OID(parent, nbr, name,					\
		CTLTYPE_UINT|CTLFLAG_NOLOCK|(access),			\
		ptr, val, sysctl_handle_int, "IU", descr)
#define SYSCTL_ADD_UINT(ctx, parent, nbr, name, access, ptr, val, descr) \
	sysctl_add_oid(ctx, parent, nbr, name,				\
		CTLTYPE_UINT|CTLFLAG_NOLOCK|(access),			\
		ptr, val, sysctl_handle_int, "IU", descr)
#define SYSCTL_LONG(parent, nbr, name, access, ptr, val, descr)		\
	SYSCTL_OID(parent, nbr, name,					\
		CTLTYPE_LONG|CTLFLAG_NOLOCK|(access),			\
		ptr, val, sysctl_handle_long, "L", descr)
#define SYSCTL_ADD_LONG(ctx, parent, nbr, name, access, ptr, descr)	\
	sysctl_add_oid(ctx, parent, nbr, name,				\
		CTLTYPE_LONG|CTLFLAG_NOLOCK|(access),			\
		ptr, 0, sysctl_handle_long, "L", descr)
#define SYSCTL_ULONG(parent, nbr, name, access, ptr, val, descr)	\
	SYSCTL_OID(parent, nbr, name,					\
		CTLTYPE_ULONG|CTLFLAG_NOLOCK|(access),			\
		ptr, val, sysctl_handle_long, "LU", descr)
#define SYSCTL_ADD_ULONG(ctx, parent, nbr, name, access, ptr, descr)	\
	sysctl_add_oid(ctx, parent, nbr, name,				\
		CTLTYPE_ULONG|CTLFLAG_NOLOCK|(access),			\
		ptr, 0, sysctl_handle_long, "LU", descr)
#define SYSCTL_OPAQUE(parent, nbr, name, access, ptr, len, fmt, descr)	\
	SYSCTL_OID(parent, nbr, name, CTLTYPE_OPAQUE|(access),		\
		ptr, len, sysctl_handle_opaque, fmt, descr)
#define SYSCTL_STRUCT(parent, nbr, name, access, ptr, type, descr)	\
	SYSCTL_OID(parent, nbr, name, CTLTYPE_OPAQUE|(access),		\
		ptr, sizeof(struct type), sysctl_handle_opaque,		\
		"S," #type, descr)
#define SYSCTL_PROC(parent, nbr, name, access, ptr, arg, handler, fmt, descr) \
	SYSCTL_OID(parent, nbr, name, (access),				\
		ptr, arg, handler, fmt, descr)
#define SYSCTL_ADD_PROC(ctx, parent, nbr, name, access, ptr, arg, handler, fmt, descr) \
	sysctl_add_oid(ctx, parent, nbr, name, (access),		\
		ptr, arg, handler, fmt, descr)

extern struct sysctl_oid_list sysctl__children;
SYSCTL_DECL(_kern);
SYSCTL_DECL(_vm);
SYSCTL_DECL(_vfs);
SYSCTL_DECL(_net);
SYSCTL_DECL(_debug);
SYSCTL_DECL(_dev);
SYSCTL_DECL(_hw);
SYSCTL_DECL(_machdep);
SYSCTL_DECL(_user);
SYSCTL_DECL(_security);

struct sysctl_oid *sysctl_add_oid(struct sysctl_ctx_list *clist,
		struct sysctl_oid_list *parent, int nbr, const char *name,
		int kind, void *arg1, int arg2,
		int (*handler) (SYSCTL_HANDLER_ARGS),
		const char *fmt, const char *descr);
int	sysctl_remove_oid(struct sysctl_oid *oidp, int del, int recurse);
int	sysctl_ctx_init(struct sysctl_ctx_list *clist);
int	sysctl_ctx_free(struct sysctl_ctx_list *clist);
int	kernel_sysctlbyname(char *name, void *old, size_t *oldlenp,
	    void *new, size_t newlen, size_t *retval);
#endif
