#!/usr/bin/env python3
"""Runs fork+exec loops of several variants in interleaved rounds and reports medians.

Usage: interleave.py LAUNCHES ROUNDS DRIVER NAME=ENV[,ENV...] ...   (ENV is KEY=VALUE; "-" for
none). Each round runs every variant once, in turn, so a change in machine load hits all of
them alike; the figure per variant is the median over the rounds of CPU time (user + sys of
the driver and all its children) per launch, and of wall-clock time per launch.

BENCH_MODE picks how it runs: "unpinned" (default, as a task runs it: the scheduler places the
parent and each child where it likes), "pinned" (the process and its children on one CPU: no
migrations, the lab figure) or "quota" (the process joins the cgroup BENCH_CGROUP first, which
the caller gave a CFS quota: a 0.25-vCPU task).
"""
import json
import os
import statistics
import sys
import time


def main():
    launches, rounds, driver = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    variants = []
    for spec in sys.argv[4:]:
        name, _, env = spec.partition("=")
        extra = {}
        if env != "-":
            for kv in env.split(","):
                k, _, v = kv.partition("=")
                extra[k] = v
        variants.append((name, extra))
    mode = os.environ.get("BENCH_MODE", "unpinned")
    if mode == "pinned":
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
    elif mode == "quota":
        with open(os.path.join(os.environ["BENCH_CGROUP"], "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    elif mode != "unpinned":
        sys.exit(f"interleave.py: unknown BENCH_MODE {mode}")
    cpu = {name: [] for name, _ in variants}
    wall = {name: [] for name, _ in variants}
    for _ in range(rounds):
        for name, extra in variants:
            env = dict(os.environ)
            env.update(extra)
            start = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                os.execve(driver, [driver, str(launches)], env)
            _, status, usage = os.wait4(pid, 0)
            elapsed = time.perf_counter() - start
            if status != 0:
                sys.exit(f"{name}: driver failed (status {status})")
            cpu[name].append((usage.ru_utime + usage.ru_stime) / launches * 1e6)
            wall[name].append(elapsed / launches * 1e6)
    result = {}
    for name, _ in variants:
        c = sorted(cpu[name])
        result[name] = {
            "cpu_us": statistics.median(c),
            "cpu_q1": c[len(c) // 4],
            "cpu_q3": c[(3 * len(c)) // 4],
            "wall_us": statistics.median(wall[name]),
        }
    json.dump(result, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
