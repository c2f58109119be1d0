#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine: real Log4j jars, logrotate, PostgreSQL
# binaries, systemd-analyze, a JDK. Skips apt when everything is already there.
set -euo pipefail
need=()
[ -f /usr/share/java/log4j-1.2.jar ] || need+=(liblog4j1.2-java)
[ -f /usr/share/java/log4j-core.jar ] || need+=(liblog4j2-java)
[ -x /usr/sbin/logrotate ] || need+=(logrotate)
# tests/tail/test_unread_compressed.py, test_attack18_compressed_not_gzip.py: logrotate compressing with xz
command -v xz >/dev/null || need+=(xz-utils)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v javac >/dev/null || need+=(default-jdk-headless)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# tests/pg_cluster.py runs the throwaway PostgreSQL as the `postgres` user (created by the package) via runuser;
# the descriptor-limit tests run agents under prlimit, the closed-stderr test in a mount namespace (unshare): all
# util-linux
{ command -v runuser && command -v prlimit && command -v unshare; } >/dev/null || need+=(util-linux)
# tests/e2e/test_attack5_state_immutable.py: an ext4 image (mkfs.ext4) and chattr
command -v chattr >/dev/null || need+=(e2fsprogs)
# tests/wall_clock.py builds its wall-clock shim (LD_PRELOAD) with the C compiler
command -v cc >/dev/null || need+=(gcc libc6-dev)
# tests/e2e/test_install.py builds shipper offline in a fresh venv: it needs `wheel` as a .whl file
ls /usr/share/python-wheels/wheel-*.whl >/dev/null 2>&1 || need+=(python3-wheel-whl)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# The binaries may be there without the package's `postgres` user (e.g. copied into an image).
if ! id postgres >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
fi
# Azurite (Microsoft's Azure Storage emulator) for tests/sources/test_azure_*.py and tests/e2e/test_azure_blob_e2e.py: node and npm from apt if
# missing, then the version pinned in tests/azurite/package-lock.json (skipped when installed).
if ! command -v npm >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
here="$(cd "$(dirname "$0")/.." && pwd)/tests/azurite"
[ -x "$here/node_modules/.bin/azurite-blob" ] || npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
