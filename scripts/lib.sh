# Shared set-up for scripts/run and scripts/test: idempotent, for a fresh Debian 12 machine as root.
# shellcheck shell=bash
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "hotline: run this as root: the sandbox Asterisk needs debootstrap, chroot and bind mounts" >&2
    exit 1
  fi
  if [ ! -f /etc/debian_version ]; then
    echo "hotline: these scripts set up a Debian 12 machine; elsewhere install the Python package by hand" \
      "and point hotline.toml at an existing Asterisk 22" >&2
    exit 1
  fi
}

# apt-get only when a package is missing, so a second run costs nothing.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}

system_packages() {
  # python3-venv: the virtual environment; debootstrap: the sandbox root; espeak-ng, ffmpeg, sox: prompts;
  # libjs-chart.js: the charts of the web app's reports; libjs-leaflet: its maps of requests by ward.
  apt_install python3 python3-venv python3-dev gcc debootstrap ca-certificates espeak-ng ffmpeg sox \
    util-linux procps libjs-chart.js libjs-leaflet
}

python_env() {
  local stamp="$VENV/.hotline-installed" want
  want="$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
      { echo "hotline: Python 3.11 or newer is needed (python3 is $(python3 --version))" >&2; exit 1; }
    python3 -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing the Python packages into $VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e "$REPO[dev]"
    echo "$want" > "$stamp"
  fi
}
