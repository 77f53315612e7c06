#!/usr/bin/env bash
# Installs everything the crawler and its tests need, from nothing: Debian's chromium
# (for `page` sections and the browser tests), Debian's redis-server (the cluster tests
# start their own), the Python packages in .venv/, and Hexo 7
# with the landscape theme in tests/hexo/node_modules (the tests load the posts with it
# and render them as a blog).  Safe to run again.
#
#   scripts/setup.sh               everything (what CI runs)
#   scripts/setup.sh --crawl-only  the crawler alone: .venv/ with `pip install -e '.[cluster]'`;
#                                  no apt-get, no chromium, no Node.js/npm, no test
#                                  packages (enough for sections without `kind: page`)
set -euo pipefail
cd "$(dirname "$0")/.."

crawl_only=0
for arg in "$@"; do
    case "$arg" in
        --crawl-only) crawl_only=1 ;;
        -h|--help)
            sed -n '2,10s/^# \{0,1\}//p' "$0"
            exit 0
            ;;
        *)
            echo "setup: unknown option $arg (known: --crawl-only, --help)" >&2
            exit 2
            ;;
    esac
done

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

if [ "$crawl_only" -eq 0 ]; then
    missing=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "$crawl_only" -eq 1 ]; then
    .venv/bin/python -m pip install --quiet -e '.[cluster]'  # the cluster extra: a worker node needs no more
    echo "setup: crawl-only install done (.venv/); sections of kind 'page' also need /usr/bin/chromium"
    exit 0
fi
.venv/bin/python -m pip install --quiet -e '.[test]'

npm ci --prefix tests/hexo --no-audit --no-fund --loglevel=error
