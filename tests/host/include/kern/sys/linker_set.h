/*
 * sys/linker_set.h (host shadow).  DragonFly collects SYSINIT, sysctl and
 * module metadata into ELF linker sets the kernel linker reads at load.  On
 * the host each DATA_SET entry becomes a constructor that hands the entry
 * to the host linker while dlopen() runs it, attributing it to the file
 * being loaded (entries of the test program itself belong to the kernel
 * file and are processed at hk_boot).  The real-kernel build never sees it.
 */
#ifndef _HK_SYS_LINKER_SET_H_
#define _HK_SYS_LINKER_SET_H_
void	hk_linker_set_add(const char *set, void *entry);
#define DATA_SET(set, sym)						\
	static void __attribute__((__constructor__, __used__))		\
	__hk_dataset_##set##_##sym(void)				\
	{ hk_linker_set_add(#set, (void *)&(sym)); }
#define TEXT_SET(set, sym)	DATA_SET(set, sym)
#endif
