#!/usr/bin/env bash
# bench/dns.sh: dns-guard against the resolvers a user would pick instead (dnsmasq, unbound,
# dnsdist when installed), all forwarding to the SAME fast local upstream, in one run.
#
#   bench/dns.sh [--mode unpinned|pinned|quota] [--seconds N] [--rounds N] [--out FILE]
#
# Modes (how the user runs it first, the lab setting second):
#   unpinned  (default, the headline) nothing pinned: the servers, the shared upstream and
#             dnsperf share both cores, as a sidecar shares a task's CPUs with its app.
#   pinned    dnsperf alone on CPU 0; the server under test and the upstream on CPU 1.
#   quota     a 0.25-vCPU Fargate task: the server under test in a cgroup with a CFS quota of
#             25000/100000 (v2 cpu.max or v1 cpu.cfs_quota_us), dnsperf and the upstream
#             outside it, unpinned. Latency is measured at 2,000 qps instead of 10,000.
#
# GUARD_EXTRA adds arguments to dns-guard serve (e.g. "--threads 2" to compare runtimes).
#
# Mixes (same query files for every server):
#   forwarded  10,000 distinct allowed names, caches off (guard --no-cache, dnsmasq
#              --cache-size=0, dnsdist without a packet cache)
#   blocked    1,000 names on the deny list (guard policy deny, dnsmasq --address=/name/)
#   cached     1,000 allowed names, warmed first (guard cache, unbound cache, dnsmasq cache,
#              dnsdist packet cache)
# For each: QPS at saturation (dnsperf -c 8 -q 100, 4 s, best of 3 interleaved rounds), CPU
# per query (utime+stime of the server from /proc/PID/stat over that run, divided by the
# queries answered), lost queries, and latency percentiles from a separate run rate-limited
# to 10,000 qps (dnsperf -Q 10000 -v), which must lose nothing.
#
# The shared upstream is an unbound answering every *.bench.test name from local data. In
# pinned mode every server under test has one core (dns-guard's runtime sizes itself to its
# CPU affinity: one thread), and a forwarded query costs the upstream's share on the same
# core for all of them alike; in quota mode it sizes itself from the quota.
set -euo pipefail

SECONDS_RUN=4
ROUNDS=3
OUT=""
MODE=unpinned
while [ $# -gt 0 ]; do
  case $1 in
    --mode) MODE=$2; shift 2 ;;
    --seconds) SECONDS_RUN=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: $0 [--mode unpinned|pinned|quota] [--seconds N] [--rounds N] [--out FILE]" >&2; exit 2 ;;
  esac
done
case $MODE in unpinned|pinned|quota) ;; *) echo "bench/dns.sh: unknown --mode $MODE" >&2; exit 2 ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GUARD=${DNS_GUARD:-}
if [ -z "$GUARD" ]; then
  (cd "$ROOT" && cargo build --release -q -p dns-guard)
  GUARD="${CARGO_TARGET_DIR:-$ROOT/target}/release/dns-guard"
fi
for tool in dnsperf dnsmasq unbound taskset; do
  command -v $tool >/dev/null || { echo "bench/dns.sh: $tool is not installed" >&2; exit 2; }
done
HAVE_DNSDIST=0
command -v dnsdist >/dev/null && HAVE_DNSDIST=1

W=$(mktemp -d /tmp/dns-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
  if [ -n "$CGROUP" ]; then rmdir "$CGROUP" 2>/dev/null || true; fi
}
trap cleanup EXIT

UP_PORT=5310; SUT_PORT=5311; ADMIN_PORT=5312
CPU_SUT=1; CPU_LOAD=0; CPU_UP=${CPU_UP:-1}
LAT_QPS=10000
[ "$MODE" = quota ] && LAT_QPS=2000

# The cgroup of quota mode.
CGROUP=""
if [ "$MODE" = quota ]; then
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
    CGROUP=/sys/fs/cgroup/dns-bench-$$
    mkdir -p "$CGROUP" && echo "25000 100000" >"$CGROUP/cpu.max"
  else
    CGROUP=/sys/fs/cgroup/cpu/dns-bench-$$
    mkdir -p "$CGROUP" && echo 100000 >"$CGROUP/cpu.cfs_period_us" && echo 25000 >"$CGROUP/cpu.cfs_quota_us"
  fi
fi

# Prefixes. on_sut and on_upstream exec (they run in a background subshell, so $! is the
# program itself); on_load runs in the foreground.
on_sut() {
  case $MODE in
    pinned) exec on_sut "$@" ;;
    quota) echo $BASHPID >"$CGROUP/cgroup.procs"; exec "$@" ;;
    *) exec "$@" ;;
  esac
}
on_upstream() { if [ "$MODE" = pinned ]; then exec taskset -c $CPU_UP "$@"; else exec "$@"; fi; }
on_load() { if [ "$MODE" = pinned ]; then taskset -c $CPU_LOAD "$@"; else "$@"; fi; }

# Query files.
for i in $(seq 0 9999); do echo "n$i.bench.test A"; done >"$W/forwarded.txt"
for i in $(seq 0 999); do echo "c$i.bench.test A"; done >"$W/cached.txt"
for i in $(seq 0 999); do echo "b$i.blocked.test A"; done >"$W/blocked.txt"

# The deny list, in each server's syntax.
{
  echo '[dns]'
  echo 'default = "deny"'
  echo 'answer = "nxdomain"'
  echo 'allow = ["*.bench.test"]'
  printf 'deny = ['
  for i in $(seq 0 999); do printf '"b%d.blocked.test",' "$i"; done
  echo ']'
} >"$W/policy.toml"
for i in $(seq 0 999); do echo "address=/b$i.blocked.test/"; done >"$W/dnsmasq-deny.conf"

# The server: lines both unbound instances share (listening on port $1, foreground,
# single-threaded, no privilege drop, open to loopback).
unbound_server() {
  cat <<EOF
server:
  interface: 127.0.0.1
  port: $1
  num-threads: 1
  do-daemonize: no
  use-syslog: no
  chroot: ""
  username: ""
  pidfile: ""
  directory: "$W"
  access-control: 127.0.0.0/8 allow
EOF
}

# The shared upstream: unbound answering every *.bench.test name from local data, with
# large socket buffers so that bursts from the forwarders are not dropped by the kernel.
{ unbound_server $UP_PORT; cat <<EOF
  so-rcvbuf: 8m
  so-sndbuf: 8m
  local-zone: "bench.test." redirect
  local-data: "bench.test. 300 IN A 10.0.0.1"
EOF
} >"$W/upstream.conf"
on_upstream unbound -d -c "$W/upstream.conf" 2>"$W/upstream.err" &
PIDS+=($!)
sleep 0.5

SUT_PID=""
start_sut() { # name
  case $1 in
    guard-nocache|guard)
      local cache=""
      [ "$1" = guard-nocache ] && cache="--no-cache"
      on_sut "$GUARD" serve --policy "$W/policy.toml" --listen 127.0.0.1:$SUT_PORT \
        --upstream 127.0.0.1:$UP_PORT --admin 127.0.0.1:$ADMIN_PORT $cache ${GUARD_EXTRA:-} >/dev/null 2>"$W/guard.err" &
      ;;
    dnsmasq-nocache|dnsmasq)
      local cache="--cache-size=0"
      [ "$1" = dnsmasq ] && cache="--cache-size=10000"
      on_sut dnsmasq --no-resolv --no-hosts --keep-in-foreground --bind-interfaces \
        --listen-address=127.0.0.1 --port=$SUT_PORT --server=127.0.0.1#$UP_PORT $cache \
        --dns-forward-max=10000 --conf-file="$W/dnsmasq-deny.conf" --pid-file="$W/sut.pid" --user=root &
      ;;
    unbound)
      { unbound_server $SUT_PORT; cat <<EOF
  do-not-query-localhost: no
  msg-cache-size: 64m
  rrset-cache-size: 64m
  so-rcvbuf: 4m
  so-sndbuf: 4m
  local-zone: "test." nodefault
  domain-insecure: "test."
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@$UP_PORT
EOF
      } >"$W/unbound.conf"
      on_sut unbound -d -c "$W/unbound.conf" 2>"$W/unbound.err" &
      ;;
    dnsdist-nocache|dnsdist)
      {
        echo "setLocal('127.0.0.1:$SUT_PORT')"
        echo "newServer({address='127.0.0.1:$UP_PORT', checkName='bench.test.', checkInterval=3600})"
        echo "setSecurityPollSuffix('')"
        echo "setMaxUDPOutstanding(65535)"
        if [ "$1" = dnsdist ]; then
          echo "pc = newPacketCache(100000, {maxTTL=86400})"
          echo "getPool(''):setCache(pc)"
        fi
      } >"$W/dnsdist.conf"
      on_sut dnsdist --supervised --disable-syslog -C "$W/dnsdist.conf" >"$W/dnsdist.err" 2>&1 &
      ;;
  esac
  SUT_PID=$!
  PIDS+=($SUT_PID)
  for _ in $(seq 100); do
    dig @127.0.0.1 -p $SUT_PORT +tries=1 +timeout=1 ready.bench.test >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "bench/dns.sh: $1 did not start" >&2
  cat "$W"/*.err >&2 2>/dev/null || true
  exit 1
}

stop_sut() {
  kill "$SUT_PID" 2>/dev/null || true
  wait "$SUT_PID" 2>/dev/null || true
  sleep 0.3
}

cpu_ticks() { # pid -> utime+stime in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}

HZ=$(getconf CLK_TCK)
RAW="$W/raw.tsv"; LAT="$W/lat.tsv"; : >"$RAW"; : >"$LAT"

skip() { [ -n "${ONLY:-}" ] && [ "$ONLY" != "$1" ]; } # ONLY=blocked runs one mix (quick looks)

throughput() { # mix server file: one saturation run
  local mix=$1 server=$2 file=$3
  skip "$mix" && return 0
  start_sut "$server"
  # Warm-up: one pass over the names (fills caches for the cached mix).
  on_load dnsperf -s 127.0.0.1 -p $SUT_PORT -d "$file" -n 1 -c 4 -q 100 >/dev/null 2>&1 || true
  local t0 t1 qps completed lost cpu_us
  t0=$(cpu_ticks "$SUT_PID")
  on_load dnsperf -s 127.0.0.1 -p $SUT_PORT -d "$file" -l "$SECONDS_RUN" -c 8 \
    -q "${OUTSTANDING:-100}" -t 2 >"$W/run.txt" 2>&1 || true
  t1=$(cpu_ticks "$SUT_PID")
  qps=$(awk '/Queries per second/{print $4}' "$W/run.txt")
  completed=$(awk '/Queries completed/{print $3}' "$W/run.txt")
  lost=$(awk '/Queries lost/{print $3}' "$W/run.txt")
  cpu_us=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="${completed:-0}" \
    'BEGIN{ if (n>0) printf "%.2f", d*1e6/hz/n; else print "nan" }')
  echo -e "$mix\t$server\t${qps:-0}\t$cpu_us\t${lost:-0}" | tee -a "$RAW" >&2
  stop_sut
}

latency() { # mix server file: $LAT_QPS qps for 4 s, every query's latency (dnsperf -v)
  local mix=$1 server=$2 file=$3
  skip "$mix" && return 0
  start_sut "$server"
  on_load dnsperf -s 127.0.0.1 -p $SUT_PORT -d "$file" -n 1 -c 4 -q 100 >/dev/null 2>&1 || true
  on_load dnsperf -s 127.0.0.1 -p $SUT_PORT -d "$file" -l 4 -c 4 -Q "$LAT_QPS" -t 2 -v \
    >"$W/lat.txt" 2>&1 || true
  local lost10k pct
  lost10k=$(awk '/Queries lost/{print $3}' "$W/lat.txt")
  pct=$(awk '$1==">" {print $NF}' "$W/lat.txt" | sort -g | awk '
    { v[NR]=$1 }
    END { if (NR==0) { print "nan\tnan\tnan"; exit }
          i50=int(NR*0.5); i99=int(NR*0.99); i999=int(NR*0.999);
          if (i50<1) i50=1; if (i99<1) i99=1; if (i999<1) i999=1;
          printf "%.3f\t%.3f\t%.3f", v[i50]*1000, v[i99]*1000, v[i999]*1000 }')
  echo -e "$mix\t$server\t$pct\t${lost10k:-?}" >>"$LAT"
  stop_sut
}

echo "dns-guard: $GUARD (mode $MODE)"
echo "dnsperf $(dnsperf -h 2>&1 | sed -n 's/^Version //p' | head -1), $(dnsmasq --version | head -1 | cut -d' ' -f1-3), $(unbound -V | head -1)"
[ $HAVE_DNSDIST = 1 ] && dnsdist --version 2>/dev/null | head -1

PAIRS=("forwarded guard-nocache" "forwarded dnsmasq-nocache")
[ $HAVE_DNSDIST = 1 ] && PAIRS+=("forwarded dnsdist-nocache")
PAIRS+=("blocked guard" "blocked dnsmasq" "cached guard" "cached unbound" "cached dnsmasq")
[ $HAVE_DNSDIST = 1 ] && PAIRS+=("cached dnsdist")

# Rounds interleave the servers, so a burst of noise from other work on the machine hits
# them alike; each server's best round is its capacity.
for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS (mix, server, qps, cpu us/query, lost):" >&2
  for pair in "${PAIRS[@]}"; do
    set -- $pair
    throughput "$1" "$2" "$W/$1.txt"
  done
done
for pair in "${PAIRS[@]}"; do
  set -- $pair
  latency "$1" "$2" "$W/$1.txt"
done

RESULTS="$W/results.tsv"
echo -e "mix\tserver\tbest_qps\tcpu_us_per_query\tlost\tp50_ms\tp99_ms\tp999_ms\tlost_at_lat_qps" >"$RESULTS"
for pair in "${PAIRS[@]}"; do
  set -- $pair
  skip "$1" && continue
  best=$(awk -F'\t' -v m="$1" -v s="$2" '$1==m && $2==s && $3+0>=b {b=$3+0; c=$4} END{printf "%.0f\t%s", b, c}' "$RAW")
  lost=$(awk -F'\t' -v m="$1" -v s="$2" '$1==m && $2==s {l+=$5} END{print l+0}' "$RAW")
  lat=$(awk -F'\t' -v m="$1" -v s="$2" '$1==m && $2==s {print $3"\t"$4"\t"$5"\t"$6}' "$LAT")
  echo -e "$1\t$2\t$best\t$lost\t$lat" >>"$RESULTS"
done
echo
column -t -s$'\t' "$RESULTS"

ratio() { # mix server peer
  awk -F'\t' -v m="$1" -v a="$2" -v b="$3" '
    $1==m && $2==a {x=$3} $1==m && $2==b {y=$3}
    END { if (y>0) printf "%.2f", x/y; else print "nan" }' "$RESULTS"
}
echo
echo "Ratios (same run):"
F=$(ratio forwarded guard-nocache dnsmasq-nocache)
B=$(ratio blocked guard dnsmasq)
C=$(ratio cached guard unbound)
cpu_of() { awk -F'\t' -v m="$1" -v a="$2" '$1==m && $2==a {print $4}' "$RESULTS"; }
p99_of() { awk -F'\t' -v m="$1" -v a="$2" '$1==m && $2==a {print $7}' "$RESULTS"; }
FC=$(cpu_of forwarded guard-nocache); BC=$(cpu_of blocked guard)
if [ "$MODE" = quota ]; then
  FF=1.5; FB=1.5; FCPU=1e9; BCPU=1e9
else
  FF=2.0; FB=1.5; FCPU=10; BCPU=5
fi
echo "forwarded, cache off: dns-guard / dnsmasq = $F   (floor $FF), dns-guard CPU $FC us/query"
echo "blocked:              dns-guard / dnsmasq = $B   (floor $FB), dns-guard CPU $BC us/query"
echo "cached:               dns-guard / unbound = $C   (floor 1.0)"
LOST10K=$(awk -F'\t' 'NR>1 && $2 ~ /^guard/ {s+=$9} END{print s+0}' "$RESULTS")
echo "dns-guard queries lost at $LAT_QPS qps (all mixes): $LOST10K   (floor 0)"
FAIL=0
if [ "$MODE" = quota ]; then
  P99=$(for m in forwarded blocked cached; do skip $m || p99_of $m $( [ $m = forwarded ] && echo guard-nocache || echo guard); done | sort -g | tail -1)
  echo "dns-guard worst p99 at $LAT_QPS qps under the quota: ${P99:-nan} ms   (floor 5 ms)"
  awk -v p="${P99:-nan}" 'BEGIN{ exit !(p+0 <= 5) }' || FAIL=1
else
  echo "CPU floors: forwarded <= $FCPU us, blocked <= $BCPU us"
  awk -v f="${FC:-nan}" -v b="${BC:-nan}" -v x=$FCPU -v y=$BCPU 'BEGIN{ exit !(f+0<=x && b+0<=y) }' || FAIL=1
fi
if [ -n "$OUT" ]; then cp "$RESULTS" "$OUT"; fi
awk -v f="$F" -v b="$B" -v c="$C" -v ff=$FF -v fb=$FB 'BEGIN{ exit !(f>=ff && b>=fb && c>=1.0) }' || FAIL=1
[ "$LOST10K" = 0 ] || FAIL=1
if [ $FAIL = 0 ]; then echo "all floors met"; else echo "FLOOR MISSED"; fi
exit $FAIL
