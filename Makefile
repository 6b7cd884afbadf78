# vpptoken: the README's commands. `make demo` and `make test` install what they need on Debian 12.
LUA      ?= lua5.4
BUILD    ?= build
ASAN     ?= build-asan
BUSTED    = /usr/bin/busted --ignore-lua
JOBS     ?= 2

PREFIX   ?= /usr/local
# The Lua `make install` builds the module for: 5.1, 5.2, 5.3, 5.4 or luajit (modules in PREFIX/share/lua/V and
# PREFIX/lib/lua/V, V = 5.1 for LuaJIT).
VPPTOKEN_LUA ?= 5.4
INSTALL_SUFFIX = $(if $(filter 5.4,$(VPPTOKEN_LUA)),,-lua$(VPPTOKEN_LUA))
VERSION   = $(shell sed -n 's/^\#define VPP_VERSION "\(.*\)"/\1/p' csrc/vpp.h)

# What building and `make demo` need (ca-certificates: libcurl's CA bundle for https), then what `make test`,
# `make doc`, `make dist` and the benchmarks add.
DEBIAN_PACKAGES = build-essential cmake pkg-config lua5.4 liblua5.4-dev libcurl4-openssl-dev libssl-dev \
  libmicrohttpd-dev lua-cjson lua-lpeg lua-argparse ca-certificates
DEBIAN_TEST_PACKAGES = git lua-busted lua-check lua-socket luarocks cppcheck clang-tidy clang-format valgrind curl openssl \
  clang libclang-rt-14-dev tmux nginx lua-ldoc man-db zip unzip nodejs npm zsh fish python3-azure python3-msal \
  util-linux iproute2 lua-luv lua-cqueues faketime \
  lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev luajit libluajit-5.1-dev

# The other Lua versions the module is built and tested for (5.4 is $(LUA) and $(BUILD)): one build directory
# each, build-lua5.1 ... build-lualuajit, with that version's interpreter running busted (Debian's lua-busted,
# lua-cjson, lua-lpeg, lua-argparse and lua-socket serve every version).
LUA_OTHERS  = 5.1 5.2 5.3 luajit
# What runs on those versions: the library's and the command's specs. Not the sandbox's (sandbox_*, judge_*: the
# sandbox embeds Lua 5.4 whatever the module is built for), not the repository's (sources, docs, man page,
# rockspec, install), not the examples (written for Lua 5.4: <close>) and not the soak; tests tagged #lua54 (Lua
# 5.4 syntax) neither. `make test-lua-all` prints this list of what it leaves out.
LUA_OTHERS_SKIP = $(wildcard spec/sandbox_*_spec.lua spec/sandbox_spec.lua spec/judge_*_spec.lua) spec/sources_spec.lua \
  spec/docs_spec.lua spec/cli_docs_spec.lua spec/rockspec_spec.lua spec/install_spec.lua spec/examples_spec.lua \
  spec/soak_spec.lua
LUA_OTHERS_SPECS = $(filter-out $(LUA_OTHERS_SKIP),$(wildcard spec/*_spec.lua))

.PHONY: lua-smoke test-lua-all fuzz all deps test-deps judge-deps build test lint ctest spec test-clock check-memory check-asan check-valgrind demo sandbox doc man completion clean bench-sandbox bench-tenants soak bench bench-quick install dist

all: build

# Installs the Debian packages that are missing (apt-get only when something is).
deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(DEBIAN_PACKAGES)"
test-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(DEBIAN_PACKAGES) $(DEBIAN_TEST_PACKAGES)"
# A package counts as there when it is installed or an installed package provides it (NodeSource's nodejs
# provides npm, and conflicts with Debian's).
install-packages:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || \
	  dpkg-query -W -f='$${Status}|$${Provides}\n' 2>/dev/null | sed -n 's/^install ok installed|//p' | \
	    tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -qx "$$p" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The judges: Microsoft's JavaScript Graph client, its typed SDKs (Kiota) and @azure/identity, pinned by
# spec/judge/package-lock.json, installed into spec/judge/node_modules when it is missing or the lock changed
# (spec/judge_*_spec.lua run them).
JUDGE_DIR = spec/judge
judge-deps: $(JUDGE_DIR)/node_modules/.installed
$(JUDGE_DIR)/node_modules/.installed: $(JUDGE_DIR)/package.json $(JUDGE_DIR)/package-lock.json | test-deps
	cd $(JUDGE_DIR) && npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

# BUILT=1: the build is done already (tools/make-test's lanes: two cmake runs in one tree at once would clash).
build: deps
	@if [ "$(BUILT)" != 1 ]; then \
	  cmake -S . -B $(BUILD) -DVPPTOKEN_WERROR=ON >/dev/null && cmake --build $(BUILD) -j$(JOBS) -- --no-print-directory; \
	fi

# Everything CI runs: build, lint, C tests, the busted specs, the sanitizer and valgrind runs, and on the other Lua
# versions a build and the short portability spec (the full matrix is `make test-lua-all`), each timed; after the
# build, in two lanes at once (tools/make-test), every step running even when another failed.
test: test-deps judge-deps
	@s=$$(date +%s); $(MAKE) --no-print-directory build || exit 1; \
	BUILD_SECONDS=$$(( $$(date +%s) - s )) MAKE="$(MAKE)" tools/make-test; \
	r=$$?; echo "make test: $$(( $$(date +%s) - s )) s in all"; exit $$r

# The module for one other Lua version V (5.1, 5.2, 5.3, luajit) in build-luaV.
build-lua%: deps test-deps
	@cmake -S . -B build-lua$* -DVPPTOKEN_LUA=$* -DVPPTOKEN_WERROR=ON >/dev/null
	@cmake --build build-lua$* -j$(JOBS) -- --no-print-directory

# Each other Lua version: the module builds, loads, and computes what spec/lua_versions_spec.lua pins.
lua-smoke: $(foreach v,$(LUA_OTHERS),build-lua$(v))
	@for v in $(LUA_OTHERS); do \
	  interp=$$(if [ $$v = luajit ]; then echo luajit; else echo lua$$v; fi); \
	  VPPTOKEN_BUILD_DIR=build-lua$$v $$interp $(BUSTED) -o utfTerminal spec/lua_versions_spec.lua || exit 1; \
	done

# The whole suite on Lua 5.4, then the library's and the command's specs on 5.1, 5.2, 5.3 and LuaJIT (see
# LUA_OTHERS_SPECS). Runs every version before failing; prints the counts of each.
test-lua-all: test-deps build judge-deps $(foreach v,$(LUA_OTHERS),build-lua$(v))
	@echo "Lua 5.1, 5.2, 5.3 and LuaJIT leave out (the sandbox's, the repository's and the examples' specs, and #lua54):"
	@echo "  $(LUA_OTHERS_SKIP)" | fold -s -w 116
	@failed=""; \
	VPPTOKEN_BUILD_DIR=$(BUILD) $(LUA) $(BUSTED) -o utfTerminal > $(BUILD)/test-lua-5.4.log 2>&1 || failed="$$failed 5.4"; \
	printf 'Lua 5.4:    %s\n' "$$(grep -a 'successes /' $(BUILD)/test-lua-5.4.log | tail -1)"; \
	for v in $(LUA_OTHERS); do \
	  interp=$$(if [ $$v = luajit ]; then echo luajit; else echo lua$$v; fi); \
	  VPPTOKEN_BUILD_DIR=build-lua$$v $$interp $(BUSTED) --exclude-tags=lua54 -o utfTerminal $(LUA_OTHERS_SPECS) \
	    > build-lua$$v/test-lua.log 2>&1 || failed="$$failed $$v"; \
	  printf 'Lua %-7s %s\n' "$$v:" "$$(grep -a 'successes /' build-lua$$v/test-lua.log | tail -1)"; \
	done; \
	if [ -n "$$failed" ]; then echo "failed on:$$failed (logs: $(BUILD)/test-lua-5.4.log, build-luaV/test-lua.log)"; exit 1; fi

# The C files `make lint` holds to .clang-format. Not yet the core's csrc/ and ctest/: they were formatted by hand
# and are about 160 lines away from it; they join the list in a commit that reformats only them.
CLANG_FORMAT_FILES = $(wildcard csrc/*.c csrc/*.h ctest/*.c sandbox/src/*.c sandbox/src/*.h tools/*.c fuzz/*.c)

lint: test-deps build
	luacheck --no-color -q lua sandbox/lua spec examples bench bin/vpptoken
	@# the library, the command and the examples parse on Lua 5.1 and LuaJIT too (no //, &, goto, ...)
	@for f in $$(find lua examples -name '*.lua' | sort) bin/vpptoken; do \
	  luac5.1 -p "$$f" && luajit -bl "$$f" >/dev/null || { echo "lint: $$f does not parse on Lua 5.1 or LuaJIT"; exit 1; }; \
	done
	cppcheck --enable=warning,style,performance,portability --error-exitcode=1 --inline-suppr -q \
	  --suppress=missingIncludeSystem -I csrc -I sandbox/src csrc sandbox/src ctest tools
	clang-tidy -p $(BUILD) --quiet --warnings-as-errors='*' csrc/*.c sandbox/src/*.c 2>/dev/null
	clang-format --dry-run --Werror $(CLANG_FORMAT_FILES)

ctest: build
	$(BUILD)/vpptoken_ctest

# The specs run in SHARDS concurrent shards, in a loopback-only network namespace where the machine allows one
# (tools/run-specs; VPPTOKEN_NETNS=0 turns that off), so no spec can reach another host. Specs tagged #build (real builds of the package, which use no build of the pass) run in the plain
# pass only; specs tagged #subprocess (the code they check runs in child processes: the command, the examples) are
# left out under valgrind, which does not follow them; the plain and ASan passes run them.
SHARDS ?= 2
RUN_SPECS = SHARDS=$(SHARDS) tools/run-specs
# utfTerminal, then the seconds each spec file took
SPEC_OUTPUT = spec/support/timed_output.lua
spec: test-deps build judge-deps
	VPPTOKEN_BUILD_DIR=$(BUILD) $(RUN_SPECS) plain $(LUA) $(BUSTED) -o $(SPEC_OUTPUT)

# The plain spec suite with the wall clock shifted by libfaketime (monotonic time real), once per clock that
# tools/test-clock.sh lists: 23:58 UTC on 31 December, 23:59 on 28 February of a leap year, two years ahead.
test-clock: test-deps build judge-deps
	VPPTOKEN_BUILD_DIR=$(BUILD) tools/test-clock.sh $(LUA) $(BUSTED) -o utfTerminal

# The whole spec suite under AddressSanitizer + UBSan, then under valgrind memcheck.
check-memory: check-asan check-valgrind

check-asan: test-deps judge-deps
	@cmake -S . -B $(ASAN) -DVPPTOKEN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(ASAN) -j$(JOBS) -- --no-print-directory
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tools/lsan.supp:print_suppressions=0 \
	  $(ASAN)/vpptoken_ctest
	@echo "asan: specs tagged #build are left out (real builds without the sanitizers: the plain pass runs them)"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tools/lsan.supp:print_suppressions=0 \
	  VPPTOKEN_BUILD_DIR=$(ASAN) $(RUN_SPECS) asan $(ASAN)/lua_host $(BUSTED) -o $(SPEC_OUTPUT) --exclude-tags=build

VALGRIND = valgrind -q --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
  --error-exitcode=97 --suppressions=$(CURDIR)/tools/valgrind.supp

check-valgrind: test-deps build judge-deps
	$(VALGRIND) $(BUILD)/vpptoken_ctest
	@echo "valgrind: specs tagged #subprocess (valgrind does not follow their child processes) and #build are left"\
	  "out; the plain and ASan passes run them"
	VPPTOKEN_BUILD_DIR=$(BUILD) VPPTOKEN_SANDBOX_WRAPPER="$(VALGRIND)" VPPTOKEN_SLOW=1 \
	  $(RUN_SPECS) valgrind $(VALGRIND) $(BUILD)/lua_host $(BUSTED) -o $(SPEC_OUTPUT) --exclude-tags=subprocess,build

# The demo: a sandbox on a free port, real automation against it, then the sandbox stops.
demo: build
	@bash examples/demo.sh $(BUILD)

# A sandbox for local development (Ctrl-C stops it).
sandbox: build
	$(BUILD)/vpptoken-sandbox --port 8787 --verbose

# libFuzzer harnesses for the C parsers (fuzz/), with ASan + UBSan; each runs FUZZ_SECONDS on its seed corpus.
# New inputs go to $(FUZZ_BUILD)/corpus-*, not into the repository.
FUZZ_SECONDS ?= 60
FUZZ_BUILD    = build-fuzz
FUZZERS       = time retry_after escape headers base64url enum
FUZZ_CFLAGS   = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Icsrc \
  $$(pkg-config --cflags lua5.4 libcurl libcrypto)
FUZZ_LIBS     = $$(pkg-config --libs lua5.4 libcurl libcrypto) -lm

fuzz: test-deps
	@mkdir -p $(FUZZ_BUILD)
	@for f in $(FUZZERS); do \
	  clang $(FUZZ_CFLAGS) -o $(FUZZ_BUILD)/fuzz_$$f fuzz/fuzz_$$f.c csrc/*.c $(FUZZ_LIBS) || exit 1; \
	done
	@for f in $(FUZZERS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus-$$f; \
	  $(FUZZ_BUILD)/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    $(FUZZ_BUILD)/corpus-$$f fuzz/corpus/$$f 2> $(FUZZ_BUILD)/fuzz_$$f.log || { tail -40 $(FUZZ_BUILD)/fuzz_$$f.log; exit 1; }; \
	  printf 'fuzz %-12s %s runs in %s s, corpus %s inputs\n' $$f \
	    "$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_BUILD)/fuzz_$$f.log)" $(FUZZ_SECONDS) \
	    "$$(ls $(FUZZ_BUILD)/corpus-$$f | wc -l)"; \
	done

# The API reference, generated by LDoc from the sources' doc comments (config.ld lists the files).
doc:
	@$(MAKE) --no-print-directory install-packages PACKAGES="lua-ldoc"
	ldoc -q -d $(BUILD)/doc .
	@echo "wrote $(BUILD)/doc/index.html"

# Installs the module, the command, the sandbox (its Lua in PREFIX/share/vpptoken/sandbox), the man page and
# the bash completion under PREFIX, where lua5.4 (PREFIX/share/lua/5.4, PREFIX/lib/lua/5.4), PATH, man and
# bash-completion look; VPPTOKEN_LUA=5.1 (5.2, 5.3, luajit) builds the module for that Lua and installs it in
# its directories. DESTDIR stages it for packaging.
install: deps
	@cmake -S . -B $(BUILD)-install$(INSTALL_SUFFIX) -DCMAKE_BUILD_TYPE=Release -DVPPTOKEN_DEV_PROGRAMS=OFF \
	  -DVPPTOKEN_LUA=$(VPPTOKEN_LUA) -DCMAKE_INSTALL_PREFIX=$(abspath $(PREFIX)) >/dev/null
	@cmake --build $(BUILD)-install$(INSTALL_SUFFIX) -j$(JOBS) -- --no-print-directory
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)-install$(INSTALL_SUFFIX)

# The release: dist/vpptoken-VERSION.tar.gz (the committed tree of HEAD) and dist/vpptoken-VERSION-1.src.rock
# (the release rockspec with that archive: `luarocks install` builds it offline).
DIST = dist
dist: test-deps
	@test -f rockspec/vpptoken-$(VERSION)-1.rockspec || \
	  { echo "rockspec/vpptoken-$(VERSION)-1.rockspec is missing" >&2; exit 1; }
	@rm -rf $(DIST) && mkdir -p $(DIST)/rock
	git archive --format=tar.gz --prefix=vpptoken-$(VERSION)/ -o $(DIST)/vpptoken-$(VERSION).tar.gz HEAD
	cp $(DIST)/vpptoken-$(VERSION).tar.gz rockspec/vpptoken-$(VERSION)-1.rockspec $(DIST)/rock/
	cd $(DIST)/rock && zip -q ../vpptoken-$(VERSION)-1.src.rock vpptoken-$(VERSION).tar.gz vpptoken-$(VERSION)-1.rockspec
	@rm -rf $(DIST)/rock
	@ls -l $(DIST)

# The vpptoken(1) man page, generated from the command line's help text (checked by spec/cli_docs_spec.lua).
man: build
	LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='$(BUILD)/?.so;;' $(LUA) tools/manpage.lua > man/vpptoken.1

# The bash, zsh and fish completions, generated from the command line's definition (vpptoken completion SHELL);
# spec/cli_docs_spec.lua checks that the committed files are what this writes.
completion: build
	for shell in bash zsh fish; do \
	  LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='$(BUILD)/?.so;;' $(LUA) bin/vpptoken completion $$shell \
	    > completion/vpptoken.$$shell || exit 1; \
	done

# 200 keep-alive connections against a sandbox with 50 +- 20 ms injected latency, then the time per page of a walk
# of 1k, 10k and 100k tokens (flat: the list route pages from an index) and of a request past the request log's
# limit (not part of test; figures only, no timing asserts).
bench-sandbox: test-deps build
	VPPTOKEN_BUILD_DIR=$(BUILD) $(LUA) bench/sandbox_load.lua 200 10
	VPPTOKEN_BUILD_DIR=$(BUILD) $(LUA) bench/sandbox_pages.lua

# Issue #17: a sync over 200 tenants x 5 tokens at 50 ms per call against the ideal; --shard balance (not in test).
bench-tenants: test-deps build
	VPPTOKEN_BUILD_DIR=$(BUILD) $(LUA) bench/tenants.lua 200 5 50

# Issue #7 soak: 10,000 mixed operations, 20 % injected faults, throttling on (not part of test).
soak: test-deps build
	VPPTOKEN_BUILD_DIR=$(BUILD) $(LUA) bench/soak.lua 10000 0.2

# vpptoken's overhead over the network against nginx (static JSON, HTTP/1.1 and HTTPS + HTTP/2) and the sandbox,
# next to a minimal libcurl floor (bench/floor.c) and LuaSocket + cjson (not part of test; RUNS=7 by default).
RUNS ?= 7
bench: test-deps build
	@mkdir -p $(BUILD)/bench
	$(CC) -O2 -g -shared -fPIC -Wall -Wextra -o $(BUILD)/bench/floor.so bench/floor.c \
	  $$(pkg-config --cflags lua5.4 libcurl) $$(pkg-config --libs libcurl)
	VPPTOKEN_BUILD_DIR=$(BUILD) RUNS=$(RUNS) BENCH_QUICK=$(BENCH_QUICK) $(LUA) bench/run.lua

# CI's form of the bench: every workload once (RUNS=1); a workload that fails fails, a ratio missed is only reported.
bench-quick:
	@$(MAKE) --no-print-directory bench RUNS=1 BENCH_QUICK=1

clean:
	rm -rf $(BUILD) $(ASAN) $(BUILD)-install $(BUILD)-install-lua* $(DIST) build.luarocks $(foreach v,$(LUA_OTHERS),build-lua$(v))
