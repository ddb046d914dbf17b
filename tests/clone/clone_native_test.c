/* The cloning shim's cases in mode "native" (see clone_cases.c). */
#define CT_MODE "native"
#include "clone_cases.c"
