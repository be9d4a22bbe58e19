#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests (issue 18): run as root.
#
#   postgres-cluster.sh start        initdb into a new temp folder as the postgres user, on a free
#                                    port of 127.0.0.1 (and of the tests' veth links), with TLS
#                                    (a private CA) and a role with a password; prints the
#                                    folder, whose `env` file exports
#                                    EOSHARE_TEST_POSTGRES, PGPASSWORD and EOSHARE_TEST_POSTGRES_CA
#   postgres-cluster.sh stop DIR     stops that cluster and removes its folder
#
# Tests create a database of their own each (the role may), so they run in parallel.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

start() {
    [ -x "$PGBIN/initdb" ] || { echo "postgres-cluster: no $PGBIN/initdb (make deps installs postgresql)" >&2; exit 1; }
    local dir port password
    dir=$(mktemp -d /tmp/eoshare-pg.XXXXXX)
    chmod 755 "$dir"
    mkdir "$dir/data" "$dir/socket" "$dir/tls" "$dir/log"
    chown postgres "$dir/data" "$dir/socket" "$dir/tls" "$dir/log"
    password=$(openssl rand -hex 16)
    # A free port: the kernel picks one, the socket closes, the cluster takes it.
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

    # A private CA and a server certificate for 127.0.0.1 and localhost (verify-full tests).
    (
        cd "$dir/tls"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=eoshare test CA" \
            -keyout ca.key -out ca.crt 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
            -extfile san.ext -out server.crt 2>/dev/null
        chown postgres server.key server.crt
        chmod 600 server.key
    )

    runuser -u postgres -- "$PGBIN/initdb" -D "$dir/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --no-locale >"$dir/initdb.log" 2>&1
    cat >>"$dir/data/postgresql.conf" <<EOF
# Loopback, and the veth links of the tests' network namespaces (workers on other "hosts").
listen_addresses = '*'
port = $port
unix_socket_directories = '$dir/socket'
ssl = on
ssl_cert_file = '$dir/tls/server.crt'
ssl_key_file = '$dir/tls/server.key'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    # Workers in the tests' network namespaces connect from 10.200.0.0/13 (NetworkHosts.swift).
    echo "host all eoshare 10.200.0.0/13 scram-sha-256" >>"$dir/data/pg_hba.conf"
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log/server.log" -w -t 60 start >/dev/null
    runuser -u postgres -- "$PGBIN/psql" -h "$dir/socket" -p "$port" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 \
        -c "CREATE ROLE eoshare LOGIN CREATEDB PASSWORD '$password'" \
        -c "CREATE DATABASE eoshare_test OWNER eoshare" >/dev/null
    cat >"$dir/env" <<EOF
export EOSHARE_TEST_POSTGRES=postgresql://eoshare@127.0.0.1:$port/eoshare_test
export PGPASSWORD=$password
export EOSHARE_TEST_POSTGRES_CA=$dir/tls/ca.crt
EOF
    echo "$dir"
}

stop() {
    local dir=${1:?usage: postgres-cluster.sh stop DIR}
    case "$dir" in /tmp/eoshare-pg.*) ;; *) echo "postgres-cluster: not a test cluster: $dir" >&2; exit 64 ;; esac
    if [ -f "$dir/data/postmaster.pid" ]; then
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) echo "usage: postgres-cluster.sh start | stop DIR" >&2; exit 64 ;;
esac
