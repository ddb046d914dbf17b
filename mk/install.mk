# mk/install.mk: the kyua area tests/install -- `make install` and `make
# deinstall` of the BSD Makefiles, run under bmake with DragonFly's own
# share/mk (tests/target/tools/kbuild) into a DESTDIR, and checked.
#
#   make test DFLY_SRC=/path/to/dragonfly   runs it (a DragonFly git dir,
#        e.g. a clone of github.com/DragonFlyBSD/DragonFlyBSD, or a tree
#        with sys/ and share/mk; or its path in .dfly-src)
#   make test                                without one: skipped, with the
#        reason
# With DFLY_SRC, `make` also installs what the cross-build needs.

DFLY_SRC ?= $(shell cat .dfly-src 2>/dev/null)
INST_T := $(B)/tests/install

$(INST_T)/install_test: tests/install/install_test
	@mkdir -p $(@D)
	cp $< $@ && chmod +x $@

# Rewritten when DFLY_SRC changes.
$(INST_T)/install.conf: FORCE
	@mkdir -p $(@D)
	@printf "top='%s' dflysrc='%s'\n" '$(TOP)' '$(if $(DFLY_SRC),$(abspath $(DFLY_SRC)))' > $@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

.PHONY: FORCE
FORCE:

$(eval $(call kyua_area,tests/install))
ALL_TARGETS += $(INST_T)/install_test $(INST_T)/install.conf

PKGS_KBUILD := bmake gcc g++ python3
.PHONY: deps-kbuild
deps-kbuild: ; $(call need_pkgs,$(PKGS_KBUILD))
ifneq ($(DFLY_SRC),)
ALL_TARGETS += deps-kbuild
endif
