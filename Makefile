# eoshare — build, demo, tests and benchmarks. Run as root on a fresh machine: the
# system packages are installed when missing.
SWIFT ?= swift
VENV := .venv
DEMO_AT ?= 2026-11-21T12:00:00Z
BIN = $(shell $(SWIFT) build --show-bin-path 2>/dev/null)

.PHONY: deps build demo test lint venv bench bench-normalize bench-unpack bench-serve bench-scaleout fuzz clean

## System libraries the C modules bind: libcurl, zlib and libcrypto headers; the tools
## the fetch tests use: openssl (a private CA) and ssh-keygen (an SFTP client key); and
## chromium, which renders the audit's HTML report headless in a test; PostgreSQL 15, whose
## throwaway cluster the PostgreSQL state's tests use (Tests/Support/postgres-cluster.sh); curl, the
## client of the serve tests' TLS server; iproute2, whose `ip netns` gives the scale-out tests
## workers on other "hosts".
PGBIN := /usr/lib/postgresql/15/bin
deps:
	@if ! pkg-config --exists libcurl libcrypto 2>/dev/null || [ ! -f /usr/include/zlib.h ] \
		|| ! command -v openssl >/dev/null || ! command -v ssh-keygen >/dev/null || ! command -v chromium >/dev/null \
		|| [ ! -x $(PGBIN)/initdb ] || ! command -v curl >/dev/null || ! PATH=$$PATH:/usr/sbin:/sbin command -v ip >/dev/null; then \
		echo "installing libcurl4-openssl-dev zlib1g-dev libssl-dev pkg-config openssl openssh-client chromium postgresql curl iproute2"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			libcurl4-openssl-dev zlib1g-dev libssl-dev pkg-config openssl openssh-client chromium postgresql curl \
			iproute2 >/dev/null; \
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

## The Python tools in a virtualenv: stac-validator (tests validate every published file with
## it, offline), stactools-landsat / -sentinel2 / -sentinel1 / -modis, pystac (the normalize tests compare
## our items with theirs), ccsdspy (the CCSDS statistics are checked against its decoding),
## pyftpdlib and asyncssh (the FTP and SFTP servers of the fetch tests), stac-api-validator and
## pystac-client (the serve tests check the STAC API with them, as a member's client would).
## The stamp names the packages, so adding one reinstalls.
VENV_PACKAGES := stac-validator stactools-landsat stactools-sentinel2 stactools-sentinel1 stactools-modis pystac \
	ccsdspy pyftpdlib asyncssh stac-api-validator pystac-client
## stactools-sentinel1 pins pystac~=1.9, which would take every peer back to STAC 1.0: it is
## installed without its pins and runs on the pystac the other peers bring.
VENV_NO_DEPS := stactools-sentinel1
VENV_STAMP := $(VENV)/.installed-$(shell echo $(VENV_PACKAGES) | tr ' ' '+')
venv: $(VENV_STAMP)
$(VENV_STAMP):
	test -x $(VENV)/bin/pip || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(filter-out $(VENV_NO_DEPS),$(VENV_PACKAGES))
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps $(VENV_NO_DEPS)
	rm -f $(VENV)/.installed-* $(VENV)/.peers-installed && touch $@

## The house style (swift-nio's .swift-format: 4 spaces, 120 columns), checked strictly;
## `swift format -i -r Sources Tests Benchmarks/Sources` puts it right.
lint:
	$(SWIFT) format lint --strict -r --parallel Sources Tests Benchmarks/Sources Package.swift Benchmarks/Package.swift

## The tests run beside a throwaway PostgreSQL cluster (its URL and password exported), stopped
## and removed when they end, pass or fail.
test: deps venv lint
	$(SWIFT) build --build-tests
	@cluster=$$(Tests/Support/postgres-cluster.sh start) && trap 'Tests/Support/postgres-cluster.sh stop '"$$cluster" EXIT \
		&& . "$$cluster/env" && echo "PostgreSQL for the tests: $$EOSHARE_TEST_POSTGRES" \
		&& EOSHARE_STAC_VALIDATOR=$(CURDIR)/$(VENV)/bin/stac-validator EOSHARE_PEER_PYTHON=$(CURDIR)/$(VENV)/bin/python \
		$(SWIFT) test --skip-build --parallel --num-workers 2

## Benchmarks report numbers next to a reference tool run in the same program; they
## are not timed tests. EOSHARE_BENCH_RECORDS sets the record count (default 10,000
## for ingest, 100,000 for operations). fetch-bench serves with nginx (installed here).
bench: deps venv
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null)
	cd Benchmarks && $(SWIFT) build -c release
	cd Benchmarks && .build/release/eoshare-bench
	cd Benchmarks && .build/release/policy-bench
	cd Benchmarks && .build/release/ops-bench
	cd Benchmarks && EOSHARE_PEER_PYTHON=$(CURDIR)/$(VENV)/bin/python .build/release/normalize-bench
	cd Benchmarks && .build/release/fetch-bench
	cd Benchmarks && .build/release/unpack-bench

## Item Search over 100,000 records with wrk: eoshare serve per viewer, then stac-fastapi-pgstac
## (PostgreSQL 15 + PostGIS, a private cluster the benchmark starts and stops) on the same items.
BENCH_VENV := .venv-bench
bench-serve: deps
	@command -v wrk >/dev/null && [ -x /usr/lib/postgresql/15/bin/initdb ] || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk postgresql-15-postgis-3 >/dev/null)
	test -x $(BENCH_VENV)/bin/uvicorn || (python3 -m venv $(BENCH_VENV) && \
		$(BENCH_VENV)/bin/pip install -q --disable-pip-version-check stac-fastapi-pgstac "pypgstac[psycopg]" uvicorn)
	cd Benchmarks && $(SWIFT) build -c release --product serve-bench
	cd Benchmarks && EOSHARE_BENCH_PEER_PYTHON=$(CURDIR)/$(BENCH_VENV)/bin/python .build/release/serve-bench

## 1, 2 and 4 ingest workers sharing a PostgreSQL state against one SQLite process on the same
## 5,000-record feed (EOSHARE_BENCH_RECORDS, EOSHARE_BENCH_WORKERS): records/s, statements per
## record and the database's share of the time (pg_stat_statements), peak memory.
bench-scaleout: deps
	$(SWIFT) build -c release --product eoshare
	$(SWIFT) build -c release --product eoshare-feedgen
	Benchmarks/scaleout.sh

## Normalize + write items from the Landsat and Sentinel-2 fixtures, 10,000 records, against
## stactools (create_item + save_object) on the same inputs in the same run.
bench-normalize: deps venv
	cd Benchmarks && EOSHARE_PEER_PYTHON=$(CURDIR)/$(VENV)/bin/python $(SWIFT) run -c release normalize-bench

## The unpack stage against gzip -dc and tar xzf (1 GiB scene, 2,000-file tar.gz), and its
## peak memory on a 4 GiB stream. Needs about 8 GiB free in /tmp.
bench-unpack: deps
	cd Benchmarks && $(SWIFT) run -c release unpack-bench

## libFuzzer on each container reader, metadata reader and listing parser, one after the
## other, FUZZ_SECONDS each (ten minutes by default; Tests/Fuzz/README.md).
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := tar zip gzip mtl sentinel2 sentinel1 modis cmr-umm-g cmr-atom ccsds listing json
fuzz: deps
	for target in $(FUZZ_TARGETS); do Tests/Fuzz/run.sh $$target $(FUZZ_SECONDS) || exit 1; done

clean:
	rm -rf .build demo-out $(VENV)
