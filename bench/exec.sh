#!/usr/bin/env bash
# Process launch cost of the preload shim: fork+execve of /bin/true from a C driver with no
# preload, with an empty preloaded library (what any LD_PRELOAD costs: the loader's own work),
# with the shim and a typical policy (bench/preload/typical-policy.toml, 60 rules), and with
# the shim and the typical policy plus a [net] section (the connect hooks armed: the launch
# floors must hold with it), with the shim and a 100,000-rule policy; then the resident
# memory the shim adds.
#
# The variants run in interleaved rounds (bench/preload/interleave.py): each round runs every
# variant once, so load on the machine hits all of them alike, and each figure is the median
# over the rounds of wall-clock and CPU time (user+sys of the driver and its children) per
# launch. Three tables: unpinned (the headline), under a 0.25-CPU quota, pinned to one CPU.
#
# Usage: bench/exec.sh [LAUNCHES] [ROUNDS]   (defaults 2000 and 9; SKIP_DIST=1 reuses the
# dist layout; GUARD_DIST=<dir> picks it)
source "$(dirname "$0")/preload/common.sh"
N="${1:-2000}"
ROUNDS="${2:-9}"

publish bench/preload/typical-policy.toml "$WORK/typical" 15397
# The typical policy with [net] as examples/policy.toml has it: default deny, the ECS endpoint.
{ cat bench/preload/typical-policy.toml
  printf '\n[net]\ndefault = "deny"\nallow = ["169.254.170.2:80", "10.0.0.0/16"]\ndeny = ["169.254.169.254"]\n'
} >"$WORK/typical-net.toml"
publish "$WORK/typical-net.toml" "$WORK/typical-net" 15398
# The typical policy denies programs under /tmp (where $WORK is): the driver runs from the
# target directory instead.
DRIVER="$CARGO_TARGET_DIR/bench-preload/spawn_loop"
mkdir -p "$(dirname "$DRIVER")" && cp "$WORK/spawn_loop" "$DRIVER"
TYPICAL_ENV=(LD_PRELOAD="$SHIM" GUARD_POLICY="$WORK/typical/policy.json"
    GUARD_EVENTS="$WORK/typical/events.sock" GUARD_CONTAINER=bench GUARD_FAIL=closed)
NET_ENV=(LD_PRELOAD="$SHIM" GUARD_POLICY="$WORK/typical-net/policy.json"
    GUARD_EVENTS="$WORK/typical-net/events.sock" GUARD_CONTAINER=bench GUARD_FAIL=closed)
# interleave.py takes a variant's environment as KEY=VALUE,KEY=VALUE.
joined() { local IFS=,; echo "$*"; }

# A 0.25-vCPU quota for the quota table (cgroup v2 cpu.max, else v1 cpu.cfs_quota_us).
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
    BENCH_CGROUP=/sys/fs/cgroup/exec-bench-$$
    mkdir -p "$BENCH_CGROUP" && echo "25000 100000" >"$BENCH_CGROUP/cpu.max"
else
    BENCH_CGROUP=/sys/fs/cgroup/cpu/exec-bench-$$
    mkdir -p "$BENCH_CGROUP" && echo 100000 >"$BENCH_CGROUP/cpu.cfs_period_us" \
        && echo 25000 >"$BENCH_CGROUP/cpu.cfs_quota_us"
fi
export BENCH_CGROUP

launch_table() { # mode title
    echo "### $2"
    echo
    BENCH_MODE=$1 python3 bench/preload/interleave.py "$N" "$ROUNDS" "$DRIVER" \
        none=- \
        empty-preload="LD_PRELOAD=$WORK/libempty.so" \
        shim="$(joined "${TYPICAL_ENV[@]}")" \
        shim-net="$(joined "${NET_ENV[@]}")" \
        shim-100k="$(joined "${GUARD_ENV[@]}")" >"$WORK/exec-$1.json"
    python3 - "$WORK/exec-$1.json" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
mode = sys.argv[2]
labels = {
    "none": "no preload",
    "empty-preload": "empty preload",
    "shim": "shim, typical policy (60 rules)",
    "shim-net": "shim, typical policy + [net]",
    "shim-100k": "shim, 100,000-rule policy",
}
print("| run | wall per launch, median | CPU per launch, median (q1–q3) |")
print("|---|---|---|")
for k, label in labels.items():
    x = r[k]
    print(f"| {label} | {x['wall_us']:.0f} µs | {x['cpu_us']:.0f} µs ({x['cpu_q1']:.0f}–{x['cpu_q3']:.0f}) |")
print()
ew, ec = r["empty-preload"]["wall_us"], r["empty-preload"]["cpu_us"]
for k in ("shim", "shim-net", "shim-100k"):
    w, c = r[k]["wall_us"], r[k]["cpu_us"]
    print(f"- {labels[k]}: shim / empty preload **{w/ew:.3f}x wall clock** (floor <= 1.10x), "
          f"{c/ec:.3f}x CPU; {w-ew:+.1f} µs wall per launch over the empty preload")
if mode == "pinned":
    z = r["none"]["cpu_us"]
    for k in ("shim", "shim-net"):
        print(f"- {labels[k]} / no preload, CPU: **{r[k]['cpu_us']/z:.3f}x** (floor <= 1.25x)")
print(f"- the 100,000-rule policy costs {r['shim-100k']['wall_us'] - r['shim']['wall_us']:+.1f} µs wall per launch "
      f"over the typical one (budget 50 µs)")
print()
PY
}

echo "## Process launch: $N x fork+execve /bin/true, $ROUNDS interleaved rounds"
echo
echo "policy.bin: typical $(stat -c %s "$WORK/typical/policy.bin") bytes, 100,000 rules $POLICY_BYTES bytes"
echo
launch_table unpinned "Unpinned (the headline: as a task runs it)"
launch_table quota "Under a 0.25-CPU quota (cgroup CFS quota 25000/100000)"
launch_table pinned "Pinned to one CPU (the lab figure)"
rmdir "$BENCH_CGROUP" 2>/dev/null || true

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
read -r typical typical_anon typical_file <<<"$(rss env "${TYPICAL_ENV[@]}" sleep 5)"
read -r shim shim_anon shim_file <<<"$(rss env "${GUARD_ENV[@]}" sleep 5)"
# The same with policy.bin on tmpfs (4 KiB pages), to separate the shim from the page cache.
mkdir -p /dev/shm/guard-bench-$$ && cp "$WORK/run/policy.bin" "$WORK/run/policy.json" /dev/shm/guard-bench-$$/
read -r tmpfs tmpfs_anon tmpfs_file <<<"$(rss env "${GUARD_ENV[@]}" GUARD_POLICY=/dev/shm/guard-bench-$$/policy.json sleep 5)"
rm -rf /dev/shm/guard-bench-$$
echo "| run | VmRSS | RssAnon (private) | RssFile (shared page cache + code) |"
echo "|---|---|---|---|"
echo "| sleep | $plain KiB | $plain_anon KiB | $plain_file KiB |"
echo "| sleep, empty preload | $empty KiB | $empty_anon KiB | $empty_file KiB |"
echo "| sleep, shim, typical policy | $typical KiB | $typical_anon KiB | $typical_file KiB |"
echo "| sleep, shim, 100,000 rules (policy.bin on $(stat -f -c %T "$WORK/run")) | $shim KiB | $shim_anon KiB | $shim_file KiB |"
echo "| sleep, shim, 100,000 rules (policy.bin on tmpfs) | $tmpfs KiB | $tmpfs_anon KiB | $tmpfs_file KiB |"
echo
echo "added by the shim over the empty preload: typical policy VmRSS $((typical - empty)) KiB (private $((typical_anon - empty_anon)) KiB); 100,000 rules VmRSS $((shim - empty)) KiB (on tmpfs $((tmpfs - empty)) KiB), private $((shim_anon - empty_anon)) KiB (floor < 1024 KiB)"
