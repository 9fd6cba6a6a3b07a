#!/usr/bin/env bash
# `make demo`: start the built-in local exchange, tour paradexctl against it, stop it.
# Uses a throw-away config/cache directory and a freshly generated demo key; touches nothing
# of the user's own configuration.
set -euo pipefail

WORK="$(mktemp -d "${TMPDIR:-/tmp}/paradexctl-demo.XXXXXX")"
SIM_PID=""
cleanup() {
  if [ -n "$SIM_PID" ] && kill -0 "$SIM_PID" 2>/dev/null; then
    kill -INT "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export XDG_CONFIG_HOME="$WORK/config" XDG_CACHE_HOME="$WORK/cache" NO_COLOR=1
unset PARADEX_ACCOUNT_ADDRESS PARADEX_L2_KEY_FILE PARADEX_KEY_COMMAND PARADEXCTL_PROFILE || true

bold() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { bold "$*"; "$@"; }

echo "Starting the local exchange (paradexctl sim) on a free loopback port..."
paradexctl sim --port 0 --seed 7 -o json >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!
for _ in $(seq 1 300); do
  [ -s "$WORK/sim.out" ] && break
  kill -0 "$SIM_PID" 2>/dev/null || { cat "$WORK/sim.err" >&2; exit 1; }
  sleep 0.1
done
[ -s "$WORK/sim.out" ] || { echo "the sim did not start" >&2; cat "$WORK/sim.err" >&2; exit 1; }
read -r API WS < <(python -c 'import json,sys; d=json.loads(sys.stdin.readline()); print(d["http_url"], d["ws_url"])' <"$WORK/sim.out")
export PARADEX_ENV=local PARADEX_API_URL="$API" PARADEX_WS_URL="$WS"
# A throw-away demo key (valid on the simulator only).
PARADEX_L2_PRIVATE_KEY="$(python -c 'import secrets; print(hex(secrets.randbelow(2**250) + 1))')"
export PARADEX_L2_PRIVATE_KEY
echo "sim: $API  $WS  (pid $SIM_PID)"

run paradexctl account onboard
run paradexctl markets BTC-USD-PERP
run paradexctl bbo BTC-USD-PERP
BID="$(paradexctl -o json bbo BTC-USD-PERP | python -c 'import json,sys; print(json.load(sys.stdin)["bid"])')"
PRICE="$(python -c "from decimal import Decimal as D; print((D('$BID') * D('0.95')).quantize(D('0.1')))")"
run paradexctl order place BTC-USD-PERP buy 0.01 --price "$PRICE" --tif post-only --client-id demo-1
run paradexctl orders list --open
run paradexctl order place BTC-USD-PERP buy 0.002 --type market --client-id demo-2 --wait closed --timeout 10
run paradexctl positions
run paradexctl balances
run paradexctl order cancel --client-id demo-1
run paradexctl stream orders positions --merged --duration 2
run paradexctl reconcile --window 2 --grace 1
run paradexctl smoke
cleanup
trap - EXIT
echo
echo "Demo finished: the sim is stopped and its temporary state removed."
