#!/usr/bin/env bash
# One node against three on this machine (the same 2 cores: this shows what
# the remote hops cost, not scaling), and the latency one remote hop adds.
#
#   bench/cluster.sh [BUILD_DIR]        (default: build/)
#
# Topologies (one PostgreSQL, one fake provider, wrk against the API of the
# node that accepts):
#   one    a single node with every role (no cluster port)
#   three  node1 ingest only, node2 and node3 workers (config/cluster/'s
#          split): every accepted notification is handed to a worker over
#          CAF (reserve + dispatch), the lease moving with it
# Modes as in bench/cost.sh: "ahead" (send_at an hour ahead: acceptance
# alone) and "delivered" (accepted/s and delivered/s). CPU per request is
# the sum over every herald process.
# Hop: sequential requests (wrk -t1 -c1, $HOP_SECONDS s, mode ahead) to a
# single node, and to node1 of three nodes that all have the ingest role,
# for a tenant whose rate limiter another node owns (one remote request and
# answer per submission); the p50 difference is the hop.
#
# Environment: ROUNDS [3]  DURATION [10]  CONNS [64]  HOP_SECONDS [8]
#   WORK [.work/bench-cluster]  PGPORT [55482]  BUSY_MAX [15]
# Output: tables on stdout and in $WORK/logs/<stamp>/summary.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
HOP_SECONDS=${HOP_SECONDS:-8}
BUSY_MAX=${BUSY_MAX:-15}
WORK=${WORK:-$ROOT/.work/bench-cluster}
PGPORT=${PGPORT:-55482}
ADMIN_TOKEN=bench-admin-token
for bin in herald fake-provider; do
  [ -x "$BUILD/$bin" ] || { echo "cluster.sh: $BUILD/$bin missing" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "cluster.sh: wrk not installed (scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$WORK"

BENCH_NAME=cluster.sh
source "$ROOT/bench/lib.sh"
bench_logs

NODE_PID=
PIDS=()
PROV_PID=
stop_nodes() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
}
trap 'set +e; stop_nodes; stop_bench' EXIT
trap 'exit 130' INT TERM

DB_URL=$(start_pg)
start_fake_provider "$BUILD/fake-provider"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
C1=$(free_port); C2=$(free_port); C3=$(free_port)
SEEDS="[\"127.0.0.1:$C1\", \"127.0.0.1:$C2\", \"127.0.0.1:$C3\"]"

# node_ini NAME ROLES CLUSTER_PORT: $WORK/NAME.ini (CLUSTER_PORT 0: alone)
node_ini() {
  local extra="[herald.node]
roles = $2"
  if [ "$3" != 0 ]; then
    extra="$extra
[herald.cluster]
host = \"127.0.0.1\"
port = $3
seeds = $SEEDS"
  fi
  NODE_INI=$WORK/$1.ini write_node_ini "$1" "$extra"
}

# start NAME: starts $WORK/NAME.ini; sets API_OF[NAME], ADMIN_OF[NAME]
declare -A API_OF=() ADMIN_OF=()
start() {
  "$BUILD/herald" --config-file="$WORK/$1.ini" >"$LOGS/$RUN-$1.log" 2>&1 &
  PIDS+=($!)
  API_OF[$1]=$(port_from "$LOGS/$RUN-$1.log" "api listening on")
  ADMIN_OF[$1]=$(port_from "$LOGS/$RUN-$1.log" "admin listening on")
}
await_ready() {
  local n
  for n in "$@"; do
    for _ in $(seq 1 300); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${API_OF[$n]}/ready")" = 200 ] && break
      sleep 0.1
    done
  done
}

# topology NAME: starts it; ENTRY = the accepting node
topology() {
  case "$1" in
    one)
      node_ini solo '["ingest", "worker"]' 0; start solo; await_ready solo; ENTRY=solo ;;
    three)
      node_ini node1 '["ingest"]' "$C1"; node_ini node2 '["worker"]' "$C2"
      node_ini node3 '["worker"]' "$C3"
      start node1; start node2; start node3; await_ready node1 node2 node3; ENTRY=node1 ;;
    ring)
      for i in 1 2 3; do node_ini "node$i" '["ingest", "worker"]' "$(eval echo \$C$i)"; done
      start node1; start node2; start node3; await_ready node1 node2 node3; ENTRY=node1 ;;
  esac
  ADMIN_PORT=${ADMIN_OF[$ENTRY]}
}

# A tenant without a practical limit, and its key (one database for all).
RUN=setup
topology one
admin PUT /admin/tenants/bench '{"name":"bench","rate_per_sec":1000000,"burst":1000000}' >/dev/null
KEY=$(admin POST /admin/tenants/bench/keys '{}' | sed -n 's/.*"key" *: *"\([^"]*\)".*/\1/p')
# Tenants for the hop: one of them is owned by node2 or node3 in "ring".
for i in 0 1 2 3 4 5 6 7; do
  admin PUT /admin/tenants/hop$i '{"rate_per_sec":1000000,"burst":1000000}' >/dev/null
  HOPKEY[$i]=$(admin POST /admin/tenants/hop$i/keys '{}' | sed -n 's/.*"key" *: *"\([^"]*\)".*/\1/p')
done
stop_nodes

say "bench/cluster.sh $STAMP"
say "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1), kernel $(uname -r)"
say "commit: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo ' (dirty tree)')"
say "wrk -t2 -c$CONNS -d${DURATION}s -s bench/submit.lua to the accepting node; $ROUNDS rounds, medians"
say ""

results=$LOGS/results.tsv
: >"$results"
window=$((DURATION - 2))
for round in $(seq 1 "$ROUNDS"); do
  for topo in one three; do
    for mode in ahead delivered; do
      RUN="r$round-$topo-$mode"
      sql "TRUNCATE notifications, notification_events, idempotency_keys CASCADE" >/dev/null
      topology "$topo"
      busy=$(wait_idle)
      cost_run "$RUN" "$mode" "${API_OF[$ENTRY]}"
      acc=$ACC; p99=$P99; dlv=$DLV
      node=$(us_per "$(cpu_of "$CPU_FILE" node)" "$N")
      pg=$(us_per "$(cpu_of "$CPU_FILE" pg)" "$N")
      dps=$(awk -v d="$dlv" -v w="$window" 'BEGIN { printf "%.0f", d / w }')
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$topo" "$mode" "$acc" "$p99" "$dps" "$node" "$pg" >>"$results"
      say "round $round $topo $mode: busy before $busy | accepted/s $acc p99 $p99 ms | delivered/s $dps | us per request: herald (all nodes) $node pg $pg"
      stop_nodes
    done
  done
done

# The hop: sequential submissions, local limiter against a remote one.
hops=$LOGS/hops.tsv
: >"$hops"
for round in $(seq 1 "$ROUNDS"); do
  for topo in one ring; do
    RUN="r$round-hop-$topo"
    topology "$topo"
    key=${HOPKEY[0]}
    owner=local
    if [ "$topo" = ring ]; then
      # A tenant whose limiter lives on node2 or node3: ask once, look.
      for i in 0 1 2 3 4 5 6 7; do
        curl -s -o /dev/null -X POST -H "Authorization: Bearer ${HOPKEY[$i]}" -H 'Content-Type: application/json' \
          -d "{\"channel\":\"webhook\",\"to\":\"$TARGET\",\"body\":\"x\",\"send_at\":\"$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)\"}" \
          "http://127.0.0.1:${API_OF[node1]}/v1/notifications"
        owner=$(admin GET '/admin/actors?scope=cluster' | python3 -c '
import json, sys
t = sys.argv[1]
print(next((a["node"] for a in json.load(sys.stdin)["items"]
            if a["kind"] == "limiter-registry" and t in a.get("state", {}).get("tenants", [])), "?"))' "hop$i")
        if [ "$owner" != node1 ] && [ "$owner" != "?" ]; then key=${HOPKEY[$i]}; break; fi
      done
    fi
    wait_idle >/dev/null
    HERALD_KEY=$key HERALD_TARGET=$TARGET HERALD_SEND_AT=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ) \
      wrk -t1 -c1 -d"${HOP_SECONDS}s" --latency -s "$ROOT/bench/submit.lua" \
      "http://127.0.0.1:${API_OF[$ENTRY]}/v1/notifications" >"$LOGS/$RUN-wrk.txt" 2>&1 || true
    out=$(grep '^RESULT' "$LOGS/$RUN-wrk.txt" || true)
    p50=$(field p50_ms "$out")
    printf "%s\t%s\n" "$topo" "$p50" >>"$hops"
    say "round $round hop $topo (limiter on $owner): p50 $p50 ms, $(field accepted_per_s "$out") sequential submissions/s"
    stop_nodes
  done
done

say ""
say "Medians of $ROUNDS rounds (us = CPU microseconds per request of all herald processes / of PostgreSQL):"
say ""
say "| topology | mode | accepted/s | p99 ms | delivered/s | herald us | PostgreSQL us |"
say "|---|---|---|---|---|---|---|"
for topo in one three; do
  for mode in ahead delivered; do
    col() { awk -F'\t' -v t="$topo" -v m="$mode" -v c="$1" '$1 == t && $2 == m { print $c }' "$results" | median; }
    say "| $topo | $mode | $(col 3) | $(col 4) | $(col 5) | $(col 6) | $(col 7) |"
  done
done
say ""
one=$(awk -F'\t' '$1 == "one" { print $2 }' "$hops" | median)
ring=$(awk -F'\t' '$1 == "ring" { print $2 }' "$hops" | median)
say "Sequential submission p50: one node $one ms, remote limiter $ring ms (the hop: $(awk -v a="$ring" -v b="$one" 'BEGIN { printf "%.3f", a - b }') ms)"
