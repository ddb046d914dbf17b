/*
 * sysctl_root.h - find a top-level sysctl node ("hw", "debug") by name.
 *
 * Owns nothing: a helper for the C glue of our modules, which build their
 * sysctl trees at load under a kernel node found here rather than through
 * a static SYSCTL_NODE(_hw, ...).  That would link against
 * sysctl__hw_children, which the kernel defines only through a macro, so
 * dfly-kbuild's check of imported symbols cannot vouch for it; the root
 * list sysctl__children is declared plainly in sys/sysctl.h.
 *
 * Locking: walks the root list under the sysctl lock, shared.  The node
 * found is a boot-time node and never goes away.  Include after
 * <sys/sysctl.h>.
 */
#ifndef KGLUE_SYSCTL_ROOT_H
#define KGLUE_SYSCTL_ROOT_H

static __inline struct sysctl_oid_list *
kglue_sysctl_root_node(const char *name)
{
	struct sysctl_oid_list *children = NULL;
	struct sysctl_oid *oid;

#ifdef SYSCTL_SLOCK
	SYSCTL_SLOCK();
#endif
	SLIST_FOREACH(oid, &sysctl__children, oid_link) {
		if ((oid->oid_kind & CTLTYPE) == CTLTYPE_NODE &&
		    strcmp(oid->oid_name, name) == 0) {
			children = SYSCTL_CHILDREN(oid);
			break;
		}
	}
#ifdef SYSCTL_SUNLOCK
	SYSCTL_SUNLOCK();
#endif
	return (children);
}

#endif /* KGLUE_SYSCTL_ROOT_H */
