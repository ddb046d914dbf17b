/* sys/fcntl.h (host shadow): libc's open flags plus the kernel's FREAD/FWRITE. */
#ifndef _HK_SYS_FCNTL_H_
#define _HK_SYS_FCNTL_H_
#include <fcntl.h>
#ifndef FREAD
#define FREAD		0x0001
#define FWRITE		0x0002
#endif
#ifndef FMASK
#define FMASK		(FREAD|FWRITE|O_APPEND|O_NONBLOCK)
#endif
#ifndef FNONBLOCK
#define FNONBLOCK	O_NONBLOCK
#endif
#define FFLAGS(oflags)	((oflags) + 1)
#define OFLAGS(fflags)	((fflags) - 1)
#endif
