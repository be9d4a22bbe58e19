# eoshare — build, demo, tests and benchmarks. Run as root on a fresh machine: the
# system packages are installed when missing.
SWIFT ?= swift
VENV := .venv
DEMO_AT ?= 2026-11-21T12:00:00Z
BIN = $(shell $(SWIFT) build --show-bin-path 2>/dev/null)

.PHONY: deps build demo test venv bench bench-unpack fuzz clean

## System libraries the C modules bind: libcurl, zlib and libcrypto headers.
deps:
	@if ! pkg-config --exists libcurl libcrypto 2>/dev/null || [ ! -f /usr/include/zlib.h ]; then \
		echo "installing libcurl4-openssl-dev zlib1g-dev libssl-dev pkg-config"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			libcurl4-openssl-dev zlib1g-dev libssl-dev pkg-config >/dev/null; \
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

## stac-validator in a virtualenv (tests validate every published file with it, offline).
venv: $(VENV)/bin/stac-validator
$(VENV)/bin/stac-validator:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check stac-validator

test: deps venv
	$(SWIFT) build --build-tests
	EOSHARE_STAC_VALIDATOR=$(CURDIR)/$(VENV)/bin/stac-validator $(SWIFT) test --skip-build --parallel --num-workers 2

bench: deps
	cd Benchmarks && $(SWIFT) run -c release eoshare-bench

## The unpack stage against gzip -dc and tar xzf (1 GiB scene, 2,000-file tar.gz), and its
## peak memory on a 4 GiB stream. Needs about 8 GiB free in /tmp.
bench-unpack: deps
	cd Benchmarks && $(SWIFT) run -c release unpack-bench

## Ten minutes of libFuzzer on each container reader, one after the other (Tests/Fuzz/README.md).
fuzz: deps
	for reader in tar zip gzip; do Tests/Fuzz/run.sh $$reader 600 || exit 1; done

clean:
	rm -rf .build demo-out $(VENV)
