/* machine/stdarg.h (host shadow): DragonFly's __va_* names on the builtins. */
#ifndef _HK_MACHINE_STDARG_H_
#define _HK_MACHINE_STDARG_H_
#include <stdarg.h>
typedef __builtin_va_list	__va_list;
#ifndef __va_start
#define __va_start(ap, last)	__builtin_va_start(ap, last)
#endif
#ifndef __va_arg
#define __va_arg(ap, type)	__builtin_va_arg(ap, type)
#endif
#ifndef __va_end
#define __va_end(ap)		__builtin_va_end(ap)
#endif
#ifndef __va_copy
#define __va_copy(d, s)		__builtin_va_copy(d, s)
#endif
#endif
