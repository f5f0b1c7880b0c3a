#!/bin/bash
# The compose demo's one-shot load generator (service "loadgen" of
# docker/docker-compose.yml, run in the Herald image: curl, jq,
# herald-loadgen). It waits for the three nodes and the fake receiver,
# creates tenant $TENANT and an API key through node1's admin API, sends
# to node1:
#   - $SINGLES single POST /v1/notifications (curl),
#   - $BATCHES POST /v1/notifications/batch of $BATCH_SIZE items each,
#   - $LOADGEN_REQUESTS more through herald-loadgen at $LOADGEN_RATE/s,
# all webhooks to the fake receiver, which answers 503 to a fraction
# $FAIL_RATE of the requests meanwhile (Herald retries those). Then it waits
# until the receiver has every accepted notification, checks each single
# and batch item's status through GET /v1/notifications/{id}, counts which
# node delivered them (GET .../attempts) and prints a summary.
#   docker-compose -f docker/docker-compose.yml run --rm -T loadgen
# Exit status 0 only if every accepted notification was delivered. The last
# line is machine readable:
#   RESULT accepted=N delivered=N duplicates=N retried=N seconds=S by_node=node2:N,node3:N
set -euo pipefail

api=${HERALD_API:-http://node1:8081}
admin=${HERALD_ADMIN:-http://node1:9091}
admin_token=${HERALD_ADMIN_TOKEN:-demo-admin-token}
ready_urls=${HERALD_READY_URLS:-"http://node1:8081/ready http://node2:8082/ready http://node3:8083/ready"}
receiver=${RECEIVER:-http://fake-provider:9000/hooks/demo}
control=${RECEIVER_CONTROL:-http://fake-provider:9001}
tenant=${TENANT:-demo}
singles=${SINGLES:-50}
batches=${BATCHES:-4}
batch_size=${BATCH_SIZE:-200}
loadgen_requests=${LOADGEN_REQUESTS:-1000}
loadgen_rate=${LOADGEN_RATE:-400}
fail_rate=${FAIL_RATE:-0.05}
wait_seconds=${WAIT_SECONDS:-120}

say() { echo "== load: $*"; }
fail() { echo "load: $*" >&2; exit 1; }
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }

# http METHOD URL TOKEN [JSON-BODY]: sets $code (000 if no answer) and $body.
http() {
  local args=(-sS -X "$1" --max-time 10 -w '\n%{http_code}')
  [ -n "$3" ] && args+=(-H "Authorization: Bearer $3")
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
  local out
  if out=$(curl "${args[@]}" "$2" 2>/dev/null); then
    code=${out##*$'\n'}
    body=${out%$'\n'*}
  else
    code=000
    body=
  fi
}

# --- 1. wait for the stack --------------------------------------------------------
say "waiting for the nodes (GET /ready) and the receiver (at most ${wait_seconds} s)"
deadline=$(( $(now_ms) + wait_seconds * 1000 ))
for url in $ready_urls "$control/health"; do
  until [ "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$url" || true)" = 200 ]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "$url does not answer 200"
    sleep 0.5
  done
  echo "  $url: 200"
done

# --- 2. tenant and API key ----------------------------------------------------------
say "tenant $tenant and an API key (node1's admin API)"
http PUT "$admin/admin/tenants/$tenant" "$admin_token" \
  '{"name":"Compose demo","rate_per_sec":5000,"burst":10000}'
case "$code" in 200|201) ;; *) fail "PUT /admin/tenants/$tenant answered $code: $body" ;; esac
http POST "$admin/admin/tenants/$tenant/keys" "$admin_token" '{}'
case "$code" in 200|201) ;; *) fail "POST /admin/tenants/$tenant/keys answered $code: $body" ;; esac
key=$(jq -r '.key // empty' <<<"$body")
[ -n "$key" ] || fail "no key in $body"

# --- 3. load ---------------------------------------------------------------------------
http GET "$control/stats" ""
[ "$code" = 200 ] || fail "receiver stats answered $code"
unique_before=$(jq -r .unique <<<"$body")
http POST "$control/control" "" "{\"fail_rate\":$fail_rate,\"fail_status\":503}"
[ "$code" = 200 ] || fail "receiver control answered $code: $body"
start_ms=$(now_ms)
ids=()

say "$singles single notifications (POST /v1/notifications)"
for ((n = 1; n <= singles; n++)); do
  http POST "$api/v1/notifications" "$key" \
    "{\"channel\":\"webhook\",\"to\":\"$receiver\",\"body\":\"single #$n\",\"data\":{\"n\":$n}}"
  id=$(jq -r '.id // empty' <<<"$body" 2>/dev/null || true)
  if [ "$code" = 202 ] && [ -n "$id" ]; then ids+=("$id"); else echo "  #$n: $code $body" >&2; fi
done
accepted=${#ids[@]}

say "$batches batches of $batch_size (POST /v1/notifications/batch)"
for ((b = 1; b <= batches; b++)); do
  items=$(jq -cn --arg to "$receiver" --argjson b "$b" --argjson size "$batch_size" \
    '{items: [range($size) | {channel: "webhook", to: $to, body: "batch \($b) item \(.)"}]}')
  http POST "$api/v1/notifications/batch" "$key" "$items"
  mapfile -t batch_ids < <(jq -r '.items[]? | select(.status == 202) | .id' <<<"$body" 2>/dev/null || true)
  echo "  batch $b: $code, ${#batch_ids[@]} accepted"
  ids+=("${batch_ids[@]}")
done
accepted=${#ids[@]}

say "$loadgen_requests through herald-loadgen at $loadgen_rate/s"
# --duration just past the schedule's end: herald-loadgen's open model
# reports at least --duration as its elapsed time.
lg_out=$(herald-loadgen --url="$api/v1/notifications" --key="$key" --target="$receiver" \
  --connections=8 --rate="$loadgen_rate" --requests="$loadgen_requests" \
  --duration=$(( loadgen_requests * 1000 / loadgen_rate + 200 ))ms \
  --body="loadgen" --quiet) || fail "herald-loadgen failed: $lg_out"
echo "  $lg_out"
lg_accepted=$(sed -n 's/.* s202=\([0-9]*\).*/\1/p' <<<"$lg_out")
accepted=$((accepted + ${lg_accepted:-0}))
http POST "$control/control" "" '{"fail_rate":0}'

# --- 4. delivery ------------------------------------------------------------------------
say "waiting until the receiver has all $accepted (at most ${wait_seconds} s)"
deadline=$(( $(now_ms) + wait_seconds * 1000 ))
while :; do
  http GET "$control/stats" ""
  unique=$(( $(jq -r .unique <<<"$body") - unique_before ))
  [ "$unique" -ge "$accepted" ] && break
  if [ "$(now_ms)" -ge "$deadline" ]; then echo "  only $unique of $accepted after ${wait_seconds} s" >&2; break; fi
  sleep 0.5
done
seconds=$(( $(now_ms) - start_ms ))
seconds=$((seconds / 1000)).$(( (seconds % 1000) / 100 ))
duplicates=$(jq -r .duplicates <<<"$body")
retried=$(jq -r .failed_injected <<<"$body")

# GET /v1/notifications/{id} of every single and batch item (one curl, one
# connection, many URLs: jq reads the stream of answers), then who delivered.
urls() { local id; for id in "${ids[@]}"; do echo "url = \"$api/v1/notifications/$id$1\""; done; }
statuses=$(urls "" | curl -sS --max-time 60 -H "Authorization: Bearer $key" -K - \
  | jq -r .status | sort | uniq -c | awk '{printf "%s%s:%s", sep, $2, $1; sep=","}')
ok=$(urls "" | curl -sS --max-time 60 -H "Authorization: Bearer $key" -K - \
  | jq -r 'select(.status == "delivered") | .id' | wc -l)
by_node=$(urls /attempts | curl -sS --max-time 60 -H "Authorization: Bearer $key" -K - \
  | jq -r '.items[]? | select(.outcome == "delivered") | .node' | sort | uniq -c \
  | awk '{printf "%s%s:%s", sep, $2, $1; sep=","}')

say "summary"
echo "  accepted by node1:     $accepted ($singles singles, $batches x $batch_size batch items, ${lg_accepted:-0} from herald-loadgen)"
echo "  receiver has:          $unique unique ($duplicates delivered twice), $retried answered 503 and retried"
echo "  singles + batch items: ${#ids[@]} checked by GET, $ok delivered ($statuses)"
echo "  delivered by:          ${by_node:-nobody} (of the singles and batch items)"
echo "  time:                  $seconds s from the first submission to the last delivery"
echo "RESULT accepted=$accepted delivered=$unique duplicates=$duplicates retried=$retried seconds=$seconds by_node=${by_node:-none}"
[ "$unique" -ge "$accepted" ] && [ "$ok" -eq "${#ids[@]}" ] \
  || fail "not everything was delivered"
