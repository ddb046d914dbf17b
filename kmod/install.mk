# install.mk - `make install` and `make deinstall` for a module under
# kmod/, included by its Makefile after <bsd.kmod.mk>.
#
# Where (set in each module's Makefile, before <bsd.kmod.mk>, whose
# KMODDIR?= comes first):
# KMODDIR=/boot/modules.local, DragonFly's directory for modules that are
# not part of the kernel (hier(7)).  kmod.mk's default, ${DESTKERNDIR} =
# /boot/kernel, belongs to the kernel: the next installkernel moves it
# aside to kernel.old, modules and all.  When the loader boots a kernel
# from /boot/kernel with local_modules="YES" (the default,
# /boot/defaults/loader.conf) it appends /boot/modules.local to the
# module_path it hands the kernel (sys/boot/common/load_elf.c), so both
# loader.conf's kqemu_load="YES" and a later `kldload kqemu` (the kernel's
# kern.module_path, sys/kern/kern_linker.c) find the modules there.
# installworld creates the directory (etc/mtree/BSD.root.dist).
# MANDIR=/usr/local/man/man, searched by man(1) after the base system's
# /usr/share/man (usr.bin/man/man.sh, man_default_path): where software
# outside the base system puts its pages.
#
# How: sys/conf/kmod.mk installs the .ko only; the manual pages in ${MAN}
# (docs/man, on each Makefile's .PATH) are installed through <bsd.man.mk>:
# compressed with ${MCOMPRESS_CMD} and installed by _maninstall, both at
# install time, so that building a module needs only kmod/ and include/.
# DragonFly's share/mk has no deinstall target: ours removes exactly what
# install put there and leaves the directories, which belong to the
# system.
# Design: docs/design.md §3.

.include <bsd.man.mk>

.if !defined(NOMAN)
realinstall: _maninstall
_maninstall: _manpages
.ORDER: beforeinstall _maninstall
.endif

# install(1) into a directory that does not exist would write a file by
# that name; on a live system both exist, under DESTDIR they may not.
beforeinstall: _kmod_installdirs
_kmod_installdirs:
	${INSTALL} -d ${DESTDIR}${KMODDIR}
.if !defined(NOMAN)
.for sect in ${MAN:E:O:u}
	${INSTALL} -d ${DESTDIR}${MANDIR}${sect}${MANSUBDIR}
.endfor
.endif

.PHONY: deinstall
deinstall:
	rm -f ${DESTDIR}${KMODDIR}/${PROG}
.for page in ${MAN}
	rm -f ${DESTDIR}${MANDIR}${page:E}${MANSUBDIR}/${page:T} \
	    ${DESTDIR}${MANDIR}${page:E}${MANSUBDIR}/${page:T}${MCOMPRESS_EXT}
.endfor
