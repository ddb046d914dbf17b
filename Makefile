# BSD make (DragonFly): builds the kernel modules.
#   make && kldload ./kmod/kqemu/kqemu.ko ./kmod/kqemu_clone/kqemu_clone.ko
# On Linux GNU make reads GNUmakefile instead (host kernel, tests, demo).

SUBDIR=	kmod

.include <bsd.subdir.mk>
