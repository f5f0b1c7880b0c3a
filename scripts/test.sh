#!/usr/bin/env bash
# The test command (README; .ci/run calls it): installs what is missing,
# builds everything, starts a private PostgreSQL for the suites that need one
# and runs every suite through ctest. Exit status = ctest's.
#   bash scripts/test.sh [extra ctest arguments, e.g. -L unit or -R store]
# Environment: HERALD_BUILD_DIR (default build/), HERALD_TEST_JOBS (default 2).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build_dir=${HERALD_BUILD_DIR:-$root/build}
export HERALD_BUILD_DIR=$build_dir
pg_dir=$root/.work/pg

now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }   # microseconds
elapsed() { local d=$(( ($(now_us) - $1) / 100000 )); echo "$((d / 10)).$((d % 10)) s"; }
phase_done() { echo "== test.sh: $1 done in $(elapsed "$phase_start")"; phase_start=$(now_us); }
started=$(now_us)
phase_start=$started

pg_used=
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$pg_used" ]; then
    bash scripts/pg.sh stop "$pg_dir" || true
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== test.sh: setup (Debian packages)"
bash scripts/setup.sh
phase_done setup

echo "== test.sh: build ($build_dir)"
if ! bash scripts/build.sh; then
  echo "test.sh: the build failed (see above); no tests were run" >&2
  exit 1
fi
phase_done build

echo "== test.sh: PostgreSQL ($pg_dir)"
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
pg_used=1
bash scripts/pg.sh wipe "$pg_dir"   # a fresh database every run
url=
for _ in 1 2 3; do
  # setsid: a Ctrl-C on the terminal reaches ctest, not the server; the trap
  # stops the server after ctest has ended.
  pg_port=$(free_port)
  if url=$(setsid -w bash scripts/pg.sh start "$pg_dir" "$pg_port"); then break; fi
  url=
done
[ -n "$url" ] || { echo "test.sh: could not start PostgreSQL" >&2; exit 1; }
export HERALD_TEST_DB_URL=$url
# The end-to-end suites stop and restart this server (database outage test).
export HERALD_TEST_PG_DIR=$pg_dir HERALD_TEST_PG_PORT=$pg_port
echo "HERALD_TEST_DB_URL=$HERALD_TEST_DB_URL"
phase_done PostgreSQL

echo "== test.sh: ctest (setup + build + PostgreSQL took $(elapsed "$started"))"
status=0
ctest --test-dir "$build_dir" --output-on-failure --timeout 900 -j "${HERALD_TEST_JOBS:-2}" "$@" || status=$?
exit "$status"
