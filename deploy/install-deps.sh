#!/usr/bin/env bash
# Installs what Outfall's local services need on Debian 12 or 13: PostgreSQL with the
# TimescaleDB extension, Mosquitto, and the Python venv. Idempotent: each step is skipped
# when its result is already present, so a warm machine pays a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

log() { echo "[install-deps] $*"; }

apt_updated=0
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ $apt_updated = 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
    log "apt installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- PostgreSQL server and Mosquitto -------------------------------------------------
apt_install postgresql mosquitto mosquitto-clients libpq5
# Headless Chromium for the dashboard's browser test (Playwright drives the system binary; no browser
# download), and a CJK font so the Chinese dashboard renders in its screenshots.
apt_install chromium fonts-wqy-microhei
PG_MAJOR=$(ls /usr/lib/postgresql | sort -n | tail -1)
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
log "PostgreSQL $PG_MAJOR"

# --- TimescaleDB extension -------------------------------------------------------------
if [ -f "$($PG_CONFIG --pkglibdir)/timescaledb.so" ]; then
    log "timescaledb already installed"
elif apt-cache show "postgresql-$PG_MAJOR-timescaledb" >/dev/null 2>&1 \
        || { $SUDO apt-get update -qq && apt_updated=1 && apt-cache show "postgresql-$PG_MAJOR-timescaledb" >/dev/null 2>&1; }; then
    apt_install "postgresql-$PG_MAJOR-timescaledb"
else
    # Debian 12 ships no TimescaleDB package: build the extension from Debian 13's source
    # package against the installed server (Apache-licensed part only, ~30 s).
    log "building timescaledb from the trixie source package"
    apt_install "postgresql-server-dev-$PG_MAJOR" cmake build-essential dpkg-dev libssl-dev libkrb5-dev
    mirror=$(grep -hoE '^URIs: *[^ ]+/debian$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}')
    if [ -z "$mirror" ]; then
        mirror=$(grep -hoE '^deb +[^ ]+/debian ' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}')
    fi
    listdir=/etc/apt/sources.list.d
    echo "deb-src $mirror trixie main" | $SUDO tee "$listdir/outfall-trixie-src.list" >/dev/null
    $SUDO apt-get update -qq
    work=$(mktemp -d)
    (cd "$work" && apt-get source -qq --download-only timescaledb >/dev/null 2>&1 \
        && dpkg-source -x --no-check ./*.dsc src >/dev/null)
    (cd "$work/src" && ./bootstrap -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
        -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="$PG_CONFIG" >/dev/null \
        && cd build && make -j"$(nproc)" >/dev/null && $SUDO make install >/dev/null)
    rm -rf "$work"
    log "timescaledb built and installed"
fi

# --- Swagger UI for /docs -------------------------------------------------------------
# The API serves its docs page from its own origin, never a CDN: upstream's own swagger-ui-dist from npm,
# pinned with its integrity hash in deploy/swagger-ui/package-lock.json. Install scripts stay off (the
# package's analytics dependency, @scarf/scarf, would otherwise phone home). Only the files the page
# loads are copied into the api package, so `pip install .` (the image) carries them too.
DOCS=api/docs_assets
if [ ! -f "$DOCS/swagger-ui-bundle.js" ] || [ deploy/swagger-ui/package-lock.json -nt "$DOCS/swagger-ui-bundle.js" ]; then
    command -v npm >/dev/null || apt_install npm
    log "installing swagger-ui-dist for /docs"
    (cd deploy/swagger-ui && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    mkdir -p "$DOCS"
    dist=deploy/swagger-ui/node_modules/swagger-ui-dist
    cp "$dist/swagger-ui-bundle.js" "$dist/swagger-ui.css" "$dist/LICENSE" "$dist/NOTICE" "$DOCS/"
fi

# --- ECharts for the dashboard's charts ----------------------------------------------------
# Apache ECharts from npm, pinned with its integrity hash in deploy/echarts/package-lock.json: the part
# the charts use (deploy/echarts/outfall-echarts.js) bundled by esbuild into one ES module of half the
# full build's size, copied into the api package and served under /vendor/echarts/ from the API's own
# origin (never a CDN). Why ECharts: README "Dashboard".
VENDOR=api/vendor/echarts
if [ ! -f "$VENDOR/echarts.esm.min.js" ] || [ deploy/echarts/package-lock.json -nt "$VENDOR/echarts.esm.min.js" ] \
        || [ deploy/echarts/outfall-echarts.js -nt "$VENDOR/echarts.esm.min.js" ]; then
    command -v npm >/dev/null || apt_install npm
    log "installing echarts for the dashboard"
    mkdir -p "$VENDOR"
    (cd deploy/echarts && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null \
        && node_modules/.bin/esbuild outfall-echarts.js --bundle --format=esm --minify --log-level=warning \
            --outfile="../../$VENDOR/echarts.esm.min.js")
    cp deploy/echarts/node_modules/echarts/LICENSE deploy/echarts/node_modules/echarts/NOTICE "$VENDOR/"
fi

# --- Python environment ----------------------------------------------------------------
PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null; then
    apt_install python3
fi
# Debian's python3 needs python3-venv (ensurepip) before `python3 -m venv` works.
if ! "$PY" -c "import ensurepip, venv" >/dev/null 2>&1; then
    apt_install python3-venv
fi
if ! "$PY" -c "import sys; sys.exit(sys.version_info < (3, 11))"; then
    echo "[install-deps] Python 3.11 or newer is needed (found $("$PY" --version 2>&1))" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    log "creating .venv"
    "$PY" -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
    log "installing Python packages"
    .venv/bin/pip install -q --upgrade pip >/dev/null
    .venv/bin/pip install -q -e '.[dev]'
    touch .venv/.installed
fi
log "done"
