# proxyapi — see README.md. `make demo` and `make test` work on a fresh
# Debian 12 machine: missing Debian packages are installed first.

LUA      ?= lua5.4
CC       ?= cc
BUILD    ?= build
PREFIX   ?= /usr/local

DEBS := lua5.4 liblua5.4-dev libcurl4-openssl-dev lua-cjson lua-cjson-dev \
        lua-busted luarocks lua-check pkg-config lua-socket libreadline-dev \
        tinyproxy microsocks

# Recursive (=) so that pkg-config runs after `deps` has installed it.
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
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -fPIC $(WARN) $(CFLAGS) $(PKG_CFLAGS)

CORE_SRC := csrc/px_core.c csrc/px_client.c csrc/px_json.c
CORE_HDR := csrc/px.h
LUA_SRC  := $(sort $(wildcard lua/proxyapi/*.lua lua/proxyapi/*/*.lua))
# module name = path under lua/ with / as . (init.lua names its folder)
LUA_MODS  = $(foreach f,$(LUA_SRC),$(subst /,.,$(patsubst lua/%.lua,%,$(patsubst %/init.lua,%.lua,$(f))))=$(f))

BUSTED   := $(LUA) /usr/bin/busted
LUA_FILES = lua scripts/proxyapi-fake scripts/embed-lua scripts/demo.lua spec

.PHONY: all deps test lint demo clean

all: $(BUILD)/proxyapi/core.so $(BUILD)/pxlua

deps:
	@scripts/install-deps $(DEBS)

$(BUILD)/proxyapi/core.so: $(CORE_SRC) $(CORE_HDR) | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(CORE_SRC) $(CURL_LIBS) -lm

$(BUILD)/px_embedded.c: $(LUA_SRC) scripts/embed-lua | deps
	@mkdir -p $(@D)
	$(LUA) scripts/embed-lua $@ $(LUA_MODS)

# Lua and cjson linked statically (the host exports Lua's API with -Wl,-E
# for the C modules scripts load); libcurl from Debian's shared library.
$(BUILD)/pxlua: csrc/pxlua.c csrc/px_embed.h $(BUILD)/px_embedded.c $(CORE_SRC) $(CORE_HDR) | deps
	$(CC) $(ALL_CFLAGS) -DPX_USE_READLINE -Icsrc -o $@ csrc/pxlua.c $(BUILD)/px_embedded.c $(CORE_SRC) \
	  -Wl,-E $(LUA_A) $(CJSON_A) $(CURL_LIBS) -lreadline -lm -ldl

lint: | deps
	luacheck -q $(LUA_FILES)

test: all lint
	$(BUSTED)

# pxlua --fake starts the fake API on a free loopback port, points `api`
# at it, and stops it when the script ends.
demo: all
	$(BUILD)/pxlua --fake scripts/demo.lua

clean:
	rm -rf $(BUILD)
