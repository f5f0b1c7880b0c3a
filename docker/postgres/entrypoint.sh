#!/bin/sh
# Entrypoint of the demo's PostgreSQL image. On the first start (an empty
# $PGDATA) it creates the cluster with trust authentication for every
# address (only the compose network reaches the container: the port is not
# published) and the database $POSTGRES_DB; then it execs postgres, which
# thus gets the stop signal itself (STOPSIGNAL SIGINT: fast shutdown;
# SIGTERM would wait for every client to disconnect).
#   postgres-entrypoint [extra postgres options, e.g. -c log_statement=all]
set -eu

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "postgres-entrypoint: creating the cluster in $PGDATA"
  initdb --username=postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
    -D "$PGDATA" >/dev/null
  cat >>"$PGDATA/pg_hba.conf" <<HBA
# compose demo: any address of the container network, no password
host all all 0.0.0.0/0 trust
host all all ::/0 trust
HBA
  cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
max_connections = 200
# A demo database: no need to survive a host crash.
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  # A private start (no TCP) to create the database, then stop.
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
  createdb --username=postgres "$POSTGRES_DB"
  pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
  echo "postgres-entrypoint: database $POSTGRES_DB created"
fi

exec postgres -D "$PGDATA" "$@"
