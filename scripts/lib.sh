# Shared helpers for scripts/*. Source it; do not run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }

# The wasm-bindgen version pinned in Cargo.toml (`wasm-bindgen = "=X.Y.Z"` or
# `wasm-bindgen = { version = "=X.Y.Z", ... }`). The CLI must match it exactly.
wasm_bindgen_pin() {
  local v
  v="$(sed -nE 's/^[[:space:]]*wasm-bindgen[[:space:]]*=[[:space:]]*(\{[^}]*version[[:space:]]*=[[:space:]]*)?"=?([0-9]+\.[0-9]+\.[0-9]+)".*/\2/p' \
        "$ROOT/Cargo.toml" | head -n1)"
  [[ -n "$v" ]] || die "could not read the wasm-bindgen version pin from Cargo.toml"
  printf '%s\n' "$v"
}

# Run a command as root (directly, or through sudo when not root).
as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) to run: $*"
  fi
}

ensure_wasm_target() {
  if ! command -v rustup >/dev/null 2>&1; then
    # Without rustup we can only check that the std for the target exists.
    [[ -d "$(rustc --print sysroot)/lib/rustlib/wasm32-unknown-unknown" ]] \
      || die "wasm32-unknown-unknown target missing and rustup not found"
    return
  fi
  if ! rustup target list --installed | grep -qx 'wasm32-unknown-unknown'; then
    log "installing rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
}

# wasm-bindgen-cli (wasm-bindgen + wasm-bindgen-test-runner) at the pinned version.
ensure_wasm_bindgen() {
  local want have=""
  want="$(wasm_bindgen_pin)"
  if command -v wasm-bindgen >/dev/null 2>&1; then
    have="$(wasm-bindgen --version | awk '{print $2}')"
  fi
  if [[ "$have" != "$want" ]] || ! command -v wasm-bindgen-test-runner >/dev/null 2>&1; then
    log "installing wasm-bindgen-cli $want (found: ${have:-none}; this takes a few minutes)"
    # Not --locked: the CLI's own lockfile pins crates that fail on current rustc.
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

apt_updated=0
apt_install() {
  if [[ $apt_updated -eq 0 ]]; then
    log "apt-get update"
    as_root apt-get update
    apt_updated=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"
CHROMEDRIVER_BIN="${CHROMEDRIVER_BIN:-/usr/bin/chromedriver}"
ensure_chromium() {
  if [[ ! -x "$CHROMIUM_BIN" || ! -x "$CHROMEDRIVER_BIN" ]]; then
    apt_install chromium chromium-driver
  fi
}

ensure_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
  fi
}

ensure_e2e_deps() {
  ensure_node
  if [[ ! -d "$ROOT/tests/e2e/node_modules/playwright-core" || ! -d "$ROOT/tests/e2e/node_modules/axe-core" ]]; then
    # (a stale or partial node_modules is replaced: npm ci starts from scratch)
    log "npm ci (tests/e2e)"
    (cd "$ROOT/tests/e2e" && npm ci --no-audit --no-fund)
  fi
}

# Print a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
