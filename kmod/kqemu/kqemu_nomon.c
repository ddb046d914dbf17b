/*
 * kqemu_nomon.c - what kqemu.ko says when no accelerating monitor is linked
 * (built without KQEMU_SRC): no linked engine, and the module is ours
 * alone, BSD licensed.  With KQEMU_SRC, kqemu_engine_kqemu.cc defines the
 * same two symbols instead (kqemu_engine.h).
 *
 * Locking: none (constants).  Hermetic: includes only kqemu_engine.h.
 *
 * Design: docs/design.md §9.
 */
#include "kqemu_engine.h"

const struct kqemu_engine_ops *const kqemu_engine_linked = 0;
const char *const kqemu_module_license = "BSD-2-Clause (no GPL code linked)";
