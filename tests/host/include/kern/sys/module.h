/*
 * sys/module.h (host shadow): DECLARE_MODULE, MODULE_VERSION, MODULE_DEPEND
 * with kern/kern_module.c's event protocol (MOD_LOAD, MOD_UNLOAD veto,
 * MOD_SHUTDOWN; unknown events -> EOPNOTSUPP is the handler's job).
 */
#ifndef _HK_SYS_MODULE_H_
#define _HK_SYS_MODULE_H_
#include <sys/kernel.h>

typedef enum modeventtype {
	MOD_LOAD,
	MOD_UNLOAD,
	MOD_SHUTDOWN
} modeventtype_t;

typedef struct module *module_t;
typedef int (*modeventhand_t)(module_t mod, int what, void *arg);

typedef struct moduledata {
	const char	*name;
	modeventhand_t	evhand;
	void		*priv;
	void		*_file;
} moduledata_t;

typedef union modspecific {
	int	intval;
	u_int	uintval;
	long	longval;
	u_long	ulongval;
} modspecific_t;

#define MDT_DEPEND	1
#define MDT_MODULE	2
#define MDT_VERSION	3

struct mod_depend { int md_ver_minimum; int md_ver_preferred; int md_ver_maximum; };
struct mod_version { int mv_version; };
struct mod_metadata {
	int		md_version;
	int		md_type;
	const void	*md_data;
	const char	*md_cval;
};
#define MDT_STRUCT_VERSION	1

#define MODULE_METADATA(uniquifier, type, data, cval)			\
	static struct mod_metadata _mod_metadata##uniquifier = {	\
		MDT_STRUCT_VERSION, type, data, cval			\
	};								\
	DATA_SET(modmetadata_set, _mod_metadata##uniquifier)

#define MODULE_DEPEND(module, mdepend, vmin, vpref, vmax)		\
	static struct mod_depend _##module##_depend_on_##mdepend = {	\
		vmin, vpref, vmax					\
	};								\
	MODULE_METADATA(_md_##module##_on_##mdepend, MDT_DEPEND,	\
	    &_##module##_depend_on_##mdepend, #mdepend)

void module_register_init(const void *data);

#define DECLARE_MODULE(name, data, sub, order)				\
	MODULE_METADATA(_md_##name, MDT_MODULE, &data, #name);		\
	SYSINIT(name##module, sub, order, module_register_init, &data)

#define MODULE_VERSION(module, version)					\
	static struct mod_version _##module##_version = { version };	\
	MODULE_METADATA(_##module##_version, MDT_VERSION,		\
	    &_##module##_version, #module)

module_t module_lookupbyname(const char *name);
int	module_getid(module_t mod);
const char *module_getname(module_t mod);
void	module_setspecific(module_t mod, modspecific_t *datap);
#endif
