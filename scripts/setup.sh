#!/usr/bin/env bash
# Installs everything the crawler and its tests need, from nothing, into .venv/
# (Python packages) and tests/hexo/node_modules (Hexo 7, used by the tests).
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

if command -v npm >/dev/null 2>&1; then
    npm ci --prefix tests/hexo --no-audit --no-fund --loglevel=error
else
    echo "npm not found: the Hexo tests need Node.js >= 18 and npm (apt-get install -y nodejs npm)" >&2
    exit 1
fi
