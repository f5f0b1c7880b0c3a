#!/usr/bin/env bash
# What a notification costs: accepted/s, p99 and CPU per request of the node,
# PostgreSQL and the receiver, in two modes, for one or more builds run
# interleaved on the same machine (before/after in one invocation).
#
#   bench/cost.sh [[LABEL=]BUILD_DIR ...]     (default: build/)
#   e.g. bench/cost.sh before=/tmp/old/build after=build
#
# Modes (wrk, $CONNS connections, closed loop, $DURATION each, bench/submit.lua):
#   ahead      send_at an hour ahead: acceptance alone (durable, not delivered)
#   template   as ahead, each body rendered from a template (Mustache) with
#              variables: what rendering at submit costs (issue 18)
#   delivered  delivered at once to the fake provider: accepted/s and
#              delivered/s (the provider's count over the same window)
# CPU: bench/cpu.sh over the run less its first and last second; per request
# = CPU seconds of the process / requests in that window (accepted ones for
# ahead, delivered ones for delivered). "node" is the herald process,
# "pg" every PostgreSQL process, "receiver" the fake provider.
# Every run gets a fresh node on empty notification tables and starts once
# the machine is idle (busy < $BUSY_MAX % over a second: the load average
# after a saturated run takes minutes to decay and says nothing about other
# work); rounds interleave builds and modes so that drift of this shared
# machine hits all alike. The table shows the median of $ROUNDS rounds per
# build and mode.
#
# Environment (defaults in brackets):
#   ROUNDS [3]  DURATION [10]  CONNS [64]  MODES ["ahead delivered"]
#   BUSY_MAX [15]  IDLE_WAIT_MAX [120]  WORK [.work/bench-cost]  PGPORT [55480]
#   NODE_OPTS [extra --herald.x=y flags for every node]
# Output: the table on stdout and in $WORK/logs/<stamp>/summary.txt, with
# every run's wrk and cpu.sh output next to it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
MODES=${MODES:-"ahead delivered"}
BUSY_MAX=${BUSY_MAX:-15}
IDLE_WAIT_MAX=${IDLE_WAIT_MAX:-120}
WORK=${WORK:-$ROOT/.work/bench-cost}
PGPORT=${PGPORT:-55480}
NODE_OPTS=${NODE_OPTS:-}
ADMIN_TOKEN=bench-admin-token
args=("$@")
[ ${#args[@]} -gt 0 ] || args=("$ROOT/build")
builds=()
labels=()
for a in "${args[@]}"; do
  if [[ "$a" == *=* ]]; then labels+=("${a%%=*}"); builds+=("${a#*=}")
  else labels+=("$(basename "$a")"); builds+=("$a"); fi
done
for b in "${builds[@]}"; do
  for bin in herald fake-provider; do
    [ -x "$b/$bin" ] || { echo "cost.sh: $b/$bin missing (ninja -C $b herald fake-provider)" >&2; exit 1; }
  done
done
command -v wrk >/dev/null || { echo "cost.sh: wrk not installed (scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$WORK"

BENCH_NAME=cost.sh
source "$ROOT/bench/lib.sh"
bench_logs

NODE_PID=
PROV_PID=
trap 'set +e; stop_bench' EXIT
trap 'exit 130' INT TERM

DB_URL=$(start_pg)
write_node_ini "bench-node"

# The fake provider from the first build serves every run.
start_fake_provider "${builds[0]}/fake-provider"

start_node() { # BUILD LOGFILE
  "$1/herald" --config-file="$WORK/node.ini" $NODE_OPTS >"$2" 2>&1 &
  NODE_PID=$!
  API_PORT=$(port_from "$2" "api listening on")
  ADMIN_PORT=$(port_from "$2" "admin listening on")
}

# The tenant and key live in the database; every build's migrations are the
# same schema.
start_node "${builds[0]}" "$LOGS/node-setup.log"
admin PUT /admin/tenants/bench '{"name":"bench","rate_per_sec":1000000,"burst":1000000}' >/dev/null
KEY=$(admin POST /admin/tenants/bench/keys '{}' | sed -n 's/.*"key" *: *"\([^"]*\)".*/\1/p')
[ -n "$KEY" ] || { log "could not create an API key"; exit 1; }
# The template of mode "template" (kept across runs with the tenant).
case " $MODES " in *" template "*)
  curl -sS -o /dev/null -X POST "http://127.0.0.1:$API_PORT/v1/templates" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"code":"bench-welcome","default_locale":"en","locales":{"en":{"webhook":{"body":"Hello {{name}}, this is notification {{n}} of the benchmark.{{#vip}} (VIP){{/vip}}"}}}}' ;;
esac
stop_node

say "bench/cost.sh $STAMP"
say "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1), kernel $(uname -r)"
say "commit: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo ' (dirty tree)')"
for k in "${!builds[@]}"; do
  b=${builds[$k]}
  say "build ${labels[$k]}: $b ($(grep -m1 CMAKE_BUILD_TYPE: "$b/CMakeCache.txt" | cut -d= -f2), source $(git -C "$(grep -m1 CMAKE_HOME_DIRECTORY: "$b/CMakeCache.txt" | cut -d= -f2)" rev-parse --short HEAD 2>/dev/null || echo '?'))"
done
say "wrk -t2 -c$CONNS -d${DURATION}s --latency -s bench/submit.lua (HERALD_SEND_AT an hour ahead for 'ahead'); $ROUNDS rounds"
say ""

results=$LOGS/results.tsv
: >"$results"
window=$((DURATION - 2))
for round in $(seq 1 "$ROUNDS"); do
  for k in "${!builds[@]}"; do
    b=${builds[$k]}
    label=${labels[$k]}
    for mode in $MODES; do
      name="r$round-$label-$mode"
      stop_node
      sql "TRUNCATE notifications, notification_events, idempotency_keys CASCADE" >/dev/null
      start_node "$b" "$LOGS/$name-node.log"
      load=$(wait_idle)
      cost_run "$name" "$mode" "$API_PORT"
      acc=$ACC; p99=$P99; dlv=$DLV; n=$N
      node=$(us_per "$(cpu_of "$CPU_FILE" node)" "$n")
      pg=$(us_per "$(cpu_of "$CPU_FILE" pg)" "$n")
      rcv=$(us_per "$(cpu_of "$CPU_FILE" receiver)" "$n")
      dps=$(awk -v d="$dlv" -v w="$window" 'BEGIN { printf "%.0f", d / w }')
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$label" "$mode" "$acc" "$p99" "$dps" "$node" "$pg" "$rcv" "$load" >>"$results"
      say "round $round $label $mode: busy before $load | accepted/s $acc p99 $p99 ms | delivered/s $dps | us per request: node $node pg $pg receiver $rcv"
    done
  done
done
stop_node

say ""
say "Medians of $ROUNDS rounds (us = CPU microseconds per request: per accepted one for ahead, per delivered one for delivered):"
say ""
say "| build | mode | accepted/s | p99 ms | delivered/s | node us | PostgreSQL us | receiver us |"
say "|---|---|---|---|---|---|---|---|"
for label in "${labels[@]}"; do
  for mode in $MODES; do
    col() { awk -F'\t' -v l="$label" -v m="$mode" -v c="$1" '$1 == l && $2 == m { print $c }' "$results" | median; }
    say "| $label | $mode | $(col 3) | $(col 4) | $(col 5) | $(col 6) | $(col 7) | $(col 8) |"
  done
done
