# mk/fuzz.mk: the syscall-sequence fuzzer (tests/fuzz, libFuzzer).
#
#   make fuzz                 build into build-fuzz/ and run FUZZ_TIME seconds
#   make fuzz FUZZ_TIME=S     (default 60); prints executions, rate, findings
#
# The host kernel and the modules are built with ASan+UBSan (the address
# flavour's flags) into build-fuzz; the host kernel and the harness also
# carry libFuzzer's coverage.  The modules do not: kldunload dlcloses them,
# and libFuzzer would read their unmapped coverage counters.  New inputs go
# to build-fuzz/corpus; the seeds in tests/fuzz/corpus are only read.  A
# finding leaves build-fuzz/crash-* (the reproducer: run the fuzzer binary
# on it) and fails the target.

FUZZ_DIR  := build-fuzz
FUZZ_TIME ?= 60
FUZZ_ARGS ?=

.PHONY: fuzz fuzz-bin
fuzz: deps-build
	@mkdir -p $(FUZZ_DIR)
	@$(MAKE) --no-print-directory -j2 O=$(FUZZ_DIR) SANITIZE=address \
	    FUZZ_COV=1 fuzz-bin > $(FUZZ_DIR)/build.log 2>&1 || \
	    { tail -n 30 $(FUZZ_DIR)/build.log; exit 1; }
	@tools/run-fuzz $(FUZZ_DIR) $(FUZZ_TIME) tests/fuzz/corpus $(FUZZ_ARGS)

ifeq ($(FUZZ_COV),1)
HOSTKERN_XFLAGS := -fsanitize=fuzzer-no-link
endif

fuzz-bin: $(B)/fuzz/syscall_fuzz $(B)/modules/kqemu.so $(B)/modules/kqemu_clone.so

$(B)/fuzz/syscall_fuzz.o: tests/fuzz/syscall_fuzz.c | deps-build
	@mkdir -p $(@D)
	$(CC) $(HOST_CPPFLAGS) $(HOST_CFLAGS) -fsanitize=fuzzer \
	    -DFZ_MODULE_DIR='"$(abspath $(B))/modules"' -MMD -MP -c -o $@ $<

$(B)/fuzz/syscall_fuzz: $(B)/fuzz/syscall_fuzz.o $(B)/lib/libhostkern.a
	$(CXX) $(HOST_LDFLAGS) -fsanitize=fuzzer -o $@ $< $(HOSTKERN_LDLIBS)
