# Shared setup of the preload benchmarks: the dist layout, the C drivers, an empty preload
# library (the floor any LD_PRELOAD pays), and a 100,000-rule policy published by dns-guard
# itself. Sourced by bench/exec.sh and bench/resolve.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
DIST="${GUARD_DIST:-$PWD/dist/guard}"
WORK="$(mktemp -d)"
trap 'kill "${SIDECAR:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

if [ "${SKIP_DIST:-}" != 1 ]; then
    cargo xtask dist --out "$DIST" >/dev/null
fi
SHIM="$DIST/lib/libguard_preload.so"
gcc -O2 -o "$WORK/spawn_loop" bench/preload/spawn_loop.c
gcc -O2 -o "$WORK/resolve_loop" bench/preload/resolve_loop.c
echo 'void guard_bench_empty(void) {}' >"$WORK/empty.c"
gcc -O2 -shared -fPIC -o "$WORK/libempty.so" "$WORK/empty.c"

# 100,000 rules: 40,000 exact program paths, 30,000 program names, 10,000 path globs and
# 20,000 DNS names. Nothing matches /bin/true or localhost, so every decision walks the
# tables and falls to the default.
python3 - "$WORK/policy.toml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write('mode = "enforce"\n[dns]\ndefault = "allow"\ndeny = [\n')
    f.write("".join(f'"host{i}.team{i % 97}.example.com",\n' for i in range(20000)))
    f.write(']\n[process]\ndefault = "allow"\ndeny = [\n')
    f.write("".join(f'"/opt/app{i}/bin/tool{i}",\n' for i in range(40000)))
    f.write("".join(f'"tool-{i}",\n' for i in range(30000)))
    f.write("".join(f'"/srv/job{i}/*",\n' for i in range(10000)))
    f.write("]\n")
PY
# Publishes a policy the way the sidecar does: dns-guard serve --run-dir, stopped once
# policy.bin is there.
publish() {
    local toml=$1 dir=$2 port=$3
    mkdir -p "$dir"
    "$DIST/bin/dns-guard" serve --policy "$toml" --listen "127.0.0.1:$port" \
        --upstream 127.0.0.1:9 --run-dir "$dir" --no-admin >"$WORK/sidecar.log" 2>&1 &
    SIDECAR=$!
    for _ in $(seq 1 300); do
        [ -s "$dir/policy.json" ] && break
        sleep 0.1
    done
    [ -s "$dir/policy.bin" ] || { cat "$WORK/sidecar.log"; echo "dns-guard published no policy" >&2; exit 1; }
    kill "$SIDECAR"; wait "$SIDECAR" 2>/dev/null || true; SIDECAR=
}
publish "$WORK/policy.toml" "$WORK/run" 15399
printf '[dns]\ndefault = "allow"\n[process]\ndefault = "allow"\n' >"$WORK/small.toml"
publish "$WORK/small.toml" "$WORK/small" 15398
POLICY_BYTES=$(stat -c %s "$WORK/run/policy.bin")

GUARD_ENV=(LD_PRELOAD="$SHIM" GUARD_POLICY="$WORK/run/policy.json"
    GUARD_EVENTS="$WORK/run/events.sock" GUARD_CONTAINER=bench GUARD_FAIL=closed)
SMALL_ENV=(LD_PRELOAD="$SHIM" GUARD_POLICY="$WORK/small/policy.json"
    GUARD_EVENTS="$WORK/small/events.sock" GUARD_CONTAINER=bench GUARD_FAIL=closed)
