#!/usr/bin/env bash
# Installs the Debian packages graphflow needs at run time, only those that are missing:
# EGL/GL (Mesa, for headless OpenGL), Xvfb and xauth (windows in tests), graphviz (diagrams),
# chromium (the tests of the `graphflow serve` web console drive it headless), and
# python3-venv when `python3 -m venv` cannot work without it. Idempotent; needs root
# (uses sudo when not root). On a system without apt-get it only reports what is missing.
set -euo pipefail

packages=(libegl1 libgl1 libgl1-mesa-dri xvfb xauth graphviz chromium)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ! python3 -c "import ensurepip" >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_debian.sh: not a Debian system; install the equivalents of: ${missing[*]}" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "setup_debian.sh: need root to install ${missing[*]}; run as root:" \
         "apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "setup_debian.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
