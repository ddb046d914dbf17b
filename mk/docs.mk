# mk/docs.mk: the manual pages (docs/man/kqemu.4, docs/man/kqemu_clone.4,
# docs/man/clone_shim.9, installed on DragonFly by the BSD
# Makefiles) and their kyua area tests/docs (mandoc -Tlint, cross-references,
# tunables documented).
#
#   make man     renders them to $(B)/man/<page>.txt (mandoc -Tutf8)
#
# mandoc comes from Debian's package mandoc (PKGS_TEST in mk/common.mk).

MAN_PAGES := docs/man/kqemu.4 docs/man/kqemu_clone.4 docs/man/clone_shim.9
DOCS_T := $(B)/tests/docs

$(DOCS_T)/man_test: tests/docs/man_test
	@mkdir -p $(@D)
	cp $< $@ && chmod +x $@

$(DOCS_T)/docs.conf: mk/docs.mk
	@mkdir -p $(@D)
	@printf "top='%s'\n" '$(TOP)' > $@

$(eval $(call kyua_area,tests/docs))
ALL_TARGETS += $(DOCS_T)/man_test $(DOCS_T)/docs.conf

.PHONY: man
man: deps-test $(patsubst %,$(B)/man/%.txt,$(notdir $(MAN_PAGES)))
$(B)/man/%.txt: $(MAN_PAGES)
	@mkdir -p $(@D)
	mandoc -Tutf8 $(filter %/$*,$(MAN_PAGES)) | sed -e 's/.\x08//g' > $@
