#!/usr/bin/env bash
# The dashboard (http/dashboard/index.html, GET / of the admin port) in a
# headless Chromium, driven by Selenium (dashboard_test.py): a three-node
# cluster (node1 ingest, node2 and node3 workers) on loopback ports, a fake
# webhook receiver, a tenant and an API key; then the page
#   1. takes the admin token and shows the three members up and the actors of
#      the three nodes;
#   2. shows figures that change while herald-loadgen sends (total accepted,
#      node1's accepted/s, a worker's delivered/s);
#   3. lists a notification that was dead-lettered (the receiver answers 400)
#      and its Retry button brings it back: the row goes, the notification
#      ends delivered.
# Screenshots go to BUILD_DIR/test-artifacts/: dashboard.png (the end),
# dashboard-full.png, dashboard-load.png, dashboard-dlq.png; on a failure
# dashboard-failure.png, dashboard-console.log (the browser's console) and
# dashboard-logs/ (the nodes', the receiver's and chromedriver's logs).
#
# Needs HERALD_TEST_DB_URL (scripts/test.sh starts PostgreSQL and sets it);
# the test runs in a database of its own on that server, dropped at the end.
# Needs Debian's chromium, chromium-driver and python3-selenium (run with
# /usr/bin/python3); exits 77 (skipped) when one of them is missing.
# Usage: dashboard_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail

src=$1
build=$2
herald=$build/herald
fake=$build/fake-provider
loadgen=$build/herald-loadgen
py=/usr/bin/python3
artifacts=$build/test-artifacts
work=$src/.work/dashboard-$$
token=dashboard-admin-$$-$RANDOM
tenant=dash-$$

say() { echo "dashboard_test: $*"; }
skip() {
  local line='************************************************************************'
  printf '%s\n' "$line" "SKIP: dashboard_test: $*" \
    "SKIP: the dashboard is NOT tested. Install the Debian packages chromium," \
    "SKIP: chromium-driver and python3-selenium (scripts/setup.sh) to run it." "$line" >&2
  exit 77
}
fail() { echo "FAIL: dashboard_test: $*" >&2; exit 1; }

# --- what the test needs ------------------------------------------------------------
chromium=$(command -v chromium || true)
[ -n "$chromium" ] || skip "chromium is not installed (Debian package chromium)"
chromedriver=$(command -v chromedriver || true)
[ -n "$chromedriver" ] || skip "chromedriver is not installed (Debian package chromium-driver)"
[ -x "$py" ] && "$py" -c 'import selenium.webdriver' 2>/dev/null \
  || skip "$py cannot import selenium (Debian package python3-selenium)"
for b in "$herald" "$fake" "$loadgen"; do
  [ -x "$b" ] || fail "$b is missing (bash scripts/build.sh herald fake-provider herald-loadgen)"
done
[ -n "${HERALD_TEST_DB_URL:-}" ] \
  || fail "HERALD_TEST_DB_URL is not set (scripts/test.sh sets it; or: bash scripts/pg.sh start DIR PORT, then export HERALD_TEST_DB_URL=postgresql://postgres@127.0.0.1:PORT/herald)"
psql=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1)
[ -n "$psql" ] || fail "psql not found"

# --- cleanup: every process by its PID, the database, the work folder --------------
pids=()
db=
base_url=$HERALD_TEST_DB_URL
cleanup() {
  local status=$? p
  set +e
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
  if [ -n "$db" ]; then
    "$psql" "$base_url" -Atqc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
  fi
  if [ "$status" = 0 ]; then
    rm -rf "$work"
  else
    mkdir -p "$artifacts/dashboard-logs"
    cp "$work"/*.log "$work"/*.ini "$artifacts/dashboard-logs/" 2>/dev/null
    say "logs kept in $work and copied to $artifacts/dashboard-logs"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$work" "$artifacts"
rm -f "$artifacts/dashboard.png" "$artifacts/dashboard-failure.png" "$artifacts/dashboard-console.log"
rm -rf "$artifacts/dashboard-logs"

# --- a database of its own: the DLQ and the totals hold only this run's -------------
db=herald_dashboard_$$
"$psql" "$base_url" -Atqc "CREATE DATABASE \"$db\"" >/dev/null || fail "cannot create database $db via $base_url"
db_url=$("$py" -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$base_url" "$db")
say "database $db_url"

# --- the receiver -------------------------------------------------------------------
"$fake" --host=127.0.0.1 --port=0 --control-port=0 >"$work/provider.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q 'control on' "$work/provider.log" 2>/dev/null && break; sleep 0.1; done
hook_port=$(sed -n 's/.*webhooks on .*:\([0-9]*\)$/\1/p' "$work/provider.log")
ctl_port=$(sed -n 's/.*control on .*:\([0-9]*\)$/\1/p' "$work/provider.log")
[ -n "$hook_port" ] && [ -n "$ctl_port" ] || fail "fake-provider did not start (see $work/provider.log)"

# --- three nodes on free loopback ports ----------------------------------------------
# nine ports at once (all bound until printed, so they differ)
read -r -a ports < <("$py" -c 'import socket
ss = [socket.socket() for _ in range(9)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
api_port() { echo "${ports[$(($1 - 1))]}"; }
admin_port() { echo "${ports[$(($1 + 2))]}"; }
cluster_port() { echo "${ports[$(($1 + 5))]}"; }
seeds="\"127.0.0.1:$(cluster_port 1)\", \"127.0.0.1:$(cluster_port 2)\", \"127.0.0.1:$(cluster_port 3)\""

start_node() {  # start_node i roles
  local i=$1 roles=$2
  cat >"$work/node$i.ini" <<EOF
[herald.node]
name = "node$i"
roles = [$roles]
[herald.api]
host = "127.0.0.1"
port = $(api_port "$i")
[herald.admin]
host = "127.0.0.1"
port = $(admin_port "$i")
token = "$token"
[herald.db]
url = "$db_url"
[herald.cluster]
name = "dashboard-$$"
host = "127.0.0.1"
port = $(cluster_port "$i")
seeds = [$seeds]
[herald.tenants]
default-rate = 100000
default-burst = 100000
EOF
  "$herald" --config-file="$work/node$i.ini" >>"$work/node$i.log" 2>&1 &
  pids+=($!)
}
await() {  # await SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds
  local secs=$1 what=$2 t0=$SECONDS
  shift 2
  until "$@"; do
    [ $((SECONDS - t0)) -lt "$secs" ] || fail "not within ${secs}s: $what"
    sleep 0.2
  done
  say "$what (after $((SECONDS - t0)) s)"
}
ready() { [ "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "http://127.0.0.1:$(api_port "$1")/ready")" = 200 ]; }
alive() {  # the process of node i still runs
  local pid=${pids[$1]}
  kill -0 "$pid" 2>/dev/null || fail "node$1 exited (see $work/node$1.log)"
}

start_node 1 '"ingest"'
start_node 2 '"worker"'
start_node 3 '"worker"'
for i in 1 2 3; do await 60 "node$i ready" eval "alive $i && ready $i"; done

admin1=http://127.0.0.1:$(admin_port 1)
curl -sf --max-time 10 -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{}' "$admin1/admin/tenants/$tenant" >/dev/null || fail "PUT /admin/tenants/$tenant failed"
key=$(curl -sf --max-time 10 -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{}' "$admin1/admin/tenants/$tenant/keys" | "$py" -c 'import json, sys; print(json.load(sys.stdin)["key"])') \
  || fail "POST /admin/tenants/$tenant/keys failed"
say "tenant $tenant with an API key; node1 admin $admin1, api http://127.0.0.1:$(api_port 1)"

# --- the browser part -----------------------------------------------------------------
"$py" "$src/tests/scripts/dashboard_test.py" \
  --admin-url="$admin1" \
  --api-url="http://127.0.0.1:$(api_port 1)" \
  --token="$token" \
  --key="$key" \
  --tenant="$tenant" \
  --hook-url="http://127.0.0.1:$hook_port/hooks/dashboard" \
  --control-url="http://127.0.0.1:$ctl_port" \
  --loadgen="$loadgen" \
  --chromium="$chromium" \
  --chromedriver="$chromedriver" \
  --artifacts="$artifacts" \
  --work="$work"
