# mk/kqemu.mk: kqemu.ko built as a host-kernel module, its tests, and the
# ABI checks of include/kqemu.h on LP64 and ILP32.
#
# The ILP32 check uses `clang -m32 -fsyntax-only -ffreestanding`: kqemu.h
# includes nothing, so no 32-bit libc (gcc-multilib) is needed on a fresh
# Debian 12, only the clang that PKGS_BUILD installs.

KQEMU_SRCS := $(addprefix kmod/kqemu/,kqemu_dev.c kqemu_module.c kqemu_sysctl.c kqemu_os.c \
               kqemu_core.cc kqemu_core_stats.cc kqemu_decline.cc kqemu_conform.cc \
               kqemu_nomon.c)

# The ABI checks: struct sizes, field offsets and ioctl words, as C on both
# ABIs and as C++ (kqemu.h is also a C++ header).
$(B)/obj/kqemu-abi.stamp: tests/kqemu/abi_check.c include/kqemu.h | deps-build
	@mkdir -p $(@D)
	$(CC) -m64 -std=c11 -ffreestanding -fsyntax-only -Wall -Wextra -Werror -Iinclude $<
	$(CC) -m32 -std=c11 -ffreestanding -fsyntax-only -Wall -Wextra -Werror -Iinclude $<
	$(CC) -m32 -std=c99 -pedantic -ffreestanding -fsyntax-only -Werror -Iinclude -x c include/kqemu.h
	$(CXX) -m32 -std=c++17 -ffreestanding -fsyntax-only -Wall -Wextra -Werror -Iinclude -x c++ include/kqemu.h
	$(CXX) -m64 -std=c++17 -ffreestanding -fsyntax-only -Wall -Wextra -Werror -Iinclude -x c++ include/kqemu.h
	@touch $@
ALL_TARGETS += $(B)/obj/kqemu-abi.stamp

# Module and tests need the host kernel (mk/hostkern.mk).
ifneq ($(HOSTKERN_LIB),)
$(eval $(call host_module,kqemu,$(KQEMU_SRCS)))
# Test-only: a second cdev with kqemu's ops (isolation, unload vetoes).
$(eval $(call host_module,h_twin,tests/kqemu/h_twin.c))
# Test-only: kqemu.ko as KQEMU_SRC builds it (engine kqemu, the DragonFly
# monitor glue), with our stand-in monitor linked instead of the GPL one;
# the glue compiles against the stand-in's kqemu-kernel.h.
KQEMU_ACC_SRCS := $(filter-out %/kqemu_nomon.c,$(KQEMU_SRCS)) kmod/kqemu/kqemu_mon.c \
                  kmod/kqemu/kqemu_mon_mem.c kmod/kqemu/kqemu_engine_kqemu.cc tests/kqemu/monstub.c
$(eval $(call host_module,kqemu_acc,$(KQEMU_ACC_SRCS)))
$(B)/obj/kmod-kmod/kqemu/kqemu_mon.o $(B)/obj/kmod-kmod/kqemu/kqemu_mon_mem.o \
    $(B)/obj/kmod-tests/kqemu/monstub.o: \
    KMOD_CPPFLAGS += -I$(TOP)/tests/kqemu/monstub
$(eval $(call host_test_prog,tests/kqemu/kqemu_mon_test,tests/kqemu/kqemu_mon_test.c tests/kqemu/qemu_seq.c))
$(eval $(call host_test_prog,tests/kqemu/kqemu_test,tests/kqemu/kqemu_test.c tests/kqemu/qemu_seq.c))
$(eval $(call host_test_prog,tests/kqemu/kqemu_unload_test,tests/kqemu/kqemu_unload_test.c))
$(eval $(call kyua_area,tests/kqemu))
endif
