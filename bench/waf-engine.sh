#!/usr/bin/env bash
# guard-waf against libmodsecurity 3 (Debian's libmodsecurity3), in one run, on the same
# pre-parsed requests and the same CRS v4.28.0 at the same paranoia level:
#   - load time and resident memory with CRS loaded,
#   - per-request CPU and wall time: benign GET (5 params, 3 cookies), 2 KB JSON POST,
#     multipart upload, two attacks; JSON and multipart bodies from 1 KB to 128 KB,
#   - detection and false-positive rates on waf/tests/data's corpora.
# Both run unpinned, one request at a time in one thread, sharing the machine with the rest.
#
#   bench/waf-engine.sh [ITERATIONS] [PARANOIA]
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-200}
pl=${2:-1}
crs=${CRS_DIR:-$(cd .. && pwd)/shared/corpus/crs-v4.28.0}
[ -d "$crs/rules" ] || { echo "waf-engine.sh: CRS v4.28.0 not found at $crs (set CRS_DIR)" >&2; exit 1; }
out=${OUT_DIR:-target/waf-bench}
mkdir -p "$out"

command -v gcc >/dev/null || { echo "waf-engine.sh: gcc is needed for the libmodsecurity driver" >&2; exit 1; }
[ -e /usr/include/modsecurity/modsecurity.h ] ||
    { echo "waf-engine.sh: install libmodsecurity-dev (apt-get install libmodsecurity-dev)" >&2; exit 1; }
gcc -O2 -Wall -o "$out/modsec-driver" bench/waf/modsec-driver.c -lmodsecurity
cargo build --release -q -p guard-waf --example waf_bench
ours=target/release/examples/waf_bench

"$ours" dump "$out/requests.bin"

echo "== speed (CRS v4.28.0, PL$pl, $iters iterations per request; $(nproc) cores, shared)"
"$ours" bench "$crs" "$pl" "$out/requests.bin" "$iters" > "$out/ours.txt"
"$out/modsec-driver" "$crs" "$pl" bench "$out/requests.bin" "$iters" > "$out/modsec.txt"
python3 - "$out/ours.txt" "$out/modsec.txt" <<'EOF'
import sys
def read(p):
    meta, reqs = {}, {}
    for line in open(p):
        f = line.split()
        if f[0] == "req":
            reqs[(f[1], f[2])] = (float(f[4]), float(f[6]), f[8])
        elif len(f) == 2:
            meta[f[0]] = f[1]
    return meta, reqs
(om, o), (mm, m) = read(sys.argv[1]), read(sys.argv[2])
print(f"load: guard-waf {om['load_ms']} ms, libmodsecurity {mm['load_ms']} ms")
print(f"RSS with CRS loaded: guard-waf {int(om['rss_kb'])/1024:.1f} MB (+{int(om['rss_rules_kb'])/1024:.1f} MB for rules), "
      f"libmodsecurity {int(mm['rss_kb'])/1024:.1f} MB (+{int(mm['rss_rules_kb'])/1024:.1f} MB); "
      f"after the run {int(om['rss_end_kb'])/1024:.1f} / {int(mm['rss_end_kb'])/1024:.1f} MB")
print(f"{'request':24} {'ours CPU µs':>12} {'wall µs':>9} {'modsec CPU µs':>14} {'wall µs':>9} {'ratio':>7}  verdicts")
for k in o:
    if k not in m: continue
    oc, ow, os_ = o[k]; mc, mw, ms_ = m[k]
    ratio = mc / oc if oc > 0 else float("inf")
    print(f"{k[0]+' '+k[1]:24} {oc:12.1f} {ow:9.1f} {mc:14.1f} {mw:9.1f} {ratio:6.1f}x  {os_}/{ms_}")
EOF

echo "== detection and false positives (PL$pl, default threshold)"
"$ours" rates "$crs" "$pl" "$out/requests.bin" > "$out/ours-rates.txt"
"$out/modsec-driver" "$crs" "$pl" rates "$out/requests.bin" > "$out/modsec-rates.txt"
python3 - "$out/ours-rates.txt" "$out/modsec-rates.txt" <<'EOF'
import sys
from collections import defaultdict
def read(p):
    d = defaultdict(lambda: [0, 0])
    for line in open(p):
        c, pl, b = line.split()
        if c == "bench" or c.startswith("size-"): continue
        group = c.split(":")[0]
        for key in {c, group, group + "@" + pl}:
            d[key][0] += 1; d[key][1] += int(b)
    return d
o, m = read(sys.argv[1]), read(sys.argv[2])
print(f"{'set':28} {'n':>5} {'guard-waf blocked':>18} {'libmodsecurity blocked':>23}")
for k in sorted(o):
    n, ob = o[k]; mb = m[k][1]
    print(f"{k:28} {n:5} {ob:8} ({100*ob/n:5.1f}%) {mb:12} ({100*mb/n:5.1f}%)")
EOF
