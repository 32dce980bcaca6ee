#!/usr/bin/env bash
# Policy benchmark: guard-policy with 100,000 generated rules (load + compile, open,
# decisions, peak memory; floors from the project brief), and the peers a user would
# otherwise pick loading the same DNS names: dnsmasq (address=/server= lines) and unbound
# (local-zone lines), timed from start until they answer a query for a blocked name, with
# their peak RSS.
#
# Usage: bench/policy.sh [RULES]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
RULES="${1:-100000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cargo build --release -q -p guard-policy --example policy_bench
BENCH="$CARGO_TARGET_DIR/release/examples/policy_bench"

echo "## guard-policy ($RULES rules)"
echo
"$BENCH" "$RULES" --emit "$WORK" | tee "$WORK/guard.txt"
echo

# A name from the generated deny list (rule i = 1 is `host1.team1.example.com`, deny).
PROBE=host1.team1.example.com

now() { date +%s%N; }

# Starts a server, waits until it answers PROBE, prints "ms KiB" (time to first answer,
# peak RSS), stops it.
time_to_serve() {
    local port=$1; shift
    local start pid
    start=$(now)
    "$@" >"$WORK/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 6000); do
        if dig +short +time=1 +tries=1 -p "$port" @127.0.0.1 "$PROBE" >/dev/null 2>&1; then
            local end hwm
            end=$(now)
            hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            echo "$(( (end - start) / 1000000 )) $hwm"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "server exited:" >&2
            cat "$WORK/server.log" >&2
            return 1
        fi
        sleep 0.01
    done
    kill "$pid" 2>/dev/null || true
    return 1
}

row() { # name, "ms KiB"
    local ms kib
    read -r ms kib <<<"$2"
    printf '| %s | %s ms | %.1f MiB |\n' "$1" "$ms" "$(echo "$kib / 1024" | bc -l)"
}

echo "## Peers loading the same $(grep -c '' "$WORK/dnsmasq.conf") DNS rules"
echo
echo "| program | start until it answers | peak RSS |"
echo "| --- | ---: | ---: |"
if command -v dnsmasq >/dev/null; then
    row "dnsmasq $(dnsmasq --version | head -1 | awk '{print $3}')" "$(time_to_serve 5391 \
        dnsmasq -k -C "$WORK/dnsmasq.conf" --port=5391 --listen-address=127.0.0.1 \
        --bind-interfaces --user=root --pid-file= --log-facility=-)"
fi
if command -v unbound >/dev/null; then
    cat >"$WORK/unbound-head.conf" <<UNB
server:
  interface: 127.0.0.1
  port: 5392
  do-daemonize: no
  chroot: ""
  username: ""
  pidfile: ""
  use-syslog: no
  directory: "$WORK"
  do-ip6: no
UNB
    sed 1d "$WORK/unbound.conf" >>"$WORK/unbound-head.conf"
    row "unbound $(unbound -V | head -1 | awk '{print $2}')" "$(time_to_serve 5392 \
        unbound -d -c "$WORK/unbound-head.conf")"
fi
echo
load=$(grep -F '**load + compile (TOML)**' "$WORK/guard.txt" | sed -E 's/.*\*\*([0-9.]+) ms\*\*.*/\1/')
echo "guard-policy load + compile (TOML, in process): $load ms"
