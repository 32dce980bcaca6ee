#!/usr/bin/env bash
# Process launch cost of the preload shim: 2,000 fork+execve of /bin/true with no preload,
# with an empty preloaded library, with the shim and a 100,000-rule policy, and with the shim
# and an empty policy, in one hyperfine run; then the resident memory the shim adds.
#
# Usage: bench/exec.sh [LAUNCHES]   (default 2000; SKIP_DIST=1 reuses the dist layout)
source "$(dirname "$0")/preload/common.sh"
N="${1:-2000}"

echo "## Process launch: $N x fork+execve /bin/true (policy.bin: $POLICY_BYTES bytes, 100,000 rules)"
echo
hyperfine --warmup 2 --runs 15 --style none --export-json "$WORK/exec.json" \
    -n none "$WORK/spawn_loop $N" \
    -n empty-preload "env LD_PRELOAD=$WORK/libempty.so $WORK/spawn_loop $N" \
    -n shim "env ${GUARD_ENV[*]} $WORK/spawn_loop $N" \
    -n shim-empty-policy "env ${SMALL_ENV[*]} $WORK/spawn_loop $N" >/dev/null
python3 - "$WORK/exec.json" "$N" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
n = int(sys.argv[2])
print("| run | wall, mean ± sd | wall, min | CPU (user+sys), mean | CPU per launch |")
print("|---|---|---|---|---|")
cpu = {k: r[k]["user"] + r[k]["system"] for k in r}
for k in ("none", "empty-preload", "shim", "shim-empty-policy"):
    x = r[k]
    print(f"| {k} | {x['mean']*1e3:.0f} ms ± {x['stddev']*1e3:.0f} | {x['min']*1e3:.0f} ms | {cpu[k]*1e3:.0f} ms | {cpu[k]/n*1e6:.0f} µs |")
print()
rows = [("wall, mean", {k: r[k]["mean"] for k in r}), ("wall, min", {k: r[k]["min"] for k in r}), ("CPU", cpu)]
for label, v in rows:
    s, e, z = v["shim"], v["empty-preload"], v["none"]
    print(f"- by {label}: shim / empty preload **{s/e:.3f}x** (floor <= 1.10x), shim / no preload **{s/z:.3f}x** (floor <= 1.25x), {(s-e)/n*1e6:+.1f} µs per launch over the empty preload; the 100,000-rule policy costs {(s-v['shim-empty-policy'])/n*1e6:+.1f} µs per launch over an empty policy")
PY

echo
echo "## Resident memory of a sleeping process"
echo
# Prints "VmRSS RssAnon RssFile" (KiB) of a process started with the given command.
rss() {
    "$@" &
    local pid=$!
    sleep 0.5
    local kb
    kb=$(awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s ", $2}' "/proc/$pid/status")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$kb"
}
read -r plain plain_anon plain_file <<<"$(rss sleep 5)"
read -r empty empty_anon empty_file <<<"$(rss env LD_PRELOAD="$WORK/libempty.so" sleep 5)"
read -r shim shim_anon shim_file <<<"$(rss env "${GUARD_ENV[@]}" sleep 5)"
# The same with policy.bin on tmpfs (4 KiB pages), to separate the shim from the page cache.
mkdir -p /dev/shm/guard-bench-$$ && cp "$WORK/run/policy.bin" "$WORK/run/policy.json" /dev/shm/guard-bench-$$/
read -r tmpfs tmpfs_anon tmpfs_file <<<"$(rss env "${GUARD_ENV[@]}" GUARD_POLICY=/dev/shm/guard-bench-$$/policy.json sleep 5)"
rm -rf /dev/shm/guard-bench-$$
echo "| run | VmRSS | RssAnon (private) | RssFile (shared page cache + code) |"
echo "|---|---|---|---|"
echo "| sleep | $plain KiB | $plain_anon KiB | $plain_file KiB |"
echo "| sleep, empty preload | $empty KiB | $empty_anon KiB | $empty_file KiB |"
echo "| sleep, shim (policy.bin on $(stat -f -c %T "$WORK/run")) | $shim KiB | $shim_anon KiB | $shim_file KiB |"
echo "| sleep, shim (policy.bin on tmpfs) | $tmpfs KiB | $tmpfs_anon KiB | $tmpfs_file KiB |"
echo
echo "added by the shim over the empty preload: VmRSS $((shim - empty)) KiB (policy on tmpfs: $((tmpfs - empty)) KiB), private memory $((shim_anon - empty_anon)) KiB (floor < 1024 KiB)"
