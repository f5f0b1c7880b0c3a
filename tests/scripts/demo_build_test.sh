#!/usr/bin/env bash
# The demo builds only what it runs (issue: a newcomer waited ~8 min, half of
# it for test suites). Checks, against the configured build tree:
#   - the programs scripts/demo.sh starts are among the targets it builds;
#   - building those targets compiles no file under tests/.
#   bash tests/scripts/demo_build_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2

read -r -a targets <<<"$(bash "$src/scripts/demo.sh" --build-targets)"
[ ${#targets[@]} -gt 0 ] || { echo "FAIL: demo.sh names no build target"; exit 1; }
echo "demo build targets: ${targets[*]}"

# The binaries the demo starts: $build_dir/<name> assignments in demo.sh.
started=$(grep -oE '^[a-z_]+_bin=\$build_dir/[A-Za-z0-9_-]+' "$src/scripts/demo.sh" | sed 's|.*/||')
[ -n "$started" ] || { echo "FAIL: found no program that demo.sh starts"; exit 1; }
for prog in $started; do
  found=0
  for t in "${targets[@]}"; do [ "$t" = "$prog" ] && found=1; done
  [ $found = 1 ] || { echo "FAIL: demo.sh starts $prog but does not build it"; exit 1; }
done

commands=$(ninja -C "$build" -t commands "${targets[@]}")
compiles=$(grep -c -- ' -c ' <<<"$commands" || true)
[ "$compiles" -gt 0 ] || { echo "FAIL: no compile command for ${targets[*]}"; exit 1; }
tests=$(grep -- ' -c ' <<<"$commands" | grep -oE "$src/tests/[^ ]+\.cpp" | sort -u || true)
if [ -n "$tests" ]; then
  echo "FAIL: the demo's build compiles test code:"
  echo "$tests"
  exit 1
fi
echo "ok: $compiles compile commands, none under tests/"
