#!/usr/bin/env bash
# Scale-out benchmark (issue 18): records/s of 1, 2 and 4 `eoshare ingest` workers sharing one
# PostgreSQL state, beside one SQLite process on the same feed (the reference: ratio 1), with
# each run's statements per record (postgres-nio sends each statement as one round trip:
# Parse/Bind/Execute/Sync) and the database's share of the workers' time, both from
# pg_stat_statements. Peak memory is the largest worker's (GNU time's maximum RSS).
#
# The cluster is the tests' own (Tests/Support/postgres-cluster.sh), restarted here with
# durable commits (fsync, synchronous_commit and full-page writes back on, as in production)
# and pg_stat_statements loaded. Run as root, after `swift build -c release`.
#
#   EOSHARE_BENCH_RECORDS   records in the feed (default 5000)
#   EOSHARE_BENCH_WORKERS   worker counts to run (default "1 2 4")
#   EOSHARE_BENCH_TOP       also print each run's N most frequent statements (default 0)
set -euo pipefail
cd "$(dirname "$0")/.."
records=${EOSHARE_BENCH_RECORDS:-5000}
counts=${EOSHARE_BENCH_WORKERS:-"1 2 4"}
bin=$PWD/.build/release
at=2026-11-21T12:00:00Z
pgbin=/usr/lib/postgresql/15/bin

work=$(mktemp -d /tmp/eoshare-scaleout.XXXXXX)
cluster=$(Tests/Support/postgres-cluster.sh start)
trap 'Tests/Support/postgres-cluster.sh stop "$cluster"; rm -rf "$work"' EXIT
. "$cluster/env"
port=${EOSHARE_TEST_POSTGRES##*:}
port=${port%%/*}
superuser() { runuser -u postgres -- "$pgbin/psql" -h "$cluster/socket" -p "$port" -U postgres -qAt "$@"; }
superuser -d postgres \
    -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" \
    -c "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET synchronous_commit = on" \
    -c "ALTER SYSTEM SET full_page_writes = on" >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$cluster/data" -w -m fast restart >/dev/null

"$bin/eoshare-feedgen" --count "$records" --out "$work/feed" --encoding mixed --gzip --sidecars >/dev/null

# One pipeline folder per run: its state, spool and shared trees.
pipeline() { # FOLDER STATE
    mkdir -p "$1"
    cat >"$1/p.yml" <<EOF
version: 1
state: $2
spool: spool/
shared: shared/
members: [{id: NASA}, {id: ESA}, {id: JAXA}, {id: CSA}, {id: ROSCOSMOS}]
collections: [{id: landsat-c2-l2}]
sources:
  - {id: usgs, owner: NASA, collection: landsat-c2-l2, format: landsat-mtl, url: $work/feed/, checksum: sidecar}
embargo:
  rules:
    - {match: {owner: NASA}, clock: acquired, period: P90D, grants: {ESA: P30D, JAXA: P0D}, public: P1Y}
EOF
    echo "$1/p.yml"
}

# Runs WORKERS ingests of FILE at once; prints "seconds peak_kib".
run() { # FILE WORKERS
    local start end peak=0 n
    start=$(date +%s.%N)
    for n in $(seq "$2"); do
        /usr/bin/time -f %M -o "$work/rss.$n" "$bin/eoshare" ingest "$1" --at "$at" >"$work/out.$n" 2>"$work/err.$n" &
    done
    if ! wait; then
        echo "scaleout: a worker failed:" >&2
        tail -n 5 "$work"/err.* >&2
        exit 1
    fi
    end=$(date +%s.%N)
    for n in $(seq "$2"); do peak=$(( $(tail -n 1 "$work/rss.$n") > peak ? $(tail -n 1 "$work/rss.$n") : peak )); done
    echo "$(echo "$end - $start" | bc -l) $peak"
}

echo "eoshare scale-out benchmark: $records Landsat records (mixed encodings, gzip, sidecars), 5 members + public"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); PostgreSQL 15 on the same machine, durable commits"
read -r reference_s reference_kib < <(run "$(pipeline "$work/sqlite" state/bench.sqlite)" 1)
reference_rate=$(echo "$records / $reference_s" | bc -l)
printf '%-28s %9s %10s %8s %12s %10s %9s\n' run seconds records/s ratio statements/rec db-share peak-MiB
printf '%-28s %9.1f %10.0f %8.2f %12s %10s %9.0f\n' "SQLite, 1 process" "$reference_s" "$reference_rate" 1 - - \
    "$(echo "$reference_kib / 1024" | bc -l)"

for workers in $counts; do
    database=eoshare_bench_$workers
    superuser -d postgres -c "CREATE DATABASE $database OWNER eoshare" >/dev/null
    superuser -d "$database" -c "CREATE EXTENSION pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
    file=$(pipeline "$work/pg$workers" "postgresql://eoshare@127.0.0.1:$port/$database")
    read -r seconds kib < <(run "$file" "$workers")
    # Every statement the workers sent to this database, and the server's time executing them.
    read -r statements exec_ms < <(superuser -d "$database" -F ' ' -c \
        "SELECT sum(calls), sum(total_exec_time) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
         WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat_statements%'")
    rate=$(echo "$records / $seconds" | bc -l)
    if [ "${EOSHARE_BENCH_TOP:-0}" -gt 0 ]; then
        superuser -d "$database" -F ' ' -c \
            "SELECT round(calls::numeric / $records, 3), left(regexp_replace(query, '\\s+', ' ', 'g'), 110)
             FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
             WHERE d.datname = current_database() ORDER BY calls DESC LIMIT ${EOSHARE_BENCH_TOP}" | sed 's/^/    /'
    fi
    printf '%-28s %9.1f %10.0f %8.2f %12.1f %9.0f%% %9.0f\n' "PostgreSQL, $workers worker(s)" "$seconds" "$rate" \
        "$(echo "$rate / $reference_rate" | bc -l)" "$(echo "$statements / $records" | bc -l)" \
        "$(echo "100 * $exec_ms / 1000 / ($seconds * $workers)" | bc -l)" "$(echo "$kib / 1024" | bc -l)"
done
echo "statements/rec: every statement sent, BEGIN and COMMIT included, over the records of the feed;"
echo "db-share: the server's time executing them over the workers' wall time (waits on locks included)."
