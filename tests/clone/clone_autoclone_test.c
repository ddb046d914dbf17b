/* The cloning shim's cases in mode "autoclone" (see clone_cases.c). */
#define CT_MODE "autoclone"
#include "clone_cases.c"
