# kcxx.mk - the C++ flags of a kernel module whose core is in C++,
# included by each such module's Makefile before bsd.kmod.mk: the kmod
# CFLAGS minus the C-only warnings, plus freestanding C++17 (DragonFly
# 5.8 builds modules with gcc 8) without exceptions, RTTI, thread-safe
# statics, atexit, unwind tables or the C++ standard library.
# Design: docs/design.md §3.

CXXFLAGS=	${CFLAGS:N-std=*:N-Wnested-externs:N-W*-prototypes:N-Wno-pointer-sign:N-Wold-style-de*:N-Wsystem-headers}
CXXFLAGS+=	-std=c++17 -nostdinc++ -fno-exceptions -fno-rtti \
		-fno-threadsafe-statics -fno-use-cxa-atexit -fno-unwind-tables \
		-fno-asynchronous-unwind-tables
