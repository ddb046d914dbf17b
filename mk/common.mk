# mk/common.mk: toolchain, flags and the helpers every area uses.
#
# Host builds use clang so the kernel C++'s thread-safety annotations are
# checked (-Wthread-safety -Werror) on every build, sanitized or not.

# O=DIR builds into DIR instead (parallel work in one checkout).
SANITIZE ?=
ifeq ($(SANITIZE),)
B := build
SAN_FLAGS :=
else ifeq ($(SANITIZE),address)
B := build-asan
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else ifeq ($(SANITIZE),thread)
B := build-tsan
SAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
else
$(error SANITIZE must be empty, address or thread)
endif
ifneq ($(O),)
B := $(O)
endif

CC  := clang
CXX := clang++

# Debian packages, installed by the targets that need them (apt-get as root,
# otherwise the exact command is printed and make stops).
PKGS_BUILD := clang libclang-rt-14-dev make pkg-config
PKGS_TEST  := kyua atf-sh libatf-dev mandoc
PKGS_FUSE  := fuse3 libfuse3-dev

# $(call need_pkgs,pkg ...): install what is missing.
define need_pkgs
@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" = 0 ]; then echo "installing:$$missing"; \
    (apt-get install -y -q $$missing >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $$missing >/dev/null; }) || { echo "apt-get install$$missing failed"; exit 1; }; \
  else echo "missing Debian packages:$$missing"; echo "run: sudo apt-get install -y$$missing"; exit 1; fi; fi
endef

.PHONY: deps-build deps-test deps-fuse
deps-build: ; $(call need_pkgs,$(PKGS_BUILD))
deps-test: deps-build ; $(call need_pkgs,$(PKGS_TEST))
deps-fuse: ; $(call need_pkgs,$(PKGS_FUSE))

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
        -Wthread-safety
OPT  := -O1 -g

# User-space test programs and the host kernel itself.
HOST_CPPFLAGS := -I$(TOP)/include -I$(TOP)/tests/host/include -D_GNU_SOURCE
HOST_CFLAGS   := $(OPT) $(WARN) $(SAN_FLAGS) -std=gnu11 -fPIC -pthread
HOST_CXXFLAGS := $(OPT) $(WARN) $(SAN_FLAGS) -std=c++17 -fPIC -pthread
HOST_LDFLAGS  := $(SAN_FLAGS) -pthread -rdynamic

# Kernel sources (kmod/) compiled against the host kernel's shadow headers.
# The C++ flags mirror the real kernel build: freestanding C++17 (DragonFly 5.8 builds modules with its base gcc 8), no
# exceptions, RTTI, thread-safe statics, atexit or C++ standard library.
KMOD_CPPFLAGS := -D_KERNEL -I$(TOP)/tests/host/include/kern -I$(TOP)/tests/host/include \
                 -I$(TOP)/include -I$(TOP)/kmod
KMOD_CFLAGS   := $(OPT) $(WARN) $(SAN_FLAGS) -std=gnu11 -fPIC
KMOD_CXXFLAGS := $(OPT) $(WARN) $(SAN_FLAGS) -std=c++17 -fPIC -nostdinc++ -fno-exceptions \
                 -fno-rtti -fno-threadsafe-statics -fno-use-cxa-atexit -fno-unwind-tables

# $(call host_module,NAME,SOURCES): $(B)/modules/NAME.so, the host kernel's
# stand-in for NAME.ko (kldload dlopens it; unresolved symbols bind to the
# host kernel in the test program, linked with -rdynamic).
define host_module
$(B)/modules/$(1).so: $(patsubst %,$(B)/obj/kmod-%.o,$(basename $(2)))
	@mkdir -p $$(@D)
	$$(CXX) -shared $(SAN_FLAGS) -o $$@ $$^
MODULES += $(B)/modules/$(1).so
ALL_TARGETS += $(B)/modules/$(1).so
endef

$(B)/obj/kmod-%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(KMOD_CPPFLAGS) $(KMOD_CFLAGS) -MMD -MP -c -o $@ $<
$(B)/obj/kmod-%.o: %.cc
	@mkdir -p $(@D)
	$(CXX) $(KMOD_CPPFLAGS) $(KMOD_CXXFLAGS) -MMD -MP -c -o $@ $<
$(B)/obj/host-%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CPPFLAGS) $(HOST_CFLAGS) -MMD -MP -c -o $@ $<
$(B)/obj/host-%.o: %.cc
	@mkdir -p $(@D)
	$(CXX) $(HOST_CPPFLAGS) $(HOST_CXXFLAGS) -MMD -MP -c -o $@ $<

# $(call kyua_area,tests/AREA): copy its Kyuafile beside its programs.
define kyua_area
$(B)/$(1)/Kyuafile: $(1)/Kyuafile
	@mkdir -p $$(@D)
	cp $$< $$@
TEST_AREAS += $(patsubst tests/%,%,$(1))
ALL_TARGETS += $(B)/$(1)/Kyuafile
endef

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
