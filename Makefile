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

bench: build
	scripts/sandbox.sh bench/run.sh .build/release

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 .build/release/netlink-demo $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf .build
