#!/usr/bin/env bash
# Cost the shim adds to connect(): N x (socket, connect, accept, close, close) against a
# listener in the driver itself, without the shim, with the shim and a policy without [net]
# (the hooks' fast path), and with [net] default = "deny": to 127.0.0.1 (loopback, always
# allowed) and to 10.77.0.1 after getaddrinfo of an allowed name that resolves to it (the
# process's own answers table; the sidecar's answers.bin is looked up the same way). Runs in a
# private network and mount namespace (10.77.0.1 on its loopback, the name in a bind-mounted
# /etc/hosts), so it needs root. Variants alternate, 7 rounds; medians and minimums.
#
# Usage: sudo bench/connect.sh [ROUNDS_OF_CONNECTS]   (default 50000; SKIP_DIST=1 reuses dist)
set -euo pipefail
cd "$(dirname "$0")/.."
DIST="${GUARD_DIST:-$PWD/dist/guard}"
N="${1:-50000}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if [ "${SKIP_DIST:-}" != 1 ]; then
    cargo xtask dist --out "$DIST" >/dev/null
fi
gcc -O2 -o "$WORK/connect_loop" bench/preload/connect_loop.c
publish() { # TOML DIR: policy.bin + policy.json as the sidecar writes them
    mkdir -p "$2"
    "$DIST/bin/dns-guard" serve --policy "$1" --listen 127.0.0.1:15397 --upstream 127.0.0.1:9 \
        --run-dir "$2" --no-admin >"$WORK/sidecar.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 300); do [ -s "$2/policy.json" ] && break; sleep 0.1; done
    kill "$pid"; wait "$pid" 2>/dev/null || true
    [ -s "$2/policy.bin" ] || { cat "$WORK/sidecar.log"; exit 1; }
}
printf '[dns]\ndefault = "allow"\n[process]\ndefault = "allow"\n' >"$WORK/plain.toml"
printf '[dns]\ndefault = "deny"\nallow = ["bench.test"]\n[process]\ndefault = "allow"\n[net]\ndefault = "deny"\n' >"$WORK/net.toml"
publish "$WORK/plain.toml" "$WORK/plain"
publish "$WORK/net.toml" "$WORK/net"
printf '127.0.0.1 localhost\n10.77.0.1 bench.test\n' >"$WORK/hosts"
env_for() { echo "LD_PRELOAD=$DIST/lib/libguard_preload.so GUARD_POLICY=$WORK/$1/policy.json GUARD_EVENTS=$WORK/$1/events.sock GUARD_CONTAINER=bench"; }
cat >"$WORK/rounds.sh" <<SH
set -e
mount --bind "$WORK/hosts" /etc/hosts
ip link set lo up
ip addr add 10.77.0.1/32 dev lo
L=$WORK/connect_loop
for r in 1 2 3 4 5 6 7; do
  echo "lo-plain \$(\$L $N 127.0.0.1 15501)"
  echo "lo-shim-no-net \$(env $(env_for plain) \$L $N 127.0.0.1 15502)"
  echo "lo-shim-net \$(env $(env_for net) \$L $N 127.0.0.1 15503)"
  echo "ledger-plain \$(\$L $N 10.77.0.1 15504 bench.test)"
  echo "ledger-shim-net \$(env $(env_for net) \$L $N 10.77.0.1 15505 bench.test)"
done
SH
unshare -mn sh "$WORK/rounds.sh" >"$WORK/out"
stat() { # VARIANT -> "median min all"
    local v; v=$(awk -v k="$1" '$1 == k {print $2}' "$WORK/out" | sort -n | tr '\n' ' ')
    set -- $v; echo "$4 $1 $v"
}
echo "## connect + close: $N per run, 7 alternating rounds ($(nproc) CPUs, unpinned, $(date -u +%FT%RZ))"
echo
echo "| run | per round, median | minimum | all runs (ns) |"
echo "|---|---|---|---|"
for v in lo-plain lo-shim-no-net lo-shim-net ledger-plain ledger-shim-net; do
    read -r med min all < <(stat "$v"); echo "| $v | $med ns | $min ns | $all |"
    eval "med_${v//-/_}=$med; min_${v//-/_}=$min"
done
echo
echo "added per connect (medians; minimums): no [net] $((med_lo_shim_no_net - med_lo_plain)) ns ($((min_lo_shim_no_net - min_lo_plain))), loopback with [net] $((med_lo_shim_net - med_lo_plain)) ns ($((min_lo_shim_net - min_lo_plain))), ledger address with [net] $((med_ledger_shim_net - med_ledger_plain)) ns ($((min_ledger_shim_net - min_ledger_plain))); floor <= 1000 ns"
