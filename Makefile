# proxyapi — see README.md. `make demo` and `make test` work on a fresh
# Debian 12 machine: missing Debian packages are installed first.

LUA      ?= lua5.4
CC       ?= cc
BUILD    ?= build
PREFIX   ?= /usr/local

# Debian packages: what building and running need, and what the tests and
# linters add. `make` itself installs nothing; `make deps` (run first by
# `make test`, `make demo` and CI) installs what is missing.
DEBS      := lua5.4 liblua5.4-dev libcurl4-openssl-dev lua-cjson lua-cjson-dev pkg-config \
             libreadline-dev lua-socket lua-sql-sqlite3 lua-argparse
TEST_DEBS := lua-busted luarocks lua-check tinyproxy microsocks clang-format cppcheck prometheus tmux lua-ldoc lua-discount

# Recursive (=) so that pkg-config runs when a recipe needs it, after deps.
PKGS       = lua5.4 libcurl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
CURL_LIBS  = $(shell pkg-config --libs libcurl)
# static archives, wherever the compiler's library path has them (the
# lua5.4-cjson.pc of Debian names /usr/lib, not the multiarch folder)
CJSON_A    = $(shell $(CC) -print-file-name=liblua5.4-cjson.a)
LUA_A      = $(shell $(CC) -print-file-name=liblua5.4.a)

OPT      ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wundef -Wwrite-strings \
            -Wmissing-prototypes -Wstrict-prototypes
CFLAGS   ?= $(OPT)
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -DPX_USE_READLINE -DPX_PRIVATE_CJSON -fPIC $(WARN) $(CFLAGS) \
             $(PKG_CFLAGS) -Icsrc

# the C core (proxyapi.core) and the host around it
CORE_SRC := csrc/px_core.c csrc/px_client.c csrc/px_transfer.c csrc/px_result.c csrc/px_request.c csrc/px_json.c csrc/px_normalise.c csrc/px_scan.c csrc/px_scrub.c csrc/px_os.c csrc/px_spawn.c
HOST_SRC := csrc/pxlua.c csrc/pxlua_args.c csrc/pxlua_fake.c csrc/pxlua_repl.c
LUA_SRC  := $(sort $(wildcard lua/proxyapi/*.lua lua/proxyapi/*/*.lua))
# module name = path under lua/ with / as . (init.lua names its folder)
LUA_MODS  = $(foreach f,$(LUA_SRC),$(subst /,.,$(patsubst lua/%.lua,%,$(patsubst %/init.lua,%.lua,$(f))))=$(f))

BUSTED   := $(LUA) /usr/bin/busted
LUA_FILES = lua scripts scripts/proxyapi-fake scripts/embed-lua spec

.PHONY: all deps test lint demo clean

all: $(BUILD)/proxyapi/core.so $(BUILD)/pxlua

deps:
	@scripts/install-deps $(DEBS) $(TEST_DEBS)

# Objects are compiled once, with dependency files; a plain build and a
# sanitizer build (for make check-asan) each have their own.
obj = $(patsubst csrc/%.c,$(1)/%.o,$(2))
# lua-cjson's own objects, linked into the core as its private decoder
# with two Lua calls redirected to it (see csrc/px_json.c)
CJSON_PRIVATE = $(BUILD)/obj/cjson_private.o
CORE_OBJ      = $(call obj,$(BUILD)/obj,$(CORE_SRC)) $(CJSON_PRIVATE)
HOST_OBJ      = $(call obj,$(BUILD)/obj,$(HOST_SRC)) $(BUILD)/obj/px_embedded.o
SAN_FLAGS    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_CORE_OBJ = $(call obj,$(BUILD)/asan/obj,$(CORE_SRC)) $(CJSON_PRIVATE)
ASAN_HOST_OBJ = $(call obj,$(BUILD)/asan/obj,$(HOST_SRC)) $(BUILD)/asan/obj/px_embedded.o

$(CJSON_PRIVATE): $(CJSON_A) Makefile
	@mkdir -p $(@D)/cjson
	cd $(@D)/cjson && ar x $(CJSON_A) && ld -r -o all.o lua_cjson.o fpconv.o strbuf.o
	objcopy --redefine-sym lua_pushnumber=px_cjson_pushnumber --redefine-sym lua_pushlightuserdata=px_cjson_pushnull \
	  --redefine-sym luaL_checklstring=px_cjson_checklstring \
	  --redefine-sym luaopen_cjson=px_luaopen_cjson --redefine-sym luaopen_cjson_safe=px_luaopen_cjson_safe \
	  --redefine-sym stderr=px_cjson_stderr --keep-global-symbol=px_luaopen_cjson $(@D)/cjson/all.o $@

$(BUILD)/obj/%.o: csrc/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/px_embedded.o: $(BUILD)/px_embedded.c
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/asan/obj/%.o: csrc/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/asan/obj/px_embedded.o: $(BUILD)/px_embedded.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

$(BUILD)/proxyapi/core.so: $(CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -shared -o $@ $^ $(CURL_LIBS) -lm

$(BUILD)/px_embedded.c: $(LUA_SRC) scripts/embed-lua
	@mkdir -p $(@D)
	$(LUA) scripts/embed-lua $@ $(LUA_MODS)

# The one link of a host: Lua and cjson statically (it exports Lua's API
# with -Wl,-E for the C modules scripts load), libcurl from Debian's shared
# library. LINK_FLAGS adds the sanitizers for the checked build.
HOST_LIBS = -Wl,-E $(LUA_A) $(CJSON_A) $(CURL_LIBS) -lm -ldl
define link_host
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LINK_FLAGS) -o $@ $^ $(HOST_LIBS) $(LINK_LIBS)
endef

$(BUILD)/pxlua: LINK_LIBS = -lreadline
$(BUILD)/pxlua: $(HOST_OBJ) $(CORE_OBJ)
	$(link_host)

C_FILES   = $(shell find csrc -name '*.[ch]')
CPPCHECK := cppcheck --error-exitcode=1 --enable=warning,style,performance,portability --std=c11 \
            --inline-suppr --quiet --suppress=missingIncludeSystem --suppress=toomanyconfigs

lint:
	luacheck -q $(LUA_FILES)
	clang-format --dry-run -Werror $(C_FILES)
	$(CPPCHECK) -I csrc $(filter %.c,$(C_FILES))

# specs (and the pxlua processes they start) keep journals and histories
# in a folder of the build, never in the user's
TEST_STATE = $(CURDIR)/$(BUILD)/test-state

test: deps
	@$(MAKE) --no-print-directory all lint
	@rm -rf $(TEST_STATE) && mkdir -m 700 -p $(TEST_STATE)
	XDG_STATE_HOME=$(TEST_STATE) $(BUSTED)

# pxlua --fake starts the fake API on a free loopback port, points `api`
# at it, and stops it when the script ends; cap-traffic disables the
# accounts that used 20 GB or more.
demo: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/pxlua --fake scripts/cap-traffic.lua --threshold 20

# --- packaging: version, install, rockspecs ---
# The version is written once, in lua/proxyapi/version.lua.
VERSION   := $(shell sed -n 's/^return "\(.*\)"$$/\1/p' lua/proxyapi/version.lua)
DESTDIR   ?=
BINDIR     = $(PREFIX)/bin
LUA_LDIR   = $(PREFIX)/share/lua/5.4
LUA_CDIR   = $(PREFIX)/lib/lua/5.4
MANDIR     = $(PREFIX)/share/man/man1
DOCDIR     = $(PREFIX)/share/doc/proxyapi
ROCKSPECS  = rockspec/proxyapi-$(VERSION)-1.rockspec rockspec/proxyapi-scm-1.rockspec
DOCS       = README.md CHANGELOG.md

DOC_DEBS  := lua-ldoc lua-discount

.PHONY: install uninstall check-rockspec check-install docs

# The API reference, from the doc comments in lua/ (scripts/ldoc.ld).
docs: $(BUILD)/doc/index.html

$(BUILD)/doc/index.html: scripts/ldoc.ld $(LUA_SRC) scripts/gen-doc
	@scripts/install-deps $(DOC_DEBS)
	rm -rf $(BUILD)/doc
	@mkdir -p build/ldoc
	$(LUA) scripts/gen-doc build/ldoc/client_methods.lua # where scripts/ldoc.ld reads it
	ldoc -c scripts/ldoc.ld -d $(abspath $(BUILD))/doc . > /dev/null
	@# discount makes -- a dash and quotes curly: undo it, so examples copy as written
	find $(BUILD)/doc -name '*.html' -exec sed -i -e 's/&ldquo;\|&rdquo;/"/g' -e "s/&lsquo;\|&rsquo;/'/g" \
	  -e 's/&ndash;/--/g' -e 's/&mdash;/---/g' -e 's/&hellip;/.../g' {} +

MANPAGES   = pxlua.1 proxyapi.1 proxyapi-fake.1
JOB_SCRIPTS = $(filter-out scripts/demo.lua,$(wildcard scripts/*.lua)) scripts/demo.lua
COMPLETIONS = $(BUILD)/completion/proxyapi.bash $(BUILD)/completion/_proxyapi $(BUILD)/completion/proxyapi.fish
SYSTEMD    = $(wildcard scripts/systemd/*)
SCRIPTDIR  = $(PREFIX)/share/proxyapi/scripts
BASHDIR    = $(PREFIX)/share/bash-completion/completions
ZSHDIR     = $(PREFIX)/share/zsh/vendor-completions
FISHDIR    = $(PREFIX)/share/fish/vendor_completions.d

$(BUILD)/man/%.1: csrc/%.1 lua/proxyapi/version.lua
	@mkdir -p $(@D)
	sed 's/@VERSION@/$(VERSION)/g' $< > $@

# the completions, from the command itself (the endpoint table's commands included)
$(BUILD)/completion/proxyapi.bash: $(LUA_SRC) scripts/proxyapi $(BUILD)/proxyapi/core.so
	@mkdir -p $(@D)
	$(LUA) scripts/proxyapi completion bash > $@
$(BUILD)/completion/_proxyapi: $(LUA_SRC) scripts/proxyapi $(BUILD)/proxyapi/core.so
	@mkdir -p $(@D)
	$(LUA) scripts/proxyapi completion zsh > $@
$(BUILD)/completion/proxyapi.fish: $(LUA_SRC) scripts/proxyapi $(BUILD)/proxyapi/core.so
	@mkdir -p $(@D)
	$(LUA) scripts/proxyapi completion fish > $@

# Installs exactly what uninstall removes: the module (every Lua file of
# lua/, and the core), pxlua, the proxyapi command (run by the installed
# pxlua, for its interrupt handling: its first line names $(BINDIR)/pxlua), the fake API's command, the jobs'
# scripts, the man pages, the completions, the docs and the systemd examples.
install: all docs $(addprefix $(BUILD)/man/,$(MANPAGES)) $(COMPLETIONS)
	for f in $(LUA_SRC); do \
	  install -D -m 644 $$f $(DESTDIR)$(LUA_LDIR)/$${f#lua/} || exit 1; done
	install -D -m 755 $(BUILD)/proxyapi/core.so $(DESTDIR)$(LUA_CDIR)/proxyapi/core.so
	install -D -m 755 $(BUILD)/pxlua $(DESTDIR)$(BINDIR)/pxlua
	sed '1s|.*|#!$(BINDIR)/pxlua|' scripts/proxyapi > $(BUILD)/proxyapi.installed
	install -D -m 755 $(BUILD)/proxyapi.installed $(DESTDIR)$(BINDIR)/proxyapi
	install -D -m 755 scripts/proxyapi-fake $(DESTDIR)$(BINDIR)/proxyapi-fake
	install -d $(DESTDIR)$(SCRIPTDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(DOCDIR)/systemd
	install -m 644 $(JOB_SCRIPTS) $(DESTDIR)$(SCRIPTDIR)/
	install -m 644 $(addprefix $(BUILD)/man/,$(MANPAGES)) $(DESTDIR)$(MANDIR)/
	install -D -m 644 $(BUILD)/completion/proxyapi.bash $(DESTDIR)$(BASHDIR)/proxyapi
	install -D -m 644 $(BUILD)/completion/_proxyapi $(DESTDIR)$(ZSHDIR)/_proxyapi
	install -D -m 644 $(BUILD)/completion/proxyapi.fish $(DESTDIR)$(FISHDIR)/proxyapi.fish
	install -m 644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 644 $(SYSTEMD) $(DESTDIR)$(DOCDIR)/systemd/
	rm -rf $(DESTDIR)$(DOCDIR)/api
	cp -R $(BUILD)/doc $(DESTDIR)$(DOCDIR)/api

uninstall:
	rm -f $(addprefix $(DESTDIR)$(LUA_LDIR)/,$(patsubst lua/%,%,$(LUA_SRC)))
	rm -f $(DESTDIR)$(LUA_CDIR)/proxyapi/core.so
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,pxlua proxyapi proxyapi-fake)
	rm -f $(addprefix $(DESTDIR)$(SCRIPTDIR)/,$(notdir $(JOB_SCRIPTS))) $(addprefix $(DESTDIR)$(MANDIR)/,$(MANPAGES))
	rm -f $(DESTDIR)$(BASHDIR)/proxyapi $(DESTDIR)$(ZSHDIR)/_proxyapi $(DESTDIR)$(FISHDIR)/proxyapi.fish
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(DOCS)) $(addprefix $(DESTDIR)$(DOCDIR)/systemd/,$(notdir $(SYSTEMD)))
	rm -rf $(DESTDIR)$(DOCDIR)/api
	@# only the folders that are proxyapi's own, deepest first
	-rmdir $(sort $(patsubst %/,%,$(addprefix $(DESTDIR)$(LUA_LDIR)/,$(filter-out proxyapi/,$(dir \
	  $(patsubst lua/%,%,$(LUA_SRC))))))) 2>/dev/null
	-rmdir $(DESTDIR)$(LUA_LDIR)/proxyapi $(DESTDIR)$(LUA_CDIR)/proxyapi $(DESTDIR)$(SCRIPTDIR) \
	  $(DESTDIR)$(PREFIX)/share/proxyapi $(DESTDIR)$(DOCDIR)/systemd $(DESTDIR)$(DOCDIR) 2>/dev/null

# Both rockspecs build and install against Debian's packages, and the
# installed module works from outside the checkout.
check-rockspec: deps
	scripts/check-rockspec $(VERSION) $(ROCKSPECS)

# An install into a scratch DESTDIR works from there, and uninstall leaves
# nothing behind.
check-install: all
	scripts/check-install

# --- checks: sanitizers, valgrind, aggressive GC, allocation-failure torture ---
# Each runs the whole spec suite through a pxlua binary: its core and Lua
# are built in, and busted runs on it like on lua5.4.

ASAN_ENV  := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
VALGRIND  := valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
             --show-leak-kinds=definite --child-silent-after-fork=yes
CHECK_DEBS := valgrind libclang-rt-14-dev clang

.PHONY: check-asan check-valgrind check-gc check-torture checks

check-deps:
	@scripts/install-deps $(CHECK_DEBS)

$(BUILD)/asan/pxlua: LINK_FLAGS = $(SAN_FLAGS)
$(BUILD)/asan/pxlua: LINK_LIBS = -lreadline
$(BUILD)/asan/pxlua: $(ASAN_HOST_OBJ) $(ASAN_CORE_OBJ)
	$(link_host)

$(BUILD)/asan/torture: LINK_FLAGS = $(SAN_FLAGS)
$(BUILD)/asan/torture: $(BUILD)/asan/obj/test/torture.o $(ASAN_CORE_OBJ)
	$(link_host)

$(BUILD)/torture: $(BUILD)/obj/test/torture.o $(CORE_OBJ)
	$(link_host)

# pxlua processes the specs start are the sanitized build too
check-asan: all $(BUILD)/asan/pxlua | check-deps
	$(ASAN_ENV) PXLUA=$(BUILD)/asan/pxlua $(BUILD)/asan/pxlua /usr/bin/busted

check-valgrind: all | check-deps
	$(VALGRIND) $(BUILD)/pxlua /usr/bin/busted

# A collector that steps on nearly every allocation (incremental, pause 1,
# step size 2^1 bytes; 0 would mean "unchanged") finds values C holds
# without an anchor; then generational with the smallest minor step.
check-gc: all
	$(BUILD)/pxlua -e 'collectgarbage("incremental", 1, 1000, 1)' /usr/bin/busted
	$(BUILD)/pxlua -e 'collectgarbage("generational", 1, 100)' /usr/bin/busted

# Every Lua allocation failure point without sanitizers, a sample of them
# and every libcurl one under ASan (each child's leaks checked).
check-torture: $(BUILD)/torture $(BUILD)/asan/torture | check-deps
	scripts/with-fake $(BUILD)/torture spec/torture/scenario.lua lua
	scripts/with-fake env $(ASAN_ENV) TORTURE_STRIDE=7 $(BUILD)/asan/torture spec/torture/scenario.lua lua
	scripts/with-fake env $(ASAN_ENV) $(BUILD)/asan/torture spec/torture/scenario.lua curl

checks: check-asan check-valgrind check-gc check-torture

# libFuzzer targets of the C core (csrc/fuzz/: reply decoding and
# normalisation, query and body encoding), built with clang under ASan and
# UBSan into $(BUILD)/fuzz/ and run FUZZ_SECONDS each from the seeds in
# spec/fuzz/; a crash or a broken invariant fails and leaves the input in
# $(BUILD)/fuzz/ (add it to spec/fuzz/regressions or the encode seeds).
FUZZ_DEBS    := clang libclang-rt-14-dev
FUZZ_SECONDS ?= 60

.PHONY: fuzz

fuzz: all
	@scripts/install-deps $(FUZZ_DEBS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=$(BUILD) scripts/fuzz

clean:
	rm -rf $(BUILD)

# --- bench ---
# `make bench`: proxyapi (in pxlua and through `require` under lua5.4)
# against a C floor and other Lua HTTP clients, on a canned loopback
# server; prints one table and a PASS/MISS line per target
# (scripts/bench/run.lua). Takes a few minutes on 2 cores.
BENCH_DEBS := lua5.4 lua-cjson lua-socket lua5.1 lua-curl hyperfine valgrind
BENCH_BIN  := $(BUILD)/bench/server $(BUILD)/bench/curl_loop $(BUILD)/bench/curl_init

# Lua-cURLv3, a peer for the bench only, from a tarball outside the
# repository (../shared/peers/README.md); built under $(BUILD)/peers/ when
# the tarball is there, else its rows are skipped.
PEERS_DIR ?= ../shared/peers
LCURL_TGZ  = $(PEERS_DIR)/Lua-cURLv3-9f8b6db.tar.gz
LCURL_SO   = $(BUILD)/peers/lcurl.so
BENCH_PEERS = $(if $(wildcard $(LCURL_TGZ)),$(LCURL_SO))

.PHONY: bench bench-bin

bench-bin: $(BENCH_BIN) $(BENCH_PEERS)

$(BUILD)/bench/server: csrc/bench/server.c | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ csrc/bench/server.c

# Lua and cjson statically, as in pxlua, so the floor decodes with the same code
$(BUILD)/bench/curl_loop: csrc/bench/curl_loop.c | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ csrc/bench/curl_loop.c $(LUA_A) $(CJSON_A) $(CURL_LIBS) -lm -ldl

$(BUILD)/bench/curl_init: csrc/bench/curl_init.c | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ csrc/bench/curl_init.c $(CURL_LIBS)

# its own flags: foreign code, built as its README says (warnings off)
$(LCURL_SO): $(LCURL_TGZ) | deps
	@mkdir -p $(@D)
	rm -rf $(BUILD)/peers/Lua-cURLv3
	tar xzf $(LCURL_TGZ) -C $(BUILD)/peers
	$(CC) -O2 -fPIC -shared $(PKG_CFLAGS) -DPTHREADS -w -o $@ $(BUILD)/peers/Lua-cURLv3/src/*.c $(CURL_LIBS)

# BENCH_ARGS=--quick: one short pass (CI checks that the bench runs)
BENCH_ARGS ?=

bench: all $(BENCH_BIN) $(BENCH_PEERS)
	@scripts/install-deps $(BENCH_DEBS)
	$(LUA) scripts/bench/run.lua --build $(BUILD) --peers-tarball $(LCURL_TGZ) $(BENCH_ARGS)
