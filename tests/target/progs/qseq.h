/*
 * qseq.h: what QEMU 0.10/0.11 does with /dev/kqemu, as target-suite helpers
 * (docs/design.md §12): GET_VERSION, INIT with page-aligned RAM and page
 * lists, SET_PHYS_MEM per region, an EXEC loop, MODIFY_RAM_PAGES.
 * Always the BSD command words (KQEMU_IOC_*): this runs on DragonFly.
 * Locking: none (per process).
 */
#ifndef KQT_QSEQ_H
#define KQT_QSEQ_H

#include "kqt.h"
#include <kqemu.h>

struct qvm {
	int fd;
	unsigned long ram_size;
	uint8_t *ram;
	uint8_t *dirty;
	uint64_t *flush, *update, *modified;
	struct kqemu_init init;
};

/* Maps the VM's memory (ram_pages pages) and fills init; 0 or errno. */
int qvm_alloc(struct qvm *vm, unsigned long ram_pages);
void qvm_free(struct qvm *vm);
/* The whole sequence on an open fd: version, init, phys map, nexec EXECs
 * with register patterns from seed, MODIFY_RAM_PAGES.  NULL or a reason. */
const char *qvm_sequence(struct qvm *vm, int nexec, unsigned long seed);
/* One EXEC with a pattern; checks the round trip and SOFTMMU. */
const char *qvm_exec_check(struct qvm *vm, unsigned long seed);

#endif
