# mk/clone.mk: the cloning shim on the host kernel: kqemu_clone.so, the
# test modules h_single.so / h_single_clone.so, the tests/clone programs
# (one per mode, plus kqemu_clone_test), and `make bench`.
#
# This fragment sorts before mk/hostkern.mk, so it cannot test
# HOSTKERN_LIB or call host_test_prog while it is read: its link rules
# name the library by its documented path ($(B)/lib/libhostkern.a) and
# expand $(HOSTKERN_LDLIBS) only in recipes (after every fragment is read);
# everything is wired in only when mk/hostkern.mk exists.

CLONE_SHIM_SRCS := $(addprefix kmod/clone/,clone_attach.c clone_base.c clone_modes.c \
    clone_interposer.c clone_proc.c clone_autoclone.c \
    clone_autoclone_unload.c clone_sysctl.c clone_os.c clone_core.cc clone_core_query.cc)
CLONE_MODES     := autoclone fp native proc
CLONE_UTIL_SRCS := tests/clone/clone_util.c

# The host kernel has one devfs, at /dev (the autoclone unload locks
# /dev/<name> instead of scanning the mount list).
$(B)/obj/kmod-kmod/clone/clone_autoclone_unload.o: KMOD_CPPFLAGS += -DCLONE_HOST_BUILD

# The test programs find qemu_seq.h and h_single.h beside their sources.
$(B)/obj/host-tests/clone/%.o: HOST_CPPFLAGS += -Itests/kqemu -Itests/clone
$(B)/obj/host-tests/bench/%.o: HOST_CPPFLAGS += -Itests/kqemu

# $(call clone_prog,OUTPUT,SOURCES): a host program linked with the host
# kernel (and atf-c).
define clone_prog
$(1): $(patsubst %,$(B)/obj/host-%.o,$(basename $(2))) $(B)/lib/libhostkern.a | deps-test
	@mkdir -p $$(@D)
	$$(CXX) $$(HOST_LDFLAGS) -o $$@ $(patsubst %,$(B)/obj/host-%.o,$(basename $(2))) -latf-c $$(HOSTKERN_LDLIBS)
endef

ifneq ($(wildcard mk/hostkern.mk),)
$(eval $(call host_module,kqemu_clone,kmod/kqemu_clone/kqemu_clone.c $(CLONE_SHIM_SRCS)))
$(eval $(call host_module,h_single,tests/clone/h_single/h_single.c))
$(eval $(call host_module,h_single_clone,tests/clone/h_single/h_single_clone.c $(CLONE_SHIM_SRCS)))

$(foreach m,$(CLONE_MODES),$(eval $(call clone_prog,$(B)/tests/clone/clone_$(m)_test,tests/clone/clone_$(m)_test.c $(CLONE_UTIL_SRCS))))
$(eval $(call clone_prog,$(B)/tests/clone/kqemu_clone_test,tests/clone/kqemu_clone_test.c $(CLONE_UTIL_SRCS) tests/kqemu/qemu_seq.c))
# The core alone, with the test's own OS interface (no host kernel).
$(B)/obj/host-tests/clone/clone_core_test.o: HOST_CPPFLAGS += -Ikmod
CLONE_CORE_OBJS := $(B)/obj/kmod-kmod/clone/clone_core.o $(B)/obj/kmod-kmod/clone/clone_core_query.o
$(B)/tests/clone/clone_core_test: $(B)/obj/host-tests/clone/clone_core_test.o $(CLONE_CORE_OBJS) | deps-test
	@mkdir -p $(@D)
	$(CXX) $(HOST_LDFLAGS) -o $@ $(B)/obj/host-tests/clone/clone_core_test.o $(CLONE_CORE_OBJS) -latf-c -lpthread
ALL_TARGETS += $(B)/tests/clone/clone_core_test
ALL_TARGETS += $(foreach m,$(CLONE_MODES),$(B)/tests/clone/clone_$(m)_test) $(B)/tests/clone/kqemu_clone_test
$(eval $(call kyua_area,tests/clone))

# The tests load these modules at run time.
$(foreach m,$(CLONE_MODES),$(B)/tests/clone/clone_$(m)_test) $(B)/tests/clone/kqemu_clone_test: \
    | $(B)/modules/h_single.so $(B)/modules/h_single_clone.so $(B)/modules/kqemu_clone.so \
      $(B)/modules/kqemu.so

# make bench: prints ratios, never asserts.
$(eval $(call clone_prog,$(B)/bench/clone_bench,tests/bench/clone_bench.c))
.PHONY: bench
bench: deps-build $(B)/bench/clone_bench $(B)/modules/kqemu.so $(B)/modules/kqemu_clone.so
	@HK_MODULE_PATH=$(abspath $(B))/modules $(B)/bench/clone_bench
endif
