#ifndef _HK_SYS_PRIV_H_
#define _HK_SYS_PRIV_H_
#include <sys/systm.h>
#endif
