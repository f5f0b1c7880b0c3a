#!/usr/bin/env bash
# A private PostgreSQL inside the project's working folder, on loopback.
#   scripts/pg.sh start [DIR] [PORT]   init if needed, start, create db "herald";
#                                      prints the connection URL
#   scripts/pg.sh stop  [DIR]          stop it (fast shutdown); no-op if not running
#   scripts/pg.sh url   [DIR] [PORT]   print the connection URL (the running
#                                      server's port if it runs, else PORT)
#   scripts/pg.sh wipe  [DIR]          stop it and delete its data
#   HERALD_PG_OPTS="-c name=value ..."   extra server settings at start (benchmarks)
# initdb refuses root, so as root the server runs as user postgres (runuser).
# If user postgres cannot reach DIR (e.g. a checkout under /root, mode 700) or
# DIR is too long for a Unix socket path, the data lives in a folder under
# /tmp and DIR/redirect names it; DIR stays the handle for every command.
set -euo pipefail

cmd=${1:-}
dir=${2:-${HERALD_PG_DIR:-$(pwd)/.pgdata}}
port=${3:-${HERALD_PG_PORT:-55432}}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql-15)" >&2; exit 1; }
case "$dir" in /*) ;; *) dir=$(pwd)/$dir ;; esac

is_root() { [ "$(id -u)" = 0 ]; }
as_pg() {
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The folder that holds data/ and sock/: DIR itself or where DIR/redirect points.
home_of() {
  if [ -f "$dir/redirect" ]; then cat "$dir/redirect"; else echo "$dir"; fi
}

# Port of the running server (from postmaster.pid), empty if it is not running.
running_port() {
  local home; home=$(home_of)
  [ -f "$home/data/postmaster.pid" ] || return 0
  as_pg "$bin/pg_ctl" -D "$home/data" status >/dev/null 2>&1 || return 0
  sed -n 4p "$home/data/postmaster.pid"
}

url_for() { echo "postgresql://postgres@127.0.0.1:$1/herald"; }

case "$cmd" in
  start)
    mkdir -p "$dir"
    if is_root; then chown postgres:postgres "$dir"; fi
    chmod 700 "$dir"
    home=$(home_of)
    if [ ! -f "$home/data/PG_VERSION" ]; then
      # 107 bytes is the Unix socket path limit: DIR/sock/.s.PGSQL.PORT must fit.
      if { is_root && ! runuser -u postgres -- test -w "$dir"; } || [ $(( ${#dir} + 25 )) -gt 100 ]; then
        home=$(mktemp -d /tmp/herald-pg.XXXXXX)
        if is_root; then chown postgres:postgres "$home"; fi
        chmod 700 "$home"
        echo "$home" >"$dir/redirect"
        echo "pg.sh: user postgres cannot use $dir (or the path is too long); data in $home" >&2
      fi
      as_pg mkdir -p "$home/data" "$home/sock"
      # --no-sync: a throwaway cluster need not wait for fsync of its fresh
      # files (seconds on a busy disk); the server itself keeps fsync on.
      as_pg "$bin/initdb" --no-sync -D "$home/data" -U postgres -A trust -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    actual=$(running_port)
    if [ -z "$actual" ]; then
      if ! as_pg "$bin/pg_ctl" -D "$home/data" -l "$home/server.log" -w -t 60 \
          -o "-p $port -k $home/sock -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB ${HERALD_PG_OPTS:-}" \
          start >/dev/null 2>&1; then
        echo "pg.sh: PostgreSQL did not start on 127.0.0.1:$port; end of $home/server.log:" >&2
        tail -n 20 "$home/server.log" >&2 || true
        exit 1
      fi
      actual=$port
    elif [ "$actual" != "$port" ]; then
      echo "pg.sh: already running in $dir on port $actual (not $port)" >&2
    fi
    if ! as_pg "$bin/psql" -h 127.0.0.1 -p "$actual" -U postgres -Atqc \
        "SELECT 1 FROM pg_database WHERE datname='herald'" postgres | grep -q 1; then
      as_pg "$bin/psql" -h 127.0.0.1 -p "$actual" -U postgres -qc "CREATE DATABASE herald" postgres
    fi
    url_for "$actual"
    ;;
  stop)
    home=$(home_of)
    if [ -f "$home/data/PG_VERSION" ]; then
      as_pg "$bin/pg_ctl" -D "$home/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  url)
    actual=$(running_port)
    url_for "${actual:-$port}"
    ;;
  wipe)
    home=$(home_of)
    if [ -f "$home/data/PG_VERSION" ]; then
      # immediate: no shutdown checkpoint for data about to be deleted
      as_pg "$bin/pg_ctl" -D "$home/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ "$home" != "$dir" ]; then rm -rf "$home"; fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: scripts/pg.sh start|stop|url|wipe [DIR] [PORT]" >&2
    exit 2
    ;;
esac
