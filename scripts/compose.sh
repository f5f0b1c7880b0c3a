#!/usr/bin/env bash
# Runs the container demo (docker/docker-compose.yml) on a Debian bookworm
# machine that has no Docker engine and no registry access, with rootful
# podman behind Debian's docker-compose 1.29.2 (/work/shared/CONTAINERS.md),
# and checks it end to end:
#   1. podman: installs the Debian packages if missing (podman runc
#      debootstrap docker-compose netavark aardvark-dns iptables
#      containernetworking-plugins catatonit curl jq), writes
#      /etc/containers/containers.conf.d/herald-compose.conf (runc, cgroupfs,
#      file events, default ulimits within this host's hard limits) and, if
#      `podman image exists` says it is missing, builds debian:bookworm-slim
#      with debootstrap from the machine's own Debian mirror. netavark adds
#      iptables chains and turns on ip_forward while containers run.
#   2. starts `podman system service` on a private socket (.work/compose/),
#      stopped by its PID at the end;
#   3. docker-compose config -q, build (under flock /tmp/herald-build.lock),
#      up: PostgreSQL, node1 (ingest), node2 + node3 (workers), the fake
#      webhook receiver, Prometheus;
#   4. runs the one-shot loadgen service (singles, batches, herald-loadgen,
#      5 % of the webhooks answered 503 and retried): everything accepted by
#      node1 must be delivered, by node2 and node3 both;
#   5. GET /metrics (herald_ lines; node1's accepted and the workers'
#      delivered counters agree with the loadgen) and GET / (text/html, the
#      dashboard) on the three admin ports; the images' healthchecks pass
#      (`podman healthcheck run`); Prometheus has the three nodes up;
#   6. SIGKILLs the worker holding most of a 300-item batch while the
#      receiver is slow (300 ms a request): all 300 must be delivered by the
#      survivor (duplicates: what was on the wire); restarts it, it rejoins;
#   7. docker-compose down -v (also on failure or Ctrl-C), stops the service.
# Prints the time of each phase. Exit status 0 only if every check passed.
#   sudo bash scripts/compose.sh              working tree as it is
#   sudo bash scripts/compose.sh --head       the committed tree (git HEAD)
#   sudo bash scripts/compose.sh --keep       leave the stack up at the end
#                                             (prints how to stop it)
#   sudo bash scripts/compose.sh --no-build   use the images of an earlier run
# Ports on 127.0.0.1: API 8081-8083, admin/dashboard/metrics 9091-9093,
# Prometheus 9090, receiver control 9001 (they must be free).
set -euo pipefail
# The whole script is one block: bash reads it completely before running it,
# so editing this file while it runs does not derail the run.
{

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

keep=0
source_tree=worktree
build=1
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    --head) source_tree=head ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,37p' "$root/scripts/compose.sh" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compose.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

work=$root/.work/compose
sock=$work/podman.sock
project=herald-demo
compose_file=$root/docker/docker-compose.yml
base_image=docker.io/library/debian:bookworm-slim
admin_token=demo-admin-token   # config/cluster/node*.ini
build_lock=/tmp/herald-build.lock
takeover_count=300

say() { echo "== compose: $*"; }
fail() { echo "compose.sh: FAILED: $*" >&2; exit 1; }

now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
secs() { local d=$(( $(now_ms) - $1 )); echo "$((d / 1000)).$(( (d % 1000) / 100 )) s"; }
run_start=$(now_ms)
phase_start=$run_start
timings=()
phase_done() {
  timings+=("$(printf '%-40s %8s' "$1" "$(secs "$phase_start")")")
  say "$1 done in $(secs "$phase_start")"
  phase_start=$(now_ms)
}
# locked CMD...: runs CMD holding the build lock (builds never overlap with
# another build on this machine) and notes how long it waited for it.
lock_waited=0
locked() {
  local t=$(now_ms) stamp=$work/lock-acquired
  rm -f "$stamp"
  local rc=0
  flock "$build_lock" sh -c 'date +%s%3N >"$0"; exec "$@"' "$stamp" "$@" || rc=$?
  if [ -s "$stamp" ]; then
    local w=$(( $(cat "$stamp") - t ))
    lock_waited=$(( lock_waited + w ))
    [ "$w" -lt 1000 ] || say "waited $((w / 1000)) s for $build_lock"
  fi
  return "$rc"
}

[ "$(id -u)" = 0 ] || fail "run as root (rootful podman): sudo bash scripts/compose.sh"
mkdir -p "$work"

# --- cleanup ------------------------------------------------------------------------
service_pid=
compose_up=0
src_dir=
dc() { DOCKER_HOST=unix://$sock docker-compose -p "$project" -f "$compose_file" "$@"; }

print_timings() {
  [ ${#timings[@]} -gt 0 ] || return 0
  echo "== compose: timings"
  printf '  %s\n' "${timings[@]}"
  echo "  $(printf '%-40s %8s' total "$(secs "$run_start")")"
  [ "$lock_waited" -lt 1000 ] || echo "  (of which $((lock_waited / 1000)) s waiting for $build_lock)"
  timings=()
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ "$compose_up" = 1 ]; then
    if [ "$status" != 0 ]; then
      say "logs of the failed run: $work/logs.txt"
      dc logs --no-color --timestamps >"$work/logs.txt" 2>&1 || true
      tail -n 40 "$work/logs.txt" >&2 || true
    fi
    if [ "$keep" = 1 ] && [ "$status" = 0 ]; then
      print_timings
      cat <<EOF

The stack is still up (--keep). Dashboard http://127.0.0.1:9091/ (token $admin_token),
Prometheus http://127.0.0.1:9090/, API http://127.0.0.1:8081/.
Stop it with:
  DOCKER_HOST=unix://$sock docker-compose -p $project -f $compose_file down -v
  kill $service_pid     # the podman service
EOF
      exit 0
    fi
    local t=$(now_ms)
    say "docker-compose down -v"
    dc down -v --remove-orphans >"$work/down.log" 2>&1 || { echo "compose.sh: down failed, see $work/down.log" >&2; status=1; }
    echo "== compose: down done in $(secs "$t")"
  fi
  if [ -n "$service_pid" ] && kill -0 "$service_pid" 2>/dev/null; then
    kill -TERM "$service_pid" 2>/dev/null || true
    wait "$service_pid" 2>/dev/null || true
  fi
  rm -f "$work/service.pid"
  [ -n "$src_dir" ] && rm -rf "$src_dir"
  print_timings
  if [ "$status" = 0 ]; then say "PASSED"; else echo "compose.sh: exit status $status" >&2; fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo; exit 130' INT
trap 'exit 143' TERM

# --- 1. podman ----------------------------------------------------------------------
say "podman (packages, containers.conf, base image)"
packages=(podman runc debootstrap docker-compose netavark aardvark-dns iptables
          containernetworking-plugins catatonit curl jq)
missing=()
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (log: $work/apt.log)"
  common=(-q -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
  { DEBIAN_FRONTEND=noninteractive apt-get "${common[@]}" update \
    && DEBIAN_FRONTEND=noninteractive apt-get "${common[@]}" -y --no-install-recommends install "${missing[@]}"
  } >"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; fail "apt-get install failed"; }
fi

# crun fails here ("cgroups in hybrid mode not supported") and podman asks
# for nofile=1048576, above this host's hard limit: a drop-in sets runc,
# cgroupfs, file events and ulimits this host allows.
nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
nproc=$(ulimit -Hu); { [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; } && nproc=32768
conf=/etc/containers/containers.conf.d/herald-compose.conf
want=$(cat <<EOF
# Written by scripts/compose.sh (Herald): podman settings for this host.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
)
if [ "$(cat "$conf" 2>/dev/null || true)" != "$want" ]; then
  mkdir -p "$(dirname "$conf")"
  printf '%s\n' "$want" >"$conf"
  say "wrote $conf (runtime runc, cgroupfs, file events, nofile=$nofile, nproc=$nproc)"
fi
runtime=$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null || true)
[ "$runtime" = runc ] || fail "podman does not use $conf (runtime: '$runtime')"

if ! podman image exists "$base_image"; then
  # The mirror of this machine's Debian apt sources (deb822 or one-line).
  mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -m1 '/debian/\?$' || true)
  [ -n "$mirror" ] || mirror=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | grep -m1 '/debian/\?$' || true)
  security=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -m1 '/debian-security/\?$' || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  security=${security:-http://deb.debian.org/debian-security}
  say "building $base_image with debootstrap from $mirror"
  rootfs=$work/rootfs
  rm -rf "$rootfs"
  locked debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap failed (log: $work/debootstrap.log)"; }
  rm -f "$rootfs"/etc/apt/sources.list "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin
  rm -rf "$rootfs"/var/lib/apt/lists/*
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  tar -C "$rootfs" -c . | podman import --change 'CMD ["bash"]' - "$base_image" >>"$work/debootstrap.log" 2>&1
  rm -rf "$rootfs"
fi
phase_done "podman setup"

# --- 2. the Docker API socket --------------------------------------------------------
# A service left over by a killed earlier run: stop it by its pid file, and
# only if that pid is still podman.
if [ -f "$work/service.pid" ]; then
  old=$(cat "$work/service.pid")
  if [ "$(readlink "/proc/$old/exe" 2>/dev/null || true)" = "$(readlink -f "$(command -v podman)")" ]; then
    kill -TERM "$old" 2>/dev/null || true
  fi
  rm -f "$work/service.pid"
fi
rm -f "$sock"
podman system service --time=0 "unix://$sock" >"$work/podman-service.log" 2>&1 &
service_pid=$!
echo "$service_pid" >"$work/service.pid"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "podman system service did not create $sock"
# Leftovers of an earlier run of this project (containers, network, volumes).
dc down -v --remove-orphans >/dev/null 2>&1 || true

# --- 3. build and up ---------------------------------------------------------------------
dc config -q || fail "docker-compose config -q rejects $compose_file"
if [ "$source_tree" = head ]; then
  # The committed tree in a temporary folder with the compose files of
  # this checkout: `docker-compose -f` there builds it.
  src_dir=$(mktemp -d "$work/head.XXXXXX")
  git -C "$root" archive HEAD | tar -x -C "$src_dir"
  cp "$root/.dockerignore" "$src_dir/" 2>/dev/null || true
  rm -rf "$src_dir/docker" && cp -a "$root/docker" "$src_dir/docker"
  compose_file=$src_dir/docker/docker-compose.yml
  say "building git HEAD ($(git -C "$root" rev-parse --short HEAD)) from $src_dir"
fi
# The Dockerfile's build stage lists the build and library packages of
# scripts/setup.sh (those before its "# test servers" line) by hand: a
# package added there and not here fails in seconds instead of mid-compile.
tree=$(dirname "$compose_file")/..
missing=()
for p in $(sed -n '/^packages=(/,/^)/p' "$tree/scripts/setup.sh" | sed '/# test servers/,$d' \
           | sed -e 's/#.*//' -e 's/packages=(//' -e 's/)//'); do
  [ "$p" = ccache ] || grep -qFw -- "$p" "$tree/docker/Dockerfile" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] \
  || fail "docker/Dockerfile does not install ${missing[*]} (in scripts/setup.sh): add them to its build stage"
images=(herald-demo/herald:latest herald-demo/postgres:latest herald-demo/prometheus:latest)
if [ "$build" = 0 ]; then
  for i in "${images[@]}"; do podman image exists "$i" || fail "--no-build: there is no image $i yet"; done
else
  # node1 builds the image the other Herald services share (built once: the
  # same build for node2 would send the context again and, if a source
  # changed meanwhile, compile it all again).
  say "docker-compose build postgres prometheus node1 (waits for $build_lock; log: $work/build.log)"
  locked env DOCKER_HOST="unix://$sock" docker-compose -p "$project" -f "$compose_file" \
    build postgres prometheus node1 >"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log" >&2; fail "build failed (log: $work/build.log)"; }
  phase_done "build images"
fi

for port in 8081 8082 8083 9091 9092 9093 9090 9001; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "port $port on 127.0.0.1 is taken (a scripts/demo.sh run?): stop what listens there"
  fi
done
say "docker-compose up -d"
compose_up=1
dc up -d postgres fake-provider node1 node2 node3 prometheus >"$work/up.log" 2>&1 \
  || { cat "$work/up.log" >&2; fail "up failed"; }

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
await_200() {  # await_200 URL SECONDS
  local deadline=$(( $(now_ms) + $2 * 1000 ))
  until [ "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$1" || true)" = 200 ]; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
members_up() {  # members up in GET /admin/cluster of node1
  http GET http://127.0.0.1:9091/admin/cluster "$admin_token"
  jq -r '[.members[]? | select(.state == "up")] | length' <<<"$body" 2>/dev/null || echo 0
}
for n in 1 2 3; do
  await_200 "http://127.0.0.1:808$n/ready" 120 || fail "node$n: GET /ready is not 200 after 120 s"
done
await_200 http://127.0.0.1:9001/health 30 || fail "fake-provider: GET /health is not 200"
deadline=$(( $(now_ms) + 30000 ))
until [ "$(members_up)" = 3 ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "node1 does not see 3 members up: $body"
  sleep 0.2
done
http GET http://127.0.0.1:9091/admin/cluster "$admin_token"
jq -r '.members[] | "  \(.name) \(.address) \(.roles | join(",")) \(.state)"' <<<"$body"
phase_done "up (3 nodes ready, cluster formed)"

# --- 4. load ----------------------------------------------------------------------------
say "loadgen (docker-compose run --rm -T loadgen)"
set +e
dc run --rm -T loadgen 2>&1 | tee "$work/loadgen.log"
lg_status=${PIPESTATUS[0]}
set -e
[ "$lg_status" = 0 ] || fail "the loadgen service exited with status $lg_status"
result=$(grep '^RESULT ' "$work/loadgen.log" | tail -n 1)
by_node=$(sed -n 's/.* by_node=\([^ ]*\).*/\1/p' <<<"$result")
for w in node2 node3; do
  grep -Eq "(^|,)$w:[1-9]" <<<"$by_node" || fail "$w delivered nothing ($result)"
done
! grep -Eq '(^|,)node1:' <<<"$by_node" || fail "node1 (ingest only) delivered some ($result)"
say "node1 accepted, node2 and node3 delivered: $by_node"
phase_done "load (loadgen service)"

# --- 5. metrics, dashboard, Prometheus ------------------------------------------------------
for n in 1 2 3; do
  url=http://127.0.0.1:909$n
  lines=$(curl -sS --max-time 10 -H "Authorization: Bearer $admin_token" "$url/metrics" | grep -c '^herald_' || true)
  mcode=$(curl -s -o /dev/null --max-time 10 -w '%{http_code}' -H "Authorization: Bearer $admin_token" "$url/metrics" || true)
  [ "$mcode" = 200 ] && [ "$lines" -gt 0 ] || fail "node$n: GET /metrics answered $mcode with $lines herald_ lines"
  read -r dcode dtype < <(curl -s -o /dev/null --max-time 10 -w '%{http_code} %{content_type}\n' "$url/" || echo "000 -")
  [ "$dcode" = 200 ] && [[ "$dtype" == text/html* ]] || fail "node$n: GET / (dashboard) answered $dcode ($dtype)"
  echo "  node$n: /metrics 200 ($lines herald_ lines), / 200 $dtype"
done
# What the last run of the loadgen service reported, per node's /metrics:
# node1 accepted them all, node2 and node3 each delivered some, together all.
metric() {  # metric PORT NAME TENANT: the value of NAME{tenant=TENANT,...} (0 if absent)
  curl -sS --max-time 10 -H "Authorization: Bearer $admin_token" "http://127.0.0.1:$1/metrics" \
    | awk -v n="$2" -v t="tenant=\"$3\"" 'index($0, n "{") == 1 && index($0, t) { s += $NF } END { printf "%d\n", s }'
}
accepted=$(sed -n 's/.* accepted=\([0-9]*\).*/\1/p' <<<"$result")
m_accepted=$(metric 9091 herald_notifications_accepted_total demo)
m_node2=$(metric 9092 herald_notifications_delivered_total demo)
m_node3=$(metric 9093 herald_notifications_delivered_total demo)
echo "  /metrics: node1 accepted $m_accepted (tenant demo); delivered: node2 $m_node2, node3 $m_node3"
[ "$m_accepted" = "$accepted" ] || fail "node1's herald_notifications_accepted_total is $m_accepted, the loadgen had $accepted accepted"
[ "$m_node2" -gt 0 ] && [ "$m_node3" -gt 0 ] && [ $((m_node2 + m_node3)) -ge "$accepted" ] \
  || fail "herald_notifications_delivered_total of node2 ($m_node2) and node3 ($m_node3) do not cover the $accepted accepted"
# The images' HEALTHCHECKs (podman runs them only on request without systemd).
for s in postgres node1 node2 node3 fake-provider; do
  id=$(dc ps -q "$s")
  podman healthcheck run "$id" >/dev/null 2>&1 || fail "the healthcheck of $s fails"
done
echo "  healthchecks pass: postgres node1 node2 node3 fake-provider"
deadline=$(( $(now_ms) + 30000 ))
while :; do
  http GET http://127.0.0.1:9090/api/v1/targets ""
  up=$(jq -r '[.data.activeTargets[]? | select(.health == "up")] | length' <<<"$body" 2>/dev/null || echo 0)
  [ "$up" = 3 ] && break
  [ "$(now_ms)" -lt "$deadline" ] || fail "Prometheus has $up of 3 targets up: $(jq -c '[.data.activeTargets[]? | {scrapeUrl, health, lastError}]' <<<"$body" 2>/dev/null || echo "$code $body")"
  sleep 1
done
http GET "http://127.0.0.1:9090/api/v1/query?query=count(%7B__name__%3D~%22herald_.%2A%22%7D)" ""
echo "  Prometheus: 3 targets up, $(jq -r '.data.result[0].value[1] // 0' <<<"$body" 2>/dev/null) herald_ series"
phase_done "metrics, dashboard, health, Prometheus"

# --- 6. a worker is killed mid-batch ---------------------------------------------------------
say "takeover: receiver at 300 ms a request, $takeover_count notifications, then SIGKILL of the busier worker"
http PUT http://127.0.0.1:9091/admin/tenants/takeover "$admin_token" '{"rate_per_sec":5000,"burst":10000}'
case "$code" in 200|201) ;; *) fail "PUT /admin/tenants/takeover answered $code: $body" ;; esac
http POST http://127.0.0.1:9091/admin/tenants/takeover/keys "$admin_token" '{}'
key=$(jq -r '.key // empty' <<<"$body" 2>/dev/null || true)
[ -n "$key" ] || fail "POST /admin/tenants/takeover/keys answered $code: $body"
http POST http://127.0.0.1:9001/reset "" '{}'
http POST http://127.0.0.1:9001/control "" '{"latency_ms":300}'
items=$(jq -cn --argjson n "$takeover_count" \
  '{items: [range($n) | {channel: "webhook", to: "http://fake-provider:9000/hooks/takeover", body: "takeover #\(.)"}]}')
http POST http://127.0.0.1:8081/v1/notifications/batch "$key" "$items"
mapfile -t ids < <(jq -r '.items[]? | select(.status == 202) | .id' <<<"$body" 2>/dev/null || true)
[ "${#ids[@]}" = "$takeover_count" ] || fail "the batch answered $code with ${#ids[@]} of $takeover_count accepted: ${body:0:300}"
sleep 1   # let the worker start sending: the point is work on the wire
held() {  # held nodeN: jobs its dispatcher holds now
  http GET "http://127.0.0.1:9091/admin/actors/$1/dispatcher/" "$admin_token"
  jq -r '.items[0].state.held // 0' <<<"$body" 2>/dev/null || echo 0
}
h2=$(held node2); h3=$(held node3)
victim=node2 survivor=node3
if [ "$h3" -gt "$h2" ]; then victim=node3 survivor=node2; fi
http GET http://127.0.0.1:9001/stats ""
echo "  node2 holds $h2, node3 holds $h3; the receiver has $(jq -r .unique <<<"$body") so far; killing $victim"
kill_ms=$(now_ms)
dc kill -s SIGKILL "$victim" >/dev/null 2>&1 || fail "docker-compose kill $victim failed"
deadline=$(( kill_ms + 90000 ))
while :; do
  http GET http://127.0.0.1:9001/stats ""
  unique=$(jq -r '.unique // 0' <<<"$body" 2>/dev/null || echo 0)
  [ "$unique" -ge "$takeover_count" ] && break
  [ "$(now_ms)" -lt "$deadline" ] || break
  sleep 0.2
done
duplicates=$(jq -r .duplicates <<<"$body")
took=$(secs "$kill_ms")
ok=$(printf 'url = "http://127.0.0.1:8081/v1/notifications/%s"\n' "${ids[@]}" \
  | curl -sS --max-time 60 -H "Authorization: Bearer $key" -K - \
  | jq -r 'select(.status == "delivered") | .id' | wc -l)
line=$(dc logs --no-color "$survivor" 2>/dev/null | grep -m1 "took over [0-9]* notifications leased to $victim" || true)
echo "  ${line:-"(no takeover line in $survivor's log)"}"
echo "  the receiver has $unique of $takeover_count ($duplicates delivered twice: what $victim had on the wire); $ok of $takeover_count delivered by GET, $took after the kill"
[ "$unique" -ge "$takeover_count" ] && [ "$ok" = "$takeover_count" ] \
  || fail "lost notifications after killing $victim: receiver $unique, delivered $ok of $takeover_count"
http POST http://127.0.0.1:9001/reset "" '{}'
say "restarting $victim: it rejoins"
dc start "$victim" >/dev/null 2>&1 || fail "docker-compose start $victim failed"
port=808${victim#node}
await_200 "http://127.0.0.1:$port/ready" 60 || fail "$victim: GET /ready is not 200 60 s after its restart"
deadline=$(( $(now_ms) + 30000 ))
until [ "$(members_up)" = 3 ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "node1 does not see 3 members up after $victim's restart: $body"
  sleep 0.2
done
echo "  $victim is back: node1 sees 3 members up"
phase_done "takeover (SIGKILL of $victim)"

du_storage=$(du -sh /var/lib/containers/storage 2>/dev/null | cut -f1 || echo "?")
say "podman storage: $du_storage (/var/lib/containers/storage)"
exit 0
}
