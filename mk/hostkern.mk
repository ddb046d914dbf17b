# mk/hostkern.mk: the host kernel (tests/host/kern -> libhostkern.a), its
# semantic tests (tests/hostkern), the test KLD semcount, and the helpers
# other areas use:
#
#   HOSTKERN_LIB      $(B)/lib/libhostkern.a
#   HOSTKERN_LDLIBS   link flags for a program that hosts the kernel
#                     (whole archive, so dlopen'ed modules bind to every
#                     kernel symbol through -rdynamic)
#   $(call host_test_prog,tests/AREA/NAME_test,SOURCES)
#                     builds $(B)/tests/AREA/NAME_test from host sources
#                     ($(B)/obj/host-%.o) + atf-c + the host kernel
#   HK_MODULE_DIR     where hk_boot looks for NAME.so ($HK_MODULE_PATH
#                     overrides it at run time)

HOSTKERN_LIB := $(B)/lib/libhostkern.a
HOSTKERN_LDLIBS := -Wl,--whole-archive $(HOSTKERN_LIB) -Wl,--no-whole-archive -ldl -lpthread
HK_MODULE_DIR := $(abspath $(B))/modules

HOSTKERN_SRCS := $(sort $(wildcard tests/host/kern/*.c))
HOSTKERN_OBJS := $(patsubst %.c,$(B)/obj/hostkern-%.o,$(HOSTKERN_SRCS))
HOSTKERN_CPPFLAGS := -D_KERNEL -I$(TOP)/tests/host/include/kern \
	-I$(TOP)/tests/host/include -D_GNU_SOURCE \
	-DHK_MODULE_DIR='"$(HK_MODULE_DIR)"'

$(B)/obj/hostkern-%.o: %.c | deps-build
	@mkdir -p $(@D)
	$(CC) $(HOSTKERN_CPPFLAGS) $(HOST_CFLAGS) $(HOSTKERN_XFLAGS) -MMD -MP -c -o $@ $<

$(HOSTKERN_LIB): $(HOSTKERN_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

ALL_TARGETS += $(HOSTKERN_LIB)

# $(call host_test_prog,tests/AREA/NAME_test,SOURCES)
define host_test_prog
$(B)/$(1): $(patsubst %,$(B)/obj/host-%.o,$(basename $(2))) $(HOSTKERN_LIB) | deps-test
	@mkdir -p $$(@D)
	$$(CXX) $(HOST_LDFLAGS) -o $$@ $(patsubst %,$(B)/obj/host-%.o,$(basename $(2))) -latf-c $(HOSTKERN_LDLIBS)
ALL_TARGETS += $(B)/$(1)
endef

# The semantics test KLD (tests/kmod/semcount): built for the host only
# here; tests/kmod/semcount/Makefile builds it with bsd.kmod.mk.
$(eval $(call host_module,semcount,tests/kmod/semcount/semcount.c))
# Host-only test KLD for the linker rules (linker_test).
$(eval $(call host_module,hkdep,tests/hostkern/modules/hkdep.c))

HOSTKERN_TESTS := devfs descrip exit kmalloc lock linker clone vfs stress strict
$(foreach t,$(HOSTKERN_TESTS),$(if $(wildcard tests/hostkern/$(t)_test.c),$(eval $(call host_test_prog,tests/hostkern/$(t)_test,tests/hostkern/$(t)_test.c tests/hostkern/h_common.c))))
$(eval $(call kyua_area,tests/hostkern))

# lock_test, kmalloc_test, vfs_test and strict_test call the kernel API directly (kernel context).
$(B)/obj/host-tests/hostkern/lock_test.o $(B)/obj/host-tests/hostkern/kmalloc_test.o \
$(B)/obj/host-tests/hostkern/vfs_test.o $(B)/obj/host-tests/hostkern/strict_test.o: \
	HOST_CPPFLAGS += -D_KERNEL -I$(TOP)/tests/host/include/kern
