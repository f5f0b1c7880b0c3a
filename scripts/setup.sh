#!/usr/bin/env bash
# Installs the Debian bookworm packages Herald needs to build, test and run
# its demo. Only what is missing is installed; a second run takes a moment.
#   bash scripts/setup.sh          (as root; prints what it installs)
set -euo pipefail

packages=(
  # build
  g++ cmake ninja-build ccache pkg-config
  # libraries (DESIGN.md: dependencies)
  libcaf-dev libcpp-httplib-dev libpqxx-dev nlohmann-json3-dev
  libcurl4-openssl-dev libssl-dev libspdlog-dev libfmt-dev
  # Mustache templates (issue 18), header-only
  libkainjow-mustache-dev
  # cpp-httplib.pc: Requires.private openssl, zlib, libbrotli*
  zlib1g-dev libbrotli-dev
  # test servers and tools used by the scripts
  postgresql-15 python3 python3-aiosmtpd curl wrk
  # the partition test's network namespaces (ip netns, veth, ip rule)
  iproute2
  # /metrics is checked with promtool; the dashboard in headless Chromium
  prometheus chromium chromium-driver python3-selenium
)

missing=()
for p in "${packages[@]}"; do
  # "install ok installed" only; half-installed or removed packages count as missing
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

verify() {
  # cpp-httplib.pc and libpqxx.pc pull in other .pc files; the build needs them all.
  if ! pkg-config --cflags --libs cpp-httplib libpqxx >/dev/null; then
    echo "setup: pkg-config cannot resolve cpp-httplib / libpqxx (see the message above)" >&2
    exit 1
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  verify
  echo "setup: all ${#packages[@]} Debian packages present"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "setup: missing Debian packages: ${missing[*]}" >&2
  echo "setup: run this script as root (sudo bash scripts/setup.sh), or install them:" >&2
  echo "  sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg (e.g. unattended-upgrades on a fresh machine)
# instead of failing; retry flaky downloads.
common=(-q -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
apt-get "${common[@]}" update
apt-get "${common[@]}" -y --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  install "${missing[@]}"
verify
echo "setup: done"
