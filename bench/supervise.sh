#!/usr/bin/env bash
# Launch cost of guard-exec's seccomp supervisor: N x fork+execve of /bin/true from a C
# driver built static (the shim cannot see its launches: only the supervisor decides them)
# and dynamic (the shim decides first, the supervisor again), each started by guard-exec
# with the supervisor (default) and without it (GUARD_SUPERVISE=off), and the static driver
# without guard-exec at all. The policy is bench/preload/typical-policy.toml.
#
# As a user runs it: unpinned, the variants interleaved in rounds (load hits all alike), wall
# clock and CPU (user+sys of guard-exec, its threads and every process below it) per launch,
# median over the rounds. guard-exec's own start (policy wait, fork) is in the figures,
# spread over the N launches.
#
# Usage: bench/supervise.sh [LAUNCHES] [ROUNDS]   (defaults 2000 and 7; SKIP_DIST=1 reuses
# the dist layout)
source "$(dirname "$0")/preload/common.sh"
N="${1:-2000}"
ROUNDS="${2:-7}"

publish bench/preload/typical-policy.toml "$WORK/typical" 15396
# The typical policy denies programs under /tmp (where $WORK is): the drivers run from the
# target directory instead.
DIR="$CARGO_TARGET_DIR/bench-supervise"
mkdir -p "$DIR"
gcc -O2 -o "$DIR/spawn_dynamic" bench/preload/spawn_loop.c
gcc -O2 -static -o "$DIR/spawn_static" bench/preload/spawn_loop.c

echo "## Launch under the supervisor: $N x fork+execve /bin/true, $ROUNDS interleaved rounds (unpinned)"
echo
python3 - "$N" "$ROUNDS" "$DIST/bin/guard-exec" "$SHIM" "$WORK/typical" "$DIR" <<'PY'
import os, resource, statistics, subprocess, sys, time
n, rounds, guard_exec, shim, run, bindir = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:]
env = dict(os.environ, GUARD_POLICY=f"{run}/policy.json", GUARD_EVENTS=f"{run}/events.sock",
           GUARD_CONTAINER="bench", GUARD_FAIL="closed", GUARD_PRELOAD_LIB=shim)
env.pop("LD_PRELOAD", None)
static, dynamic = f"{bindir}/spawn_static", f"{bindir}/spawn_dynamic"
variants = [
    ("static, no guard-exec", [static, str(n)], {}),
    ("static, guard-exec, GUARD_SUPERVISE=off", [guard_exec, static, str(n)], {"GUARD_SUPERVISE": "off"}),
    ("static, guard-exec + supervisor", [guard_exec, static, str(n)], {}),
    ("dynamic (shim), guard-exec, GUARD_SUPERVISE=off", [guard_exec, dynamic, str(n)], {"GUARD_SUPERVISE": "off"}),
    ("dynamic (shim), guard-exec + supervisor", [guard_exec, dynamic, str(n)], {}),
]
wall = {v[0]: [] for v in variants}
cpu = {v[0]: [] for v in variants}
for _ in range(rounds):
    for name, argv, extra in variants:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(argv, env=dict(env, **extra), check=True, stderr=subprocess.DEVNULL)
        dt = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        wall[name].append(dt / n * 1e6)
        cpu[name].append(used / n * 1e6)
print("| variant | wall µs/launch | CPU µs/launch |")
print("|---|---:|---:|")
med = {}
for name, _, _ in variants:
    med[name] = (statistics.median(wall[name]), statistics.median(cpu[name]))
    print(f"| {name} | {med[name][0]:.1f} | {med[name][1]:.1f} |")
print()
for kind in ("static", "dynamic (shim)"):
    off = med[f"{kind}, guard-exec, GUARD_SUPERVISE=off"]
    on = med[f"{kind}, guard-exec + supervisor"]
    print(f"- {kind}: the supervisor adds {on[0] - off[0]:+.1f} µs wall, {on[1] - off[1]:+.1f} µs CPU per launch "
          f"(x{on[0] / off[0]:.2f} wall)")
PY
