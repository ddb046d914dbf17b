# mk/target.mk: the real-kernel tier (tests/target, issue 8).
#
#   make test-target DFLY_KERNEL=/path/to/kernel   only this tier: boots the
#        DragonFly kernel under QEMU once per phase and runs the target suite
#   make test                                       includes the tier; without
#        DFLY_KERNEL every case is skipped with the reason
#   make kbuild-dfly DFLY_SRC=/path/to/dragonfly   cross-builds kqemu.ko and
#        kqemu_clone.ko (and the test KLD semcount.ko) with DragonFly's own
#        share/mk and kernel headers, then rewrites R_X86_64_PLT32 to
#        R_X86_64_PC32 so DragonFly 5.8's kernel linker accepts them
#   DFLY_KO=DIR       use ready-made .ko files from DIR instead
#   KQEMU_SRC=DIR     a kqemu-1.4.0pre1 tree: kbuild-dfly links its monitor
#        into kqemu.ko as the engine `kqemu` (kmod/kqemu/monitor.mk)
#
# The target programs are freestanding static DragonFly ELF executables
# (tests/target/rt is their runtime), built with the host gcc: no DragonFly
# libc or toolchain is needed.  The multiboot loader is a 32-bit image.

TGT_B      := $(B)/target
TGT_CC     ?= gcc
TGT_CFLAGS := -O2 -g -std=gnu11 -ffreestanding -fno-builtin -fno-pie -fno-pic \
              -fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables \
              -fcf-protection=none -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-format-zero-length -I$(TOP)/include
TGT_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,noexecstack \
               -Wl,-z,norelro -Wl,-e,_start
TGT_RT     := tests/target/rt/crt0.S tests/target/rt/rt.c
TGT_PROGS  := $(sort $(wildcard tests/target/progs/*.c))
TGT_HDRS   := $(wildcard tests/target/rt/*.h tests/target/progs/*.h) include/kqemu.h

$(TGT_B)/kqtest: $(TGT_RT) $(TGT_PROGS) $(TGT_HDRS) mk/target.mk
	@mkdir -p $(@D)
	$(TGT_CC) $(TGT_CFLAGS) $(TGT_LDFLAGS) -o $@ $(TGT_RT) $(TGT_PROGS)

MBLOAD_FLAGS := -m32 -march=i686 -O2 -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
                -fno-asynchronous-unwind-tables -fcf-protection=none -Wall -Wextra -Werror
$(TGT_B)/mbload: tests/target/boot/mbload.c tests/target/boot/mbload_entry.S tests/target/boot/mbload.ld
	@mkdir -p $(@D)
	$(TGT_CC) $(MBLOAD_FLAGS) -c -o $(TGT_B)/mbload.o tests/target/boot/mbload.c
	$(TGT_CC) $(MBLOAD_FLAGS) -c -o $(TGT_B)/mbload_entry.o tests/target/boot/mbload_entry.S
	ld -m elf_i386 -nostdlib --no-warn-rwx-segments -T tests/target/boot/mbload.ld -o $@ \
	    $(TGT_B)/mbload_entry.o $(TGT_B)/mbload.o

# The kyua side: the ATF program, its case list (generated from the suites'
# case tables) and the tier's configuration (which kernel, which modules).
TGT_T := $(B)/tests/target
$(TGT_T)/target_test: tests/target/target_test | $(TGT_T)
	cp $< $@ && chmod +x $@
$(TGT_T)/run-target: tests/target/run-target | $(TGT_T)
	cp $< $@ && chmod +x $@
$(TGT_T)/boots.list: tests/target/boots.list | $(TGT_T)
	cp $< $@
$(TGT_T)/cases.list: tests/target/tools/list-cases tests/target/boots.list $(TGT_PROGS) | $(TGT_T)
	sh tests/target/tools/list-cases tests/target/boots.list $(TGT_PROGS) > $@
$(TGT_T):
	@mkdir -p $@

# The configuration is rewritten when DFLY_KERNEL/DFLY_KO/DFLY_SRC change.
DFLY_KERNEL ?=
DFLY_KO ?=
TGT_CONF_TEXT := kernel='$(DFLY_KERNEL)' ko='$(DFLY_KO)' kbuild='$(abspath $(B))/target/ko' \
  kqtest='$(abspath $(TGT_B))/kqtest' mbload='$(abspath $(TGT_B))/mbload'
$(TGT_T)/target.conf: FORCE | $(TGT_T)
	@printf '%s\n' "$(TGT_CONF_TEXT)" > $@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; rm -rf $(TGT_T)/work; fi
.PHONY: FORCE
FORCE:

$(eval $(call kyua_area,tests/target))
# With a kernel, `make` (and so `make test`) also installs the tier's
# packages and, without ready-made modules, cross-builds them.
ifneq ($(DFLY_KERNEL),)
ALL_TARGETS += deps-target
ifeq ($(DFLY_KO),)
ALL_TARGETS += kbuild-dfly
endif
endif
TGT_ALL := $(TGT_B)/kqtest $(TGT_B)/mbload $(TGT_T)/target_test $(TGT_T)/run-target \
            $(TGT_T)/boots.list $(TGT_T)/cases.list $(TGT_T)/target.conf $(TGT_T)/Kyuafile
ALL_TARGETS += $(TGT_ALL)

# The modules for the guest, cross-built with DragonFly's share/mk.
DFLY_SRC ?= $(shell cat .dfly-src 2>/dev/null)
KBUILD_DIRS := kmod/kqemu kmod/kqemu_clone tests/kmod/semcount
.PHONY: kbuild-dfly deps-target test-target
KQEMU_SRC ?=
kbuild-dfly:
	@DFLY_SRC='$(DFLY_SRC)' KQEMU_SRC='$(if $(KQEMU_SRC),$(abspath $(KQEMU_SRC)))' OUT='$(abspath $(B))/target/ko' \
	    sh tests/target/tools/kbuild $(KBUILD_DIRS)

# What the tier needs at run time (qemu, makefs; bmake, gcc, g++ and python3
# for the module cross-build and the PLT32 rewrite).
PKGS_TARGET := qemu-system-x86 makefs bmake gcc g++ python3
deps-target: ; $(call need_pkgs,$(PKGS_TARGET))

# Only this tier: fresh results, every phase booted.
# A kyua root of its own (only this tier's Kyuafile), so the run needs no
# other area built; the results land in $(B)/target-only.
TGT_ONLY := $(B)/target-only
test-target: deps-test deps-target $(TGT_ALL)
	@if [ -z '$(DFLY_KERNEL)' ]; then echo "test-target: DFLY_KERNEL=/path/to/kernel is required"; exit 2; fi
	@if [ -z '$(DFLY_KO)' ]; then $(MAKE) --no-print-directory kbuild-dfly; fi
	@rm -rf $(TGT_T)/work $(TGT_ONLY) && mkdir -p $(TGT_ONLY)/tests
	@ln -s $(abspath $(TGT_T)) $(TGT_ONLY)/tests/target
	@{ echo 'syntax(2)'; echo 'test_suite("kqemu_clone")'; echo 'include("target/Kyuafile")'; } \
	    > $(TGT_ONLY)/tests/Kyuafile
	@tools/run-kyua $(TGT_ONLY)

# make bench-target DFLY_KERNEL=...: one boot per shim mode running only the
# bench suite (tests/target/progs/suite_bench.c), then the "bench:" lines of
# each console.  Ratios, never asserted; not part of test-target (it would
# only slow it down).  Consoles in $(B)/target/bench-work/bench_<mode>.console.
BENCH_MODES ?= autoclone fp native proc
TGT_BENCH_W := $(B)/target/bench-work
.PHONY: bench-target
bench-target: deps-target $(TGT_B)/kqtest $(TGT_B)/mbload
	@if [ -z '$(DFLY_KERNEL)' ]; then echo "bench-target: DFLY_KERNEL=/path/to/kernel is required"; exit 2; fi
	@if [ -z '$(DFLY_KO)' ]; then $(MAKE) --no-print-directory kbuild-dfly; fi
	@rc=0; for m in $(BENCH_MODES); do \
	    sh tests/target/run-target -k '$(DFLY_KERNEL)' -l $(TGT_B)/mbload -p $(TGT_B)/kqtest \
	        -m '$(if $(DFLY_KO),$(DFLY_KO),$(abspath $(B))/target/ko)' -w $(TGT_BENCH_W) \
	        -b bench_$$m -s bench -e "hw.kqemu.engine=conform hw.kqemu_clone.mode=$$m" \
	        >/dev/null 2>&1 || { echo "bench-target: $$m: boot failed: $$(cat $(TGT_BENCH_W)/bench_$$m.status 2>/dev/null)"; rc=1; }; \
	    tr -d '\r' < $(TGT_BENCH_W)/bench_$$m.console 2>/dev/null | \
	        grep -E '^(bench: |bench_[a-z]+:)' || { echo "bench-target: $$m: no bench lines"; rc=1; }; \
	done; exit $$rc
