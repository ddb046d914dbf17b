/* The cloning shim's cases in mode "fp" (see clone_cases.c). */
#define CT_MODE "fp"
#include "clone_cases.c"
