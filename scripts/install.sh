#!/usr/bin/env bash
# Installs shipper on a host, or removes it: a venv in $PREFIX (default /opt/shipper), the systemd
# unit, its sysusers.d/tmpfiles.d snippets in /usr/lib (the vendor's place: operators' own snippets in
# /etc/sysusers.d survive upgrades) and /etc/shipper/shipper.yaml (never overwritten).
# Without a running systemd (an image build, a container) it installs everything and leaves starting
# to the booted system.
#
#   scripts/install.sh [install]            install or upgrade (restarts a running shipper)
#   scripts/install.sh uninstall [--purge]  remove; --purge also deletes config, state and the user
#
# Environment:
#   DESTDIR   stage everything under this root (packaging, tests); nothing touches the live system
#   PREFIX    where the venv goes (default /opt/shipper); the unit's paths follow it
#   PYTHON    the interpreter for the venv (default python3, 3.11 or later)
#   PIP_OPTS  extra pip options, e.g. "--no-index --find-links /srv/wheels" on an offline host
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DESTDIR="${DESTDIR:-}"
DESTDIR="${DESTDIR%/}"
PREFIX="${PREFIX:-/opt/shipper}"
PYTHON="${PYTHON:-python3}"
PIP_OPTS="${PIP_OPTS:-}"
UNITDIR=/etc/systemd/system
SYSUSERSDIR=/usr/lib/sysusers.d
TMPFILESDIR=/usr/lib/tmpfiles.d
OLD_SYSUSERS=/etc/sysusers.d/shipper.conf  # where earlier versions put them
OLD_TMPFILES=/etc/tmpfiles.d/shipper.conf
CONFDIR=/etc/shipper
STATEDIR=/var/lib/shipper
VENV="$DESTDIR$PREFIX"

say() { printf 'shipper-install: %s\n' "$*"; }
live() { [ -z "$DESTDIR" ]; }  # acting on this system's root (not a staging root)
systemd_running() { [ -d /run/systemd/system ]; }  # sd_booted(3)
have() { command -v "$1" >/dev/null 2>&1; }

# A snippet an older install left in /etc masks ours in /usr/lib: drop it if it is ours unchanged,
# keep it (and say so) if the operator edited it.
retire_old_snippet() {
  local old="$DESTDIR$1" new="$2"
  [ -e "$old" ] || return 0
  if cmp -s "$old" "$new"; then
    rm -f "$old"
    say "removed $1 (now in ${new#"$DESTDIR"})"
  else
    say "kept $1: it has local changes and overrides ${new#"$DESTDIR"}; move your own lines to a file of" \
        "another name in $(dirname "$1") (e.g. shipper-local.conf) and delete it"
  fi
}

install_files() {
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    say "$PYTHON is older than 3.11; set PYTHON=/path/to/python3.11" >&2
    exit 1
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the venv in $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  say "installing shipper from $SRC"
  # pip builds a local tree in place: build from a clean copy, so a stale build/ folder (or a
  # checkout's venv and state) cannot end up in the installed package. The test tools' caches and
  # Azurite's node_modules (360 MB, 60,000 files in a checkout that ran the tests) are left out too.
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  tar -C "$SRC" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist --exclude='*.egg-info' \
      --exclude=./state --exclude=__pycache__ --exclude=./.hypothesis --exclude=./.pytest_cache \
      --exclude=./.mypy_cache --exclude=./.ruff_cache --exclude=node_modules -cf - . \
    | tar -C "$work" -xf -
  # shellcheck disable=SC2086  # PIP_OPTS is a list of options
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade $PIP_OPTS "$work"
  if ! live; then
    # A staged venv must work once moved to $PREFIX: its scripts name the interpreter by path.
    grep -rlI -- "$VENV" "$VENV/bin" | while read -r f; do sed -i "s#$VENV#$PREFIX#g" "$f"; done
  fi

  install -d "$DESTDIR$UNITDIR" "$DESTDIR$SYSUSERSDIR" "$DESTDIR$TMPFILESDIR" "$DESTDIR$PREFIX/share/doc/shipper"
  sed "s#/opt/shipper#$PREFIX#g" "$SRC/systemd/shipper.service" > "$DESTDIR$UNITDIR/shipper.service"
  chmod 0644 "$DESTDIR$UNITDIR/shipper.service"
  install -m 0644 "$SRC/systemd/shipper.sysusers" "$DESTDIR$SYSUSERSDIR/shipper.conf"
  install -m 0644 "$SRC/systemd/shipper.tmpfiles" "$DESTDIR$TMPFILESDIR/shipper.conf"
  retire_old_snippet "$OLD_SYSUSERS" "$DESTDIR$SYSUSERSDIR/shipper.conf"
  retire_old_snippet "$OLD_TMPFILES" "$DESTDIR$TMPFILESDIR/shipper.conf"
  install -m 0644 "$SRC/docs/operations.md" "$DESTDIR$PREFIX/share/doc/shipper/operations.md"

  install -d -m 0750 "$DESTDIR$CONFDIR"
  install -m 0640 "$SRC/config/shipper.yaml" "$DESTDIR$CONFDIR/shipper.yaml.example"
  if [ ! -e "$DESTDIR$CONFDIR/shipper.yaml" ]; then
    install -m 0640 "$SRC/config/shipper.yaml" "$DESTDIR$CONFDIR/shipper.yaml"
    say "installed $CONFDIR/shipper.yaml: edit it, then: systemctl enable --now shipper"
  else
    say "kept $CONFDIR/shipper.yaml (the new example is $CONFDIR/shipper.yaml.example)"
  fi

  if live; then
    # Both work without a running systemd (they edit /etc/passwd, /etc/group and create folders).
    # By basename: every sysusers.d folder is searched, so /etc/sysusers.d/shipper.conf (an edited
    # old copy) still wins; then all of /etc/sysusers.d for the operator's own `m shipper group` lines.
    if have systemd-sysusers; then
      systemd-sysusers shipper.conf
      if compgen -G "/etc/sysusers.d/*.conf" >/dev/null; then systemd-sysusers /etc/sysusers.d/*.conf; fi
    else
      say "systemd-sysusers not found: create the user by hand (see $SYSUSERSDIR/shipper.conf)"
    fi
    if have systemd-tmpfiles; then
      systemd-tmpfiles --create shipper.conf
    fi
    if getent group shipper >/dev/null; then
      chgrp shipper "$CONFDIR" "$CONFDIR/shipper.yaml" "$CONFDIR/shipper.yaml.example"
    fi
    if systemd_running; then
      systemctl daemon-reload
      # An upgrade takes effect on restart; a stop delivers what is in flight and saves checkpoints.
      systemctl try-restart shipper.service
    else
      say "systemd is not running (an image build?): nothing restarted; 'systemctl enable shipper' starts it at boot"
    fi
  fi
  say "done: $PREFIX/bin/shipper ($("$VENV/bin/python" -c 'import shipper; print(shipper.__version__)' 2>/dev/null || echo '?'))"
}

uninstall_files() {
  local purge="${1:-}"
  if live && have systemctl; then
    if systemd_running; then
      systemctl disable --now shipper.service 2>/dev/null || true
    else
      systemctl disable shipper.service 2>/dev/null || true
    fi
  fi
  rm -f "$DESTDIR$UNITDIR/shipper.service" "$DESTDIR$SYSUSERSDIR/shipper.conf" "$DESTDIR$TMPFILESDIR/shipper.conf"
  retire_old_snippet "$OLD_SYSUSERS" "$SRC/systemd/shipper.sysusers"
  retire_old_snippet "$OLD_TMPFILES" "$SRC/systemd/shipper.tmpfiles"
  rm -rf "$VENV"
  if [ "$purge" = "--purge" ]; then
    rm -rf "$DESTDIR$CONFDIR" "$DESTDIR$STATEDIR"
    if live && getent passwd shipper >/dev/null; then
      userdel shipper
      getent group shipper >/dev/null && groupdel shipper || true
    fi
    say "removed shipper, its config, its checkpoints and its user"
  else
    say "removed shipper; kept $CONFDIR and $STATEDIR (checkpoints): uninstall --purge deletes them"
  fi
  if live && systemd_running; then
    systemctl daemon-reload
  fi
}

case "${1:-install}" in
  install) install_files ;;
  uninstall) uninstall_files "${2:-}" ;;
  *) echo "usage: $0 [install | uninstall [--purge]]" >&2; exit 2 ;;
esac
