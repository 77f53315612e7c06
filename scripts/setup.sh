#!/usr/bin/env bash
# Installs everything the crawler and its tests need, from nothing: Debian's chromium
# (for `page` sections and the browser tests), the Python packages in .venv/, and Hexo 7
# with the landscape theme in tests/hexo/node_modules (the tests load the posts with it
# and render them as a blog).  Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "setup: cannot install $* (not root, no sudo); install them by hand" >&2
        return 1
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

npm ci --prefix tests/hexo --no-audit --no-fund --loglevel=error
