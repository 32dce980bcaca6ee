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
  for mode in real hook; do
    n=$N; [ \$mode = hook ] && n=\$(($N * 20))
    echo "\$mode loopback plain \$(\$L \$mode \$n 127.0.0.1 15501)"
    echo "\$mode loopback shim-without-net \$(env $(env_for plain) \$L \$mode \$n 127.0.0.1 15502)"
    echo "\$mode loopback shim-net \$(env $(env_for net) \$L \$mode \$n 127.0.0.1 15503)"
    echo "\$mode ledger plain \$(\$L \$mode \$n 10.77.0.1 15504 bench.test)"
    echo "\$mode ledger shim-net \$(env $(env_for net) \$L \$mode \$n 10.77.0.1 15505 bench.test)"
  done
done
SH
unshare -mn sh "$WORK/rounds.sh" >"$WORK/out"
python3 - "$WORK/out" "$N" "$(nproc)" <<'PY'
import collections, statistics, sys, time
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    mode, dest, variant, ns = line.split()
    runs[(mode, dest, variant)].append(float(ns))
n = int(sys.argv[2])
print(f"## connect: {n} connect+close per real run, {20 * n} connect(-1) per hook run, "
      f"7 alternating rounds ({sys.argv[3]} CPUs, unpinned, {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())})")
print()
print("| mode | destination | run | per call, median | minimum | added (median; minimum) |")
print("|---|---|---|---|---|---|")
for mode in ("real", "hook"):
    for dest, variants in (("127.0.0.1", ("plain", "shim-without-net", "shim-net")),
                           ("10.77.0.1 (ledger)", ("plain", "shim-net"))):
        key = dest.split()[0] == "127.0.0.1" and "loopback" or "ledger"
        base = runs[(mode, key, "plain")]
        for v in variants:
            r = runs[(mode, key, v)]
            med, lo = statistics.median(r), min(r)
            added = "" if v == "plain" else \
                f"{med - statistics.median(base):+.0f} ns; {lo - min(base):+.0f} ns"
            print(f"| {mode} | {dest} | {v} | {med:.0f} ns | {lo:.0f} ns | {added} |")
print()
print("real: socket, connect, accept, close, close over loopback (what a program pays); "
      "hook: connect(-1, addr), the shim's decision plus an EBADF system call (its own cost). "
      "Floor: <= 1000 ns added per connect.")
PY
