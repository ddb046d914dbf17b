/* The cloning shim's cases in mode "proc" (see clone_cases.c). */
#define CT_MODE "proc"
#include "clone_cases.c"
