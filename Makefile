# netctl — see README.md. `make test` and `make demo` install what they need, then run in a
# throwaway sandbox (scripts/sandbox.sh).
# A build that fails fails the target, though its output goes through tee.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PREFIX ?= /usr/local
SWIFT ?= swift
BUILD_LOG := .build/build.log

.PHONY: all deps build build-tests test demo bench fuzz install clean static-libdir

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@mkdir -p .build
	$(SWIFT) build -c release 2>&1 | tee $(BUILD_LOG)
	@scripts/check-warnings.sh $(BUILD_LOG)

build-tests: deps
	@mkdir -p .build
	$(SWIFT) build --build-tests 2>&1 | tee $(BUILD_LOG)
	@scripts/check-warnings.sh $(BUILD_LOG)

test: build-tests
	scripts/sandbox.sh $(SWIFT) test --skip-build

demo: build
	scripts/sandbox.sh scripts/demo.sh .build/release

# The fuzz targets under libFuzzer with AddressSanitizer, each for FUZZ_SECONDS, from a copy of
# its seed corpus (what they find goes in .build-fuzz/corpus-NAME; a crash writes crash-* here:
# copy it into Tests/Fuzz/NAME/corpus/ and it is replayed by the tests from then on).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := dns json cni parsers netlink docker
fuzz: deps
	for target in $(FUZZ_TARGETS); do \
	    $(SWIFT) build --product fuzz-$$target -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING --scratch-path .build-fuzz || exit 1; \
	    mkdir -p .build-fuzz/corpus-$$target && cp Tests/Fuzz/$$target/corpus/* .build-fuzz/corpus-$$target/ && \
	    SWIFT_BACKTRACE=enable=no .build-fuzz/debug/fuzz-$$target -max_total_time=$(FUZZ_SECONDS) .build-fuzz/corpus-$$target || exit 1; done

# Benchmarks are built with the static Swift runtime, as the CNI plugins are installed, so
# exec'd rows measure what a runtime pays. `make bench BENCH="firewall proxy"` runs only those.
STATIC_LIBDIR := $(CURDIR)/.build-static/link
STATIC_BUILD = NETCTL_STATIC_LINK=1 NETCTL_STATIC_LIBDIR=$(STATIC_LIBDIR) PKG_CONFIG_PATH=$(STATIC_LIBDIR) \
	$(SWIFT) build -c release --static-swift-stdlib --disable-local-rpath --scratch-path .build-static

# Linker scripts that make the Swift runtime's -lstdc++ and the store's -lsqlite3 link
# libstdc++.a and libsqlite3.a (see Package.swift): each shared library an exec loads costs it
# a load, relocations and page faults. pkg-config files for sqlite3 and libmnl without the
# system's -L, which would come first and find the shared libraries. Without a static library
# on the machine the build links the shared one.
static-libdir:
	@mkdir -p $(STATIC_LIBDIR)
	@archive=$$($${CC:-cc} -print-file-name=libstdc++.a 2>/dev/null); \
	    if [ "$${archive#/}" != "$$archive" ]; then echo "INPUT($$archive)" > $(STATIC_LIBDIR)/libstdc++.so; \
	    else rm -f $(STATIC_LIBDIR)/libstdc++.so; fi
	@archive=$$($${CC:-cc} -print-file-name=libsqlite3.a 2>/dev/null); \
	    if [ "$${archive#/}" != "$$archive" ]; then echo "INPUT($$archive)" > $(STATIC_LIBDIR)/libsqlite3.so; \
	        printf 'Name: SQLite\nDescription: libsqlite3.a\nVersion: 3\nLibs: -lsqlite3 -lm\nCflags:\n' > $(STATIC_LIBDIR)/sqlite3.pc; \
	    else rm -f $(STATIC_LIBDIR)/libsqlite3.so $(STATIC_LIBDIR)/sqlite3.pc; fi
	@printf 'Name: libmnl\nDescription: libmnl\nVersion: 1\nLibs: -lmnl\nCflags:\n' > $(STATIC_LIBDIR)/libmnl.pc

bench: deps static-libdir
	@scripts/install-bench-deps.sh
	for product in bench-netlink bench-firewall bench-cni netctl-cni netctl netctl-proxy netctld netctl-dns cnitool; do \
	    $(STATIC_BUILD) --product $$product || exit 1; done
	scripts/sandbox.sh bench/run.sh .build-static/release $(BENCH)

# The CNI plugins go in a directory of their own (never over another package's plugins),
# as one statically linked Swift binary hard-linked under each plugin's name.
CNI_PLUGINS := bridge macvlan host-local portmap loopback dnsname overlay
CNI_DIR := $(DESTDIR)$(PREFIX)/lib/netctl/cni

# netctl, netctl-proxy and cnitool are static too: every call is an exec.
install: build static-libdir
	for product in netctl-cni netctl-proxy netctl cnitool netctld netctl-dns; do $(STATIC_BUILD) --product $$product || exit 1; done
	install -d $(DESTDIR)$(PREFIX)/bin $(CNI_DIR)
	install -m 0755 .build-static/release/netctl .build-static/release/netctld .build-static/release/netctl-dns .build-static/release/netctl-proxy \
	    .build-static/release/cnitool $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 .build-static/release/netctl-cni $(CNI_DIR)/netctl-cni
	for plugin in $(CNI_PLUGINS); do ln -f $(CNI_DIR)/netctl-cni $(CNI_DIR)/$$plugin; done
	# dnsname starts the resolver it finds beside itself (runtimes seldom pass a PATH).
	ln -sf ../../../bin/netctl-dns $(CNI_DIR)/netctl-dns

clean:
	rm -rf .build .build-static .build-fuzz
