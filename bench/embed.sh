#!/usr/bin/env bash
# guard-embed benchmark: time to rewrite a task definition, against the jq pipeline a user
# would write instead (prefix entryPoint, append the GUARD_* variables, volumesFrom, dependsOn
# and the sidecar; no checks, no image configs, no CloudFormation, no idempotence), on the
# same inputs, in one run. guard-embed does more work per file; the ratio shows what it costs.
#
# Usage: bench/embed.sh        (needs hyperfine and jq)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cargo build --release -q -p guard-embed
EMBED="$CARGO_TARGET_DIR/release/guard-embed"
IMAGE=public.ecr.aws/taskguard/sidecar:0.1.0
CORPUS="${GUARD_CORPUS:-$PWD/../shared/corpus/task-definitions}"

cat >"$WORK/embed.jq" <<'JQ'
.containerDefinitions |= (map(
  if ((.entryPoint // []) | length) > 0 then
    .entryPoint = ["/guard/bin/guard-exec", "--"] + .entryPoint
    | .environment = ((.environment // []) + [
        {name: "GUARD_CONTAINER", value: .name},
        {name: "GUARD_EVENTS", value: "/guard/run/events.sock"},
        {name: "GUARD_POLICY", value: "/guard/run/policy.json"}])
    | .volumesFrom = ((.volumesFrom // []) + [{sourceContainer: "taskguard", readOnly: true}])
    | .dependsOn = ((.dependsOn // []) + [{containerName: "taskguard", condition: "HEALTHY"}])
  else . end)
  + [{name: "taskguard", image: $image, essential: true,
      entryPoint: ["/guard/bin/dns-guard", "serve", "--run-dir", "/guard/run", "--policy", "/guard/policy.toml"],
      healthCheck: {command: ["CMD", "/guard/bin/dns-guard", "health"], interval: 5, timeout: 2, retries: 3, startPeriod: 10}}])
JQ

# A large task definition: nine containers with 300 variables each (about 250 KB).
python3 - "$WORK/large.json" <<'PY'
import json, sys
containers = [{
    "name": f"app{i}", "image": f"example/app{i}:1", "entryPoint": ["/usr/bin/tini", "--"],
    "command": ["/srv/app", "--worker", str(i)], "memory": 256,
    "environment": [{"name": f"VAR_{i}_{j}", "value": f"value {j} yes on 2010-09-09"} for j in range(300)],
    "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/large", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": f"app{i}"}},
} for i in range(9)]
json.dump({"family": "large", "containerDefinitions": containers}, open(sys.argv[1], "w"), indent=2)
PY
cp "$CORPUS/docs-fargate-webserver.json" "$WORK/small.json"

for input in small large; do
    echo "### $input.json ($(wc -c <"$WORK/$input.json") bytes)"
    hyperfine -N --warmup 20 --min-runs 200 --export-json "$WORK/$input.json.result" \
        -n guard-embed "$EMBED embed $WORK/$input.json --sidecar-image $IMAGE -o $WORK/out-embed.json" \
        -n jq "jq --arg image $IMAGE -f $WORK/embed.jq $WORK/$input.json" >/dev/null 2>&1
    # Medians: the 2-core machine is shared, means are pulled by outliers.
    python3 - "$WORK/$input.json.result" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
ours = results["guard-embed"]["median"]
print("| Command | Median [ms] | Min [ms] | Median ratio jq / guard-embed |")
print("|:---|---:|---:|---:|")
for name, r in results.items():
    print(f"| `{name}` | {r['median'] * 1000:.2f} | {r['min'] * 1000:.2f} | {r['median'] / ours:.2f} |")
PY
    echo
done
