#!/usr/bin/env bash
# bench/dns.sh: dns-guard against the resolvers a user would pick instead (dnsmasq, unbound,
# dnsdist when installed), all forwarding to the SAME fast local upstream, in one run.
#
#   bench/dns.sh [--seconds N] [--rounds N] [--out FILE]
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
# Setup on the 2-core machine: dnsperf alone on CPU 0; the server under test and the shared
# upstream (an unbound answering every *.bench.test name from local data) on CPU 1. Every
# server under test therefore has one core (dns-guard's runtime sizes itself to its CPU
# affinity: one worker), and a forwarded query costs the upstream's share on the same core
# for all of them alike.
set -euo pipefail

SECONDS_RUN=4
ROUNDS=3
OUT=""
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECONDS_RUN=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds N] [--rounds N] [--out FILE]" >&2; exit 2 ;;
  esac
done

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
}
trap cleanup EXIT

UP_PORT=5310; SUT_PORT=5311; ADMIN_PORT=5312
CPU_SUT=1; CPU_LOAD=0; CPU_UP=${CPU_UP:-1}

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
taskset -c $CPU_UP unbound -d -c "$W/upstream.conf" 2>"$W/upstream.err" &
PIDS+=($!)
sleep 0.5

SUT_PID=""
start_sut() { # name
  case $1 in
    guard-nocache|guard)
      local cache=""
      [ "$1" = guard-nocache ] && cache="--no-cache"
      taskset -c $CPU_SUT "$GUARD" serve --policy "$W/policy.toml" --listen 127.0.0.1:$SUT_PORT \
        --upstream 127.0.0.1:$UP_PORT --admin 127.0.0.1:$ADMIN_PORT $cache >/dev/null 2>"$W/guard.err" &
      ;;
    dnsmasq-nocache|dnsmasq)
      local cache="--cache-size=0"
      [ "$1" = dnsmasq ] && cache="--cache-size=10000"
      taskset -c $CPU_SUT dnsmasq --no-resolv --no-hosts --keep-in-foreground --bind-interfaces \
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
      taskset -c $CPU_SUT unbound -d -c "$W/unbound.conf" 2>"$W/unbound.err" &
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
      taskset -c $CPU_SUT dnsdist --supervised --disable-syslog -C "$W/dnsdist.conf" >"$W/dnsdist.err" 2>&1 &
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
  taskset -c $CPU_LOAD dnsperf -s 127.0.0.1 -p $SUT_PORT -d "$file" -n 1 -c 4 -q 100 >/dev/null 2>&1 || true
  local t0 t1 qps completed lost cpu_us
  t0=$(cpu_ticks "$SUT_PID")
  taskset -c $CPU_LOAD dnsperf -s 127.0.0.1 -p $SUT_PORT -d "$file" -l "$SECONDS_RUN" -c 8 \
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

latency() { # mix server file: 10,000 qps for 4 s, every query's latency (dnsperf -v)
  local mix=$1 server=$2 file=$3
  skip "$mix" && return 0
  start_sut "$server"
  taskset -c $CPU_LOAD dnsperf -s 127.0.0.1 -p $SUT_PORT -d "$file" -n 1 -c 4 -q 100 >/dev/null 2>&1 || true
  taskset -c $CPU_LOAD dnsperf -s 127.0.0.1 -p $SUT_PORT -d "$file" -l 4 -c 4 -Q 10000 -t 2 -v \
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

echo "dns-guard: $GUARD"
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
echo -e "mix\tserver\tbest_qps\tcpu_us_per_query\tlost\tp50_ms\tp99_ms\tp999_ms\tlost_at_10k" >"$RESULTS"
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
echo "forwarded, cache off: dns-guard / dnsmasq = $F   (floor 1.5)"
echo "blocked:              dns-guard / dnsmasq = $B   (floor 1.2)"
echo "cached:               dns-guard / unbound = $C   (floor 1.0)"
LOST10K=$(awk -F'\t' 'NR>1 && $2 ~ /^guard/ {s+=$9} END{print s+0}' "$RESULTS")
echo "dns-guard queries lost at 10,000 qps (all mixes): $LOST10K   (floor 0)"
if [ -n "$OUT" ]; then cp "$RESULTS" "$OUT"; fi
FAIL=0
awk -v f="$F" -v b="$B" -v c="$C" 'BEGIN{ exit !(f>=1.5 && b>=1.2 && c>=1.0) }' || FAIL=1
[ "$LOST10K" = 0 ] || FAIL=1
if [ $FAIL = 0 ]; then echo "all floors met"; else echo "FLOOR MISSED"; fi
exit $FAIL
