# netctl — see README.md. `make test` and `make demo` install what they need, then run in a
# throwaway sandbox (scripts/sandbox.sh).
PREFIX ?= /usr/local
SWIFT ?= swift
BUILD_LOG := .build/build.log

.PHONY: all deps build build-tests test demo bench install clean

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

# Benchmarks are built with the static Swift runtime, as the CNI plugins are installed, so
# exec'd rows measure what a runtime pays. `make bench BENCH="firewall proxy"` runs only those.
bench: deps
	NETCTL_STATIC_LINK=1 $(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-static --product bench-netlink
	NETCTL_STATIC_LINK=1 $(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-static --product bench-firewall
	NETCTL_STATIC_LINK=1 $(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-static --product bench-cni
	NETCTL_STATIC_LINK=1 $(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-static --product netctl-cni
	NETCTL_STATIC_LINK=1 $(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-static --product netctl
	NETCTL_STATIC_LINK=1 $(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-static --product netctl-proxy
	scripts/sandbox.sh bench/run.sh .build-static/release $(BENCH)

# The CNI plugins go in a directory of their own (never over another package's plugins),
# as one statically linked Swift binary hard-linked under each plugin's name.
CNI_PLUGINS := bridge macvlan host-local portmap loopback
CNI_DIR := $(DESTDIR)$(PREFIX)/lib/netctl/cni

# netctl, netctl-proxy and cnitool are static too: every call is an exec.
install: build
	for product in netctl-cni netctl-proxy netctl cnitool; do \
	    NETCTL_STATIC_LINK=1 $(SWIFT) build -c release --static-swift-stdlib --product $$product --scratch-path .build-static || exit 1; done
	install -d $(DESTDIR)$(PREFIX)/bin $(CNI_DIR)
	install -m 0755 .build/release/netlink-demo $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 .build-static/release/netctl .build-static/release/netctl-proxy .build-static/release/cnitool $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 .build-static/release/netctl-cni $(CNI_DIR)/netctl-cni
	for plugin in $(CNI_PLUGINS); do ln -f $(CNI_DIR)/netctl-cni $(CNI_DIR)/$$plugin; done
	# netctl-proxy one level above the plugins is where ProxyProcess.locate looks for programs
	# installed there. The CNI plugins never start it: portmap serves loopback by DNAT and
	# ipMasq is rules only (plugins/firewall.swift); netctl uses the copy in bin/.
	install -m 0755 .build-static/release/netctl-proxy $(CNI_DIR)/../netctl-proxy

clean:
	rm -rf .build .build-static
