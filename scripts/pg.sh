#!/usr/bin/env bash
# A private PostgreSQL inside the project's working folder, on loopback.
#   scripts/pg.sh start [DIR] [PORT]   init if needed, start, create db "herald"
#   scripts/pg.sh stop  [DIR]
#   scripts/pg.sh url   [DIR] [PORT]   print the connection URL
# initdb refuses root, so the server runs as user postgres (runuser).
set -euo pipefail

cmd=${1:-}
dir=${2:-${HERALD_PG_DIR:-$(pwd)/.pgdata}}
port=${3:-${HERALD_PG_PORT:-55432}}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql-15)" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; fi
    chmod 700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg mkdir -p "$dir/data" "$dir/sock"
      as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if ! as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB" \
        start >/dev/null
    fi
    if ! as_pg "$bin/../bin/psql" -h 127.0.0.1 -p "$port" -U postgres -Atqc \
        "SELECT 1 FROM pg_database WHERE datname='herald'" postgres | grep -q 1; then
      as_pg "$bin/../bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE herald" postgres
    fi
    echo "postgresql://postgres@127.0.0.1:$port/herald"
    ;;
  stop)
    if [ -f "$dir/data/PG_VERSION" ]; then
      as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  url)
    echo "postgresql://postgres@127.0.0.1:$port/herald"
    ;;
  *)
    echo "usage: scripts/pg.sh start|stop|url [DIR] [PORT]" >&2
    exit 2
    ;;
esac
