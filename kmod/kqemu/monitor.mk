# monitor.mk - builds kqemu 1.4's monitor from the user's kqemu-1.4.0pre1
# tree (KQEMU_SRC) and links it into kqemu.ko as the engine `kqemu`.
# Included by Makefile only when KQEMU_SRC is set; BSD make, and only the
# tools a DragonFly base system has (cc, ld, objcopy, objdump, nm).
#
# The monitor is GPL v2: a kqemu.ko built this way is GPL (it says so at
# load and in sysctl hw.kqemu.license).  Nothing of the tree is copied into
# this repository; it is compiled where it lies, outputs in ${.OBJDIR}.
#
# Steps (docs/design.md §9):
#  1. host tools genoffsets and genmon, with the host cc;
#  2. monitor_def.h = genoffsets' output (offsets the monitor's asm uses);
#  3. the monitor image: monitor.c, monitor-utils.c, interp.c and the
#     x86_64 nexus/monitor asm, linked flat by its monitor.ld (ld --no-relax:
#     else ld stops converting GOTPCREL relocations), objcopy'd to a binary
#     and turned into monitor-image.h by genmon.  Compiled with NO SSE: the
#     monitor runs with the guest's CR4 loaded, so a single xmm instruction
#     gcc vectorised into it raises #UD and triple-faults the host;
#  4. its kernel part, kernel.c (which embeds the image) and kernel_asm.S,
#     with the kernel's code generation flags (-mcmodel=kernel, no red
#     zone, no SSE, no PIC/PIE, no unwind tables), linked into one object
#     whose only global definitions are the monitor's API;
#  5. checks that fail the build: no SSE/MMX register in any monitor
#     object, no global symbol but the API, no undefined symbol but the
#     twelve host services kqemu_mon.c and kqemu_mon_mem.c provide.

OBJCOPY?=	objcopy
OBJDUMP?=	objdump
NM?=		nm
LD?=		ld

# The tree as an absolute path (recipes run in ${.OBJDIR}, which need not
# be ${.CURDIR}); a command-line KQEMU_SRC cannot be reassigned, hence a
# variable of our own.
KQMON_SRC:=	${KQEMU_SRC:tA}

# --- the tree must be kqemu-1.4.0pre1, unbuilt ------------------------------
.if !exists(${KQMON_SRC}/kqemu-kernel.h) || !exists(${KQMON_SRC}/common/kernel.c) || \
    !exists(${KQMON_SRC}/common/x86_64/monitor.ld)
.error error: KQEMU_SRC=${KQEMU_SRC} is not a kqemu source tree (no kqemu-kernel.h, common/kernel.c, common/x86_64/monitor.ld)
.endif
_KQMON_VERSION!=	sed -n 's/^VERSION=//p' ${KQMON_SRC}/Makefile 2>/dev/null; true
_KQMON_ABI!=	sed -n 's/^\#define KQEMU_VERSION[ 	]*//p' ${KQMON_SRC}/kqemu.h 2>/dev/null; true
.if "${_KQMON_VERSION}" != "1.4.0pre1" || "${_KQMON_ABI}" != "0x010400"
.error error: KQEMU_SRC=${KQEMU_SRC} is kqemu "${_KQMON_VERSION}" (ABI ${_KQMON_ABI}); this driver links only kqemu-1.4.0pre1 (ABI 0x010400), unmodified
.endif
# A tree built in place holds generated headers that kernel.c and the asm
# would include instead of ours (a quoted include looks beside its file first).
.if exists(${KQMON_SRC}/common/monitor-image.h) || exists(${KQMON_SRC}/common/monitor_def.h)
.error error: KQEMU_SRC=${KQEMU_SRC} was built in place (common/monitor-image.h or common/monitor_def.h exists): use a clean tree (make -C ${KQMON_SRC}/common clean)
.endif

KQMON_C=	${KQMON_SRC}/common
KQMON_ARCH=	${KQMON_C}/x86_64
# The API kernel.c defines and the services it calls (kqemu-kernel.h).
KQMON_API=	kqemu_delete kqemu_exec kqemu_get_cpu_state kqemu_global_delete \
		kqemu_global_init kqemu_init kqemu_set_phys_mem
KQMON_SERVICES=	kqemu_alloc_zeroed_page kqemu_free_page kqemu_io_map \
		kqemu_io_unmap kqemu_lock_user_page kqemu_log kqemu_page_kaddr \
		kqemu_schedule kqemu_unlock_user_page kqemu_vfree kqemu_vmalloc \
		kqemu_vmalloc_to_phys

KQMON_INC=	-nostdinc -iwithprefix include -I${KQMON_C} -I${KQMON_SRC} -I${.OBJDIR}
KQMON_NOSSE=	-mgeneral-regs-only -mno-sse -mno-sse2 -mno-mmx -mno-3dnow -mno-avx \
		-fno-tree-vectorize -fno-asynchronous-unwind-tables -fcf-protection=none
KQMON_MONFLAGS=	-O2 -fomit-frame-pointer -fno-strict-aliasing -mno-red-zone \
		-fno-stack-protector -fpic ${KQMON_NOSSE} -D__KERNEL__ ${KQMON_INC}
# The kernel part: the kmod's own code generation flags, then what the
# monitor's kernel side needs on top.
KQMON_KFLAGS=	-O2 ${CFLAGS:M-m*} ${CFLAGS:M-f*} -fno-strict-aliasing \
		-mcmodel=kernel -mno-red-zone -fno-pie -fno-pic -ffreestanding \
		-msoft-float -fno-stack-protector ${KQMON_NOSSE} \
		-D__KERNEL__ ${KQMON_INC}
KQMON_MONOBJS=	kqmon_nexus_asm.o kqmon_monitor_asm.o kqmon_monitor.o \
		kqmon_monitor-utils.o kqmon_interp.o

# 1. host tools
kqmon_genoffsets: ${KQMON_C}/genoffsets.c ${KQMON_C}/kqemu_int.h
	${CC} -O2 -D__KERNEL__ -I${KQMON_SRC} -o ${.TARGET} ${KQMON_C}/genoffsets.c
kqmon_genmon: ${KQMON_C}/genmon.c
	${CC} -O2 -o ${.TARGET} ${KQMON_C}/genmon.c

# 2. offsets
monitor_def.h: kqmon_genoffsets
	./kqmon_genoffsets > ${.TARGET}.tmp && mv ${.TARGET}.tmp ${.TARGET}

# 3. the monitor image
.for _f in monitor monitor-utils interp
kqmon_${_f}.o: ${KQMON_C}/${_f}.c ${KQMON_C}/kqemu_int.h monitor_def.h
	${CC} ${KQMON_MONFLAGS} -c -o ${.TARGET} ${KQMON_C}/${_f}.c
.endfor
.for _f in nexus_asm monitor_asm
kqmon_${_f}.o: ${KQMON_ARCH}/${_f}.S ${KQMON_C}/kqemu_int.h monitor_def.h
	${CC} -D__KERNEL__ -D__ASSEMBLY__ ${KQMON_INC} -c -o ${.TARGET} ${KQMON_ARCH}/${_f}.S
.endfor
kqmon_image.out: ${KQMON_MONOBJS} ${KQMON_ARCH}/monitor.ld
	${LD} --no-relax -T ${KQMON_ARCH}/monitor.ld -o ${.TARGET} ${KQMON_MONOBJS}
kqmon_image.bin: kqmon_image.out
	${OBJCOPY} -O binary kqmon_image.out ${.TARGET}
monitor-image.h: kqmon_image.bin kqmon_genmon
	./kqmon_genmon < kqmon_image.bin > ${.TARGET}.tmp && mv ${.TARGET}.tmp ${.TARGET}

# 4. the kernel part
kqmon_kernel.o: ${KQMON_C}/kernel.c ${KQMON_C}/common.c ${KQMON_C}/kqemu_int.h \
    monitor-image.h
	${CC} ${KQMON_KFLAGS} -c -o ${.TARGET} ${KQMON_C}/kernel.c
kqmon_kernel_asm.o: ${KQMON_ARCH}/kernel_asm.S ${KQMON_C}/kqemu_int.h
	${CC} -D__KERNEL__ -D__ASSEMBLY__ ${KQMON_INC} -c -o ${.TARGET} ${KQMON_ARCH}/kernel_asm.S

# 4+5. one object, only the API global, proven free of SSE/MMX.
kqemu_monitor.o: kqmon_kernel.o kqmon_kernel_asm.o kqmon_image.out
	@bad=`${OBJDUMP} -d kqmon_image.out kqmon_kernel.o kqmon_kernel_asm.o | \
	    grep -E '%([xyz]mm|mm)[0-9]' | head -n 5`; \
	if [ -n "$$bad" ]; then \
		echo "monitor.mk: SSE/MMX instructions in the monitor (it would #UD under the guest's CR4):"; \
		echo "$$bad"; exit 1; fi
	${LD} -r -o kqmon_all.o kqmon_kernel.o kqmon_kernel_asm.o
	${OBJCOPY} ${KQMON_API:S/^/--keep-global-symbol=/} kqmon_all.o ${.TARGET}.tmp
	@got=`${NM} -g --defined-only ${.TARGET}.tmp | awk '{print $$3}' | sort | tr '\n' ' '`; \
	want=`echo ${KQMON_API} | tr ' ' '\n' | sort | tr '\n' ' '`; \
	if [ "$$got" != "$$want" ]; then \
		echo "monitor.mk: global symbols of the monitor are '$$got', not the API '$$want'"; \
		rm -f ${.TARGET}.tmp; exit 1; fi; \
	for s in `${NM} -u ${.TARGET}.tmp | awk '{print $$2}'`; do \
		case " ${KQMON_SERVICES} " in *" $$s "*) ;; \
		*) echo "monitor.mk: the monitor needs $$s, which is not a kqemu-kernel.h service"; \
		   rm -f ${.TARGET}.tmp; exit 1;; esac; done
	mv ${.TARGET}.tmp ${.TARGET}
	@echo "monitor.mk: kqemu_monitor.o: no SSE/MMX, globals: ${KQMON_API}"

OBJS+=		kqemu_monitor.o
SRCS+=		kqemu_mon.c kqemu_mon_mem.c kqemu_engine_kqemu.cc
# kqemu_mon*.c include the tree's kqemu-kernel.h (which includes the tree's
# kqemu.h beside it); our own kqemu.h stays first for every other file.
COPTS+=		-I${KQMON_SRC}
CLEANFILES+=	kqmon_genoffsets kqmon_genmon monitor_def.h monitor_def.h.tmp \
		${KQMON_MONOBJS} kqmon_image.out kqmon_image.bin monitor-image.h \
		monitor-image.h.tmp kqmon_kernel.o kqmon_kernel_asm.o kqmon_all.o \
		kqemu_monitor.o kqemu_monitor.o.tmp
