#ifndef _HK_SYS_SIGNALVAR_H_
#define _HK_SYS_SIGNALVAR_H_
#include <sys/signal2.h>
#endif
