#!/usr/bin/env bash
# Cost guard-exec's supervisor adds to connect(): bench/preload/connect_loop.c built static (no
# shim: only the supervisor decides) and dynamic (the shim decides first, the supervisor
# again), each under guard-exec with a [net] policy (default deny, 10.77.0.0/16 allowed),
# with the supervisor and with GUARD_SUPERVISE=off. `real`: socket, connect, accept, close to
# 10.77.0.1 (allowed by a CIDR rule; on the loopback device of a private network namespace);
# `hook`: connect(-1, 10.77.0.1), the decisions plus an EBADF system call. Variants alternate,
# 7 rounds, unpinned; medians and minimums. Needs root (unshare -mn).
#
# Usage: sudo bench/supervise-connect.sh [CONNECTS]   (default 20000; SKIP_DIST=1 reuses dist)
set -euo pipefail
cd "$(dirname "$0")/.."
DIST="${GUARD_DIST:-$PWD/dist/guard}"
N="${1:-20000}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if [ "${SKIP_DIST:-}" != 1 ]; then
    cargo xtask dist --out "$DIST" >/dev/null
fi
gcc -O2 -o "$WORK/connect_dynamic" bench/preload/connect_loop.c
gcc -O2 -static -o "$WORK/connect_static" bench/preload/connect_loop.c 2>/dev/null
printf '[dns]\ndefault = "allow"\n[process]\ndefault = "allow"\n[net]\ndefault = "deny"\nallow = ["10.77.0.0/16"]\n' >"$WORK/net.toml"
mkdir -p "$WORK/run"
"$DIST/bin/dns-guard" serve --policy "$WORK/net.toml" --listen 127.0.0.1:15398 --upstream 127.0.0.1:9 \
    --run-dir "$WORK/run" --no-admin >"$WORK/sidecar.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ -s "$WORK/run/policy.bin" ] && break; sleep 0.1; done
kill "$pid"; wait "$pid" 2>/dev/null || true
[ -s "$WORK/run/policy.bin" ] || { cat "$WORK/sidecar.log"; exit 1; }
ENV="GUARD_POLICY=$WORK/run/policy.json GUARD_EVENTS=$WORK/run/events.sock GUARD_CONTAINER=bench GUARD_PRELOAD_LIB=$DIST/lib/libguard_preload.so"
cat >"$WORK/rounds.sh" <<SH
set -e
ip link set lo up
ip addr add 10.77.0.1/32 dev lo
GX=$DIST/bin/guard-exec
for r in 1 2 3 4 5 6 7; do
  for mode in real hook; do
    n=$N; [ \$mode = hook ] && n=\$(($N * 5))
    p=15600
    for kind in static dynamic; do
      for sup in off on; do
        p=\$((p + 1))
        echo "\$mode \$kind \$sup \$(env -u LD_PRELOAD $ENV GUARD_SUPERVISE=\$sup \$GX $WORK/connect_\$kind \$mode \$n 10.77.0.1 \$p 2>/dev/null)"
      done
    done
  done
done
SH
unshare -mn sh "$WORK/rounds.sh" >"$WORK/out"
python3 - "$WORK/out" "$N" "$(nproc)" <<'PY'
import collections, statistics, sys, time
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    mode, kind, sup, ns = line.split()
    runs[(mode, kind, sup)].append(float(ns))
n = int(sys.argv[2])
print(f"## connect under the supervisor: {n} connect+close per real run, {5 * n} connect(-1) per hook run, "
      f"7 alternating rounds ({sys.argv[3]} CPUs, unpinned, {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())})")
print()
print("| mode | program | supervisor | per call, median | minimum | added (median; minimum) |")
print("|---|---|---|---|---|---|")
for mode in ("real", "hook"):
    for kind in ("static", "dynamic"):
        base = runs[(mode, kind, "off")]
        for sup in ("off", "on"):
            r = runs[(mode, kind, sup)]
            med, lo = statistics.median(r), min(r)
            added = "" if sup == "off" else \
                f"{(med - statistics.median(base)) / 1000:+.1f} µs; {(lo - min(base)) / 1000:+.1f} µs"
            print(f"| {mode} | {kind} | {sup} | {med / 1000:.1f} µs | {lo / 1000:.1f} µs | {added} |")
print()
print("Floor (issue 14): <= 10 µs added per connect.")
PY
