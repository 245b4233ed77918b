# rethink-runtimed: the two commands a newcomer needs are `make demo` and `make test`.
SWIFT ?= swift
PYTHON ?= /usr/bin/python3
BIN := $(shell $(SWIFT) build --show-bin-path 2>/dev/null)

# make install: where things go (DESTDIR stages them for a package). CONFIGURATION=debug reuses the
# test build; the default is an optimised build with the Swift runtime linked in, so that the installed
# binaries need no toolchain.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/rethink-runtimed
DOCDIR ?= $(PREFIX)/share/doc/rethink-runtimed
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
CONFIGURATION ?= release
INSTALL_BUILD_FLAGS = -c $(CONFIGURATION) $(if $(filter release,$(CONFIGURATION)),--static-swift-stdlib)

.PHONY: all build deps test test-swift test-stubkit test-units test-systemd demo bench clean install uninstall

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Everything: the stub kit's tests (real stub processes) and the Swift suites (real sandboxed children,
# real sockets, a real daemon). Swift Testing runs the suites in parallel.
test: deps
	$(SWIFT) build --build-tests
	$(MAKE) test-units
	$(MAKE) test-stubkit
	$(MAKE) test-swift
	$(MAKE) test-systemd

test-swift:
	$(SWIFT) test --skip-build

test-stubkit:
	cd Tests/Fixtures/stubs && RETHINK_ECHO_STUB_BIN="$(BIN)/rethink-echo-stub" $(PYTHON) -m unittest -q test_stubkit

# The unit files as systemd reads them (installed into a scratch root, pointing at the built binary).
test-units:
	@bash scripts/verify-units.sh "$(BIN)"

# Under a real systemd as PID 1 in a throwaway container: socket activation, STATUS, journal fields,
# hardening score, stop and crash recovery (Tests/systemd/service-test.sh).
test-systemd:
	@CONFIGURATION=$(CONFIGURATION) bash Tests/systemd/service-test.sh "$(BIN)"

install:
	$(SWIFT) build $(INSTALL_BUILD_FLAGS) --product rethink-runtimed
	$(SWIFT) build $(INSTALL_BUILD_FLAGS) --product rethinkctl
	$(SWIFT) build $(INSTALL_BUILD_FLAGS) --product rethink-echo-stub
	@PREFIX="$(PREFIX)" BINDIR="$(BINDIR)" DATADIR="$(DATADIR)" DOCDIR="$(DOCDIR)" SYSCONFDIR="$(SYSCONFDIR)" \
		UNITDIR="$(UNITDIR)" DESTDIR="$(DESTDIR)" \
		bash scripts/install.sh install "$$($(SWIFT) build $(INSTALL_BUILD_FLAGS) --show-bin-path)"

uninstall:
	@PREFIX="$(PREFIX)" BINDIR="$(BINDIR)" DATADIR="$(DATADIR)" DOCDIR="$(DOCDIR)" SYSCONFDIR="$(SYSCONFDIR)" \
		UNITDIR="$(UNITDIR)" DESTDIR="$(DESTDIR)" bash scripts/install.sh uninstall

# A message to a never-seen domain: its stub deployed on the fly, sandboxed, and the answer back.
demo: build
	@bash scripts/demo.sh "$(BIN)"

# Throughput and latency against a no-JSON relay baseline, in release mode (not part of `make test`).
bench: deps
	@bash scripts/bench.sh

clean:
	$(SWIFT) package clean
