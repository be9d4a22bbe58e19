# eoshare — build, demo, tests and benchmarks. Run as root on a fresh machine: the
# system packages are installed when missing.
SWIFT ?= swift
VENV := .venv
DEMO_AT ?= 2026-11-21T12:00:00Z
BIN = $(shell $(SWIFT) build --show-bin-path 2>/dev/null)

.PHONY: deps build demo test venv bench clean

## System libraries the C modules bind: libcurl, zlib and libcrypto headers; and the tools
## the fetch tests use: openssl (a private CA) and ssh-keygen (an SFTP client key).
deps:
	@if ! pkg-config --exists libcurl libcrypto 2>/dev/null || [ ! -f /usr/include/zlib.h ] \
		|| ! command -v openssl >/dev/null || ! command -v ssh-keygen >/dev/null; then \
		echo "installing libcurl4-openssl-dev zlib1g-dev libssl-dev pkg-config openssl openssh-client"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			libcurl4-openssl-dev zlib1g-dev libssl-dev pkg-config openssl openssh-client >/dev/null; \
	fi

build: deps
	$(SWIFT) build

## The demo: ingest the shipped fixtures for five members at a fixed instant, audit the
## result, and show the published tree.
demo: build
	@rm -rf demo-out
	$(BIN)/eoshare ingest Pipelines/demo.yml --at $(DEMO_AT)
	$(BIN)/eoshare audit Pipelines/demo.yml --at $(DEMO_AT)
	@echo; echo "Published tree (demo-out/shared):"
	@cd demo-out/shared && find . -path ./.store -prune -o -print | sort | sed 's|^\./||; s|[^/]*/|  |g'

## The tests' Python tools in a virtualenv: stac-validator (every published file is validated
## with it, offline), pyftpdlib (the FTP server of the fetch tests) and asyncssh (their SFTP
## server). The stamp names the packages, so adding one reinstalls.
VENV_PACKAGES := stac-validator pyftpdlib asyncssh
VENV_STAMP := $(VENV)/.installed-$(shell echo $(VENV_PACKAGES) | tr ' ' '+')
venv: $(VENV_STAMP)
$(VENV_STAMP):
	test -x $(VENV)/bin/pip || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(VENV_PACKAGES)
	rm -f $(VENV)/.installed-* && touch $@

test: deps venv
	$(SWIFT) build --build-tests
	EOSHARE_STAC_VALIDATOR=$(CURDIR)/$(VENV)/bin/stac-validator $(SWIFT) test --skip-build --parallel --num-workers 2

## Benchmarks: the end-to-end ingest, then the fetch stage against curl (nginx serves both).
bench: deps
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null)
	cd Benchmarks && $(SWIFT) run -c release eoshare-bench
	cd Benchmarks && $(SWIFT) run -c release fetch-bench

clean:
	rm -rf .build demo-out $(VENV)
