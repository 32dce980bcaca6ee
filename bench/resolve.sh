#!/usr/bin/env bash
# Name-resolution cost of the preload shim: 100,000 getaddrinfo("localhost") calls (answered
# from /etc/hosts, so the hook's own cost is not hidden behind the network) without and with
# the shim (100,000-rule policy), alternating runs, 7 each. A lookup from /etc/hosts costs tens
# of µs with a few µs of noise between runs, so both the median and the minimum are reported.
#
# Usage: bench/resolve.sh [CALLS]   (default 100000; SKIP_DIST=1 reuses the dist layout)
source "$(dirname "$0")/preload/common.sh"
N="${1:-100000}"
plain=(); shim=()
for _ in 1 2 3 4 5 6 7; do
    plain+=("$("$WORK/resolve_loop" "$N" localhost)")
    shim+=("$(env "${GUARD_ENV[@]}" "$WORK/resolve_loop" "$N" localhost)")
done
median() { printf '%s\n' "$@" | sort -n | sed -n 4p; }
minimum() { printf '%s\n' "$@" | sort -n | sed -n 1p; }
p=$(median "${plain[@]}"); s=$(median "${shim[@]}")
pm=$(minimum "${plain[@]}"); sm=$(minimum "${shim[@]}")
echo "## Name resolution: $N x getaddrinfo(\"localhost\") (policy.bin: $POLICY_BYTES bytes)"
echo
echo "| run | per call, median of 7 | minimum | all runs (ns) |"
echo "|---|---|---|---|"
echo "| libc | $p ns | $pm ns | ${plain[*]} |"
echo "| libc + shim | $s ns | $sm ns | ${shim[*]} |"
echo
echo "added per call: **$((s - p)) ns** by the medians, **$((sm - pm)) ns** by the minimums (floor <= 2000 ns)"
