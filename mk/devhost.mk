# mk/devhost.mk: devhost (FUSE server running the host kernel), kqemu-run
# (the qemu-like client), their kyua area tests/devhost and `make demo`.
#
#   $(B)/bin/devhost     links the host kernel (-rdynamic: modules bind to it)
#   $(B)/bin/kqemu-run   a plain Linux program (no host kernel)
#   make demo [DEMO_N=8] devhost + kqemu_clone + N concurrent clients
#
# Needs fuse3/libfuse3-dev (deps-fuse) and the host kernel (mk/hostkern.mk).

FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null || echo -I/usr/include/fuse3)
FUSE_LIBS   := $(shell pkg-config --libs fuse3 2>/dev/null || echo -lfuse3 -lpthread)

DEVHOST     := $(B)/bin/devhost
KQEMU_RUN   := $(B)/bin/kqemu-run
DEVHOST_SRCS := devhost.c namespace.c fuse_ops.c control.c process.c \
                process_exit.c call.c ioctl.c
DEVHOST_OBJS := $(patsubst %.c,$(B)/obj/host-tests/host/devhost/%.o,$(DEVHOST_SRCS))
KQEMU_RUN_OBJS := $(B)/obj/host-tests/host/devhost/kqemu-run.o \
                  $(B)/obj/host-tests/kqemu/qemu_seq.o

$(DEVHOST_OBJS): HOST_CPPFLAGS += $(FUSE_CFLAGS)
# kqemu-run reuses the QEMU 0.10 sequence of the kqemu tests.
$(B)/obj/host-tests/host/devhost/kqemu-run.o: HOST_CPPFLAGS += -I$(TOP)/tests/kqemu
$(DEVHOST_OBJS) $(KQEMU_RUN_OBJS): | deps-fuse

# mk/hostkern.mk and the module fragments sort after this file, so their
# variables are not set yet while this is read: name their outputs here
# (recipes expand later and may use HOSTKERN_LDLIBS).
DEVHOST_HKLIB   := $(B)/lib/libhostkern.a
DEVHOST_MODULES := $(if $(wildcard mk/kqemu.mk),$(B)/modules/kqemu.so) \
                   $(if $(wildcard mk/clone.mk),$(B)/modules/kqemu_clone.so)

$(DEVHOST): $(DEVHOST_OBJS) $(DEVHOST_HKLIB) | deps-fuse
	@mkdir -p $(@D)
	$(CXX) $(HOST_LDFLAGS) -o $@ $(DEVHOST_OBJS) $(HOSTKERN_LDLIBS) $(FUSE_LIBS)

$(KQEMU_RUN): $(KQEMU_RUN_OBJS)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $(KQEMU_RUN_OBJS)

# The real-process tests are an atf-sh program beside its Kyuafile.
$(B)/tests/devhost/devhost_test: tests/devhost/devhost_test.sh
	@mkdir -p $(@D)
	cp $< $@
	chmod +x $@

ifneq ($(wildcard mk/hostkern.mk),)
ALL_TARGETS += $(DEVHOST) $(KQEMU_RUN)
ifneq ($(wildcard mk/kqemu.mk),)
ALL_TARGETS += $(B)/tests/devhost/devhost_test
$(eval $(call kyua_area,tests/devhost))
# The tests drive the modules through devhost.
# (semcount, the host kernel's test KLD, serves the read/write case.)
$(B)/tests/devhost/devhost_test: $(DEVHOST) $(KQEMU_RUN) $(DEVHOST_MODULES) \
    $(B)/modules/semcount.so
endif
endif

.PHONY: demo
demo: deps-build deps-fuse
	@$(MAKE) --no-print-directory $(DEVHOST) $(KQEMU_RUN) $(DEVHOST_MODULES)
	@DEVHOST=$(DEVHOST) KQEMU_RUN=$(KQEMU_RUN) HK_MODULE_PATH=$(abspath $(B))/modules \
	  DEMO_N=$(or $(DEMO_N),8) tests/host/devhost/demo.sh
