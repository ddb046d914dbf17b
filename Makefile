# BSD make (DragonFly): builds, installs and removes the kernel modules.
#   make                 kmod/kqemu/kqemu.ko, kmod/kqemu_clone/kqemu_clone.ko
#   make install         (as root) the modules to /boot/modules.local, where
#                        kldload(8) and the loader find them, and kqemu(4),
#                        kqemu_clone(4), clone_shim(9) to /usr/local/man
#   make deinstall       removes exactly those files
# Then `kldload kqemu_clone` (it loads kqemu first), or kqemu_clone_load="YES"
# in /boot/loader.conf: kqemu_clone(4), EXAMPLES.
# On Linux GNU make reads GNUmakefile instead (host kernel, tests, demo).

SUBDIR=	kmod

.include <bsd.subdir.mk>

.PHONY: deinstall
deinstall:
.for d in ${SUBDIR}
	cd ${.CURDIR}/${d} && ${MAKE} deinstall
.endfor
