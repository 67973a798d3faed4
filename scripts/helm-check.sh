#!/usr/bin/env bash
# helm-check: lint, render and strictly validate the chat Helm chart, offline.
#
#   bash scripts/helm-check.sh          (npm run helm:check)
#
# 1. Builds helm and kubeconform with `go install` into ${XDG_CACHE_HOME:-~/.cache}/chat-cluster/bin
#    (reused while the pinned versions do not change).
# 2. Builds the Kubernetes JSON schemas without GitHub: the PyPI package kubernetes-validate vendors
#    the kubernetes-json-schema files per Kubernetes minor; helm/tools/k8s_schemas.py turns its
#    v1.31.0 set into kubeconform's standalone-strict layout. The ServiceMonitor schema is generated
#    from the CRD YAML shipped in the prometheus-operator Go module (helm/tools/crd_schema.py).
#    Both are cached next to the binaries.
# 3. Checks that values.yaml, its `## @param` docs, values.schema.json and the README table agree.
# 4. `helm lint --strict` with the default values and every helm/chat/ci/*.yaml.
# 5. Renders the chart (default values and every ci file) for Kubernetes 1.31.0, validates every
#    manifest with `kubeconform -strict` against the offline schemas (no schema may be missing),
#    and runs helm/tools/check_render.py (routing contract, security contexts, probes, dashboard)
#    and helm/tools/check_observability.py (PrometheusRule = rules/chat-alerts.yaml, promtool, Fluent Bit).
# 6. The gateway rules: helm/chat/files/haproxy-routing.cfg must be what gateway/routing.ts renders
#    (the local gateway's source). When `haproxy` is installed: `haproxy -c` on every rendered
#    haproxy.cfg and on the local gateway's, and the same routing test against fake nodes on
#    127.0.0.1 for each of them (helm/tools/haproxy_routing_test.py).
# 7. Negative checks: the schema, the template guards and kubeconform must reject bad input.
# Exits non-zero on any failure.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHART="$ROOT/helm/chat"
TOOLS="$ROOT/helm/tools"

HELM_VERSION="v3.16.4"
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.8.0}" # latest release when this was written
K8S_VERSION="1.31.0"
KUBERNETES_VALIDATE_VERSION="1.37.0" # PyPI; ships v1.25.0 .. v1.37.0 schemas
PROMETHEUS_OPERATOR_VERSION="v0.85.0" # Go module; ships example/prometheus-operator-crd/*.yaml
NAMESPACE="chat"

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/chat-cluster"
BIN="$CACHE/bin"
SCHEMAS="$CACHE/schemas"
mkdir -p "$BIN" "$SCHEMAS" "$CACHE/downloads"

FAILURES=()
fail() { FAILURES+=("$1"); echo "FAIL: $1"; }
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1fs", e - s }'; }
step() { echo; echo "== $*"; }
T0="$(now)"

# ------------------------------------------------------------------------------------------------
step "tools (cache: $BIN)"
command -v go >/dev/null || { echo "go is required (to build helm and kubeconform)"; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required"; exit 1; }

go_install() { # name module version
  local name="$1" module="$2" version="$3" stamp="$BIN/.$1.version" t
  if [[ -x "$BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$module@$version" ]]; then
    echo "$name $version: cached"
    return 0
  fi
  t="$(now)"
  echo "$name $version: go install $module@$version ..."
  mkdir -p "$CACHE/logs"
  if (cd "$CACHE" && GOWORK=off GOFLAGS= GOBIN="$BIN" go install "$module@$version") >"$CACHE/logs/go-install-$name.log" 2>&1; then
    echo "$module@$version" >"$stamp"
    echo "$name $version: built in $(since "$t")"
  else
    tail -n 20 "$CACHE/logs/go-install-$name.log"
    echo "could not build $name (log: $CACHE/logs/go-install-$name.log)"; exit 1
  fi
}
go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
go_install kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
HELM="$BIN/helm"
KUBECONFORM="$BIN/kubeconform"

if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "PyYAML missing: installing it into $CACHE/python"
  python3 -m pip install --quiet --target "$CACHE/python" pyyaml || { echo "could not install PyYAML"; exit 1; }
fi
export PYTHONPATH="$CACHE/python${PYTHONPATH:+:$PYTHONPATH}"

# ------------------------------------------------------------------------------------------------
step "schemas (cache: $SCHEMAS)"
STAMP="k8s=$K8S_VERSION kubernetes-validate=$KUBERNETES_VALIDATE_VERSION prometheus-operator=$PROMETHEUS_OPERATOR_VERSION"
K8S_DIR="$SCHEMAS/k8s/v$K8S_VERSION-standalone-strict"
if [[ -f "$SCHEMAS/.stamp" && "$(cat "$SCHEMAS/.stamp")" == "$STAMP" && -d "$K8S_DIR" ]]; then
  echo "cached: $STAMP"
else
  t="$(now)"
  rm -rf "$SCHEMAS/k8s" "$SCHEMAS/crds" "$SCHEMAS/.stamp"
  WHEEL="$CACHE/downloads/kubernetes_validate-$KUBERNETES_VALIDATE_VERSION-py3-none-any.whl"
  if [[ ! -f "$WHEEL" ]]; then
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$CACHE/downloads" \
      "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" || { echo "pip download kubernetes-validate failed"; exit 1; }
  fi
  python3 "$TOOLS/k8s_schemas.py" "$WHEEL" "v$K8S_VERSION" "$SCHEMAS/k8s" || exit 1
  PO_DIR="$(cd "$CACHE" && GOWORK=off GOFLAGS= go mod download -json \
    "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')" || { echo "go mod download prometheus-operator failed"; exit 1; }
  python3 "$TOOLS/crd_schema.py" "$SCHEMAS/crds" "$K8S_DIR/deployment-apps-v1.json" \
    "$PO_DIR"/example/prometheus-operator-crd/monitoring.coreos.com_*.yaml || exit 1
  echo "$STAMP" >"$SCHEMAS/.stamp"
  echo "schemas generated in $(since "$t")"
fi
echo "$(find "$K8S_DIR" -name '*.json' | wc -l) Kubernetes v$K8S_VERSION kinds, $(find "$SCHEMAS/crds" -name '*.json' | wc -l) CRD kinds"
KC_ARGS=(-strict -summary -kubernetes-version "$K8S_VERSION"
  -schema-location "$SCHEMAS/k8s/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
  -schema-location "$SCHEMAS/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json")

# ------------------------------------------------------------------------------------------------
step "values documentation and schema"
python3 "$TOOLS/values_doc.py" "$CHART" || fail "values.yaml / @param / values.schema.json / README disagree"

CI_FILES=("$CHART"/ci/*.yaml)
release_of() { sed -n 's/^# helm-check: release=\([a-z0-9-]*\).*/\1/p' "$1" | head -n1; }

# ------------------------------------------------------------------------------------------------
step "helm lint --strict (kube $K8S_VERSION)"
for values in "" "${CI_FILES[@]}"; do
  label="${values:+ci/$(basename "$values")}"
  label="${label:-default values}"
  if out="$("$HELM" lint --strict --kube-version "$K8S_VERSION" --namespace "$NAMESPACE" "$CHART" ${values:+-f "$values"} 2>&1)"; then
    echo "lint ok: $label"
  else
    echo "$out"
    fail "helm lint --strict: $label"
  fi
done

# ------------------------------------------------------------------------------------------------
step "render + kubeconform -strict (Kubernetes $K8S_VERSION, offline schemas)"
OUT="${HELM_CHECK_OUT:-$(mktemp -d)}"
[[ -n "${HELM_CHECK_OUT:-}" ]] || trap 'rm -rf "$OUT"' EXIT
mkdir -p "$OUT"
RENDERS=()
for values in "" "${CI_FILES[@]}"; do
  if [[ -z "$values" ]]; then name="default"; release="chat"; else
    name="$(basename "$values" .yaml)"; release="$(release_of "$values")"; release="${release:-chat}"
  fi
  file="$OUT/$name.yaml"
  if ! "$HELM" template "$release" "$CHART" --namespace "$NAMESPACE" --kube-version "$K8S_VERSION" \
      ${values:+-f "$values"} >"$file" 2>"$OUT/$name.err"; then
    cat "$OUT/$name.err"
    fail "helm template: $name"
    continue
  fi
  RENDERS+=("$name")
  if summary="$("$KUBECONFORM" "${KC_ARGS[@]}" "$file" 2>&1)"; then
    echo "$name (release $release): ${summary##*Summary: }"
  else
    echo "$summary"
    fail "kubeconform: $name"
  fi
  python3 "$TOOLS/check_render.py" "$name" "$file" "$OUT/$name.haproxy.cfg" || fail "render checks: $name"
  python3 "$TOOLS/check_observability.py" "$name" "$file" "$CHART" || fail "alert rules / log shipper checks: $name"
done

# ------------------------------------------------------------------------------------------------
step "gateway rules: the chart's copy is gateway/routing.ts's"
LOCAL_GATEWAY=""
if (cd "$ROOT" && npm run build --silent) >"$OUT/build.log" 2>&1; then
  node "$ROOT/dist/gateway/cli.js" check-chart || fail "helm/chat/files/haproxy-routing.cfg differs from gateway/routing.ts"
  # The local gateway (npm start) for three nodes: run below through the same checks as the chart.
  node "$ROOT/dist/gateway/cli.js" local n1 n2 n3 >"$OUT/local-gateway.haproxy.cfg" && LOCAL_GATEWAY="local-gateway"
  # ... and with its per client address limits on (off by default: local clients share 127.0.0.1).
  node "$ROOT/dist/gateway/cli.js" local --client-limits n1 n2 n3 >"$OUT/local-gateway-limits.haproxy.cfg" &&
    LOCAL_GATEWAY="$LOCAL_GATEWAY local-gateway-limits"
else
  tail -n 20 "$OUT/build.log"
  fail "npm run build (needed to compare the chart's gateway rules with gateway/routing.ts)"
fi

# ------------------------------------------------------------------------------------------------
step "Redis settings reach the nodes and the flushers (single Redis by default, Redis Cluster in ci/redis-cluster-values)"
redis_env_check() { # render expectation: single | cluster
  python3 - "$1" "$2" <<'PY'
import sys, yaml
path, expect = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
config = next(d["data"] for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-config"))
errors = []
if expect == "single":
    if "CHAT_REDIS_CLUSTER_NODES" in config: errors.append("single Redis render sets CHAT_REDIS_CLUSTER_NODES")
    if config.get("CHAT_ACK_REPLICAS") != "0": errors.append(f"CHAT_ACK_REPLICAS is {config.get('CHAT_ACK_REPLICAS')!r}, expected '0'")
else:
    seeds = config.get("CHAT_REDIS_CLUSTER_NODES", "").split(",")
    if len(seeds) != 3 or not all(s.endswith(":6379") for s in seeds): errors.append(f"CHAT_REDIS_CLUSTER_NODES is {config.get('CHAT_REDIS_CLUSTER_NODES')!r}")
    if "CHAT_REDIS_URL" in config: errors.append("cluster render still sets CHAT_REDIS_URL")
    if config.get("CHAT_ACK_REPLICAS") != "1": errors.append(f"CHAT_ACK_REPLICAS is {config.get('CHAT_ACK_REPLICAS')!r}, expected '1'")
    if config.get("CHAT_REDIS_TLS") != "true" or config.get("CHAT_REDIS_TLS_CA_FILE") != "/etc/chat/redis-tls/ca.crt": errors.append("TLS settings missing from the config")
workloads = [d for d in docs if d["kind"] in ("StatefulSet", "Deployment") and d["metadata"]["name"].split("-")[-1] in ("node", "flusher")]
if len(workloads) != 2: errors.append(f"expected the node StatefulSet and the flusher Deployment, found {[d['metadata']['name'] for d in workloads]}")
for d in workloads:
    pod = d["spec"]["template"]["spec"]
    c = pod["containers"][0]
    ref = f"{d['kind']}/{d['metadata']['name']}"
    if not any(e.get("configMapRef", {}).get("name", "").endswith("-config") for e in c.get("envFrom", [])): errors.append(f"{ref}: no envFrom of the config")
    password = next((e for e in c.get("env", []) if e["name"] == "CHAT_REDIS_PASSWORD"), None)
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    if expect == "cluster":
        if not password or password["valueFrom"]["secretKeyRef"] != {"name": "redis-cluster", "key": "redis-password"}: errors.append(f"{ref}: CHAT_REDIS_PASSWORD not from Secret redis-cluster/redis-password")
        if mounts.get("redis-tls", {}).get("mountPath") != "/etc/chat/redis-tls" or volumes.get("redis-tls", {}).get("secret", {}).get("secretName") != "redis-cluster-crt": errors.append(f"{ref}: the CA Secret is not mounted at /etc/chat/redis-tls")
    elif password or "redis-tls" in mounts: errors.append(f"{ref}: Redis password or TLS mount without being asked for")
for e in errors: print("  " + e)
print(f"  {path.rsplit('/', 1)[-1]}: {expect} Redis settings " + ("WRONG" if errors else "ok"))
sys.exit(1 if errors else 0)
PY
}
[[ -f "$OUT/default.yaml" ]] && { redis_env_check "$OUT/default.yaml" single || fail "Redis settings: default"; }
if [[ -f "$OUT/redis-cluster-values.yaml" ]]; then
  redis_env_check "$OUT/redis-cluster-values.yaml" cluster || fail "Redis settings: redis-cluster-values"
else
  fail "no render of ci/redis-cluster-values.yaml"
fi

# ------------------------------------------------------------------------------------------------
step "HAProxy config (haproxy -c) and routing test on 127.0.0.1"
if command -v haproxy >/dev/null; then
  echo "$(haproxy -v | head -n1)"
  for name in "${RENDERS[@]}" $LOCAL_GATEWAY; do
    cfg="$OUT/$name.haproxy.cfg"
    [[ -f "$cfg" ]] || continue
    # Pods do not resolve outside a cluster: init-addr none keeps those servers in MAINT.
    if ! out="$(haproxy -c -f "$cfg" 2>&1)"; then
      echo "$out" | grep -v 'could not resolve address'
      fail "haproxy -c: $name"
      continue
    fi
    python3 "$TOOLS/haproxy_routing_test.py" "$name" "$cfg" 3 || fail "haproxy routing: $name"
  done
else
  echo "SKIPPED: haproxy is not installed (apt-get install haproxy), the rendered configs were not run"
fi

# ------------------------------------------------------------------------------------------------
step "negative checks (bad input must be rejected)"
expect_render_failure() { # description pattern helm-args...
  local what="$1" pattern="$2"; shift 2
  local out
  if out="$("$HELM" template chat "$CHART" --namespace "$NAMESPACE" --kube-version "$K8S_VERSION" "$@" 2>&1)"; then
    fail "not rejected: $what"
  elif ! grep -qiE "$pattern" <<<"$out"; then
    echo "$out" | tail -n 3
    fail "rejected for another reason: $what"
  else
    echo "rejected as expected: $what"
  fi
}
expect_render_failure "unknown value nodes.replicas (schema additionalProperties)" "additional property|not allowed" --set nodes.replicas=3
expect_render_failure "haproxy.canary.weight=150 (schema maximum)" "less than or equal|maximum" --set haproxy.canary.enabled=true --set haproxy.canary.weight=150
expect_render_failure "routing.mode=ingress without an Ingress (template guard)" "needs ingress.enabled" --set routing.mode=ingress
expect_render_failure "prober with publicKey verification and no token Secret (template guard)" "needs prober.tokenSecret.name" --set prober.enabled=true --set auth.jwtVerification=publicKey --set-string auth.jwtPublicKey=x
expect_render_failure "canary sharing the session-id prefix (template guard)" "session-id prefix" --set haproxy.canary.enabled=true --set haproxy.canary.fullname=chat-node-x
expect_render_failure "client limits behind a LoadBalancer that hides client addresses (template guard)" "externalTrafficPolicy=Local" --set haproxy.service.type=LoadBalancer
expect_render_failure "a trusted proxy that is not an address (schema pattern)" "does not match pattern|pattern" --set "haproxy.clientLimits.trustedProxies={proxy.example.com}"
expect_render_failure "redis.cluster.enabled without seed nodes (template guard)" "needs redis.cluster.nodes" --set redis.cluster.enabled=true
expect_render_failure "a Redis Cluster seed that is not host:port (schema pattern)" "does not match pattern|pattern" --set redis.cluster.enabled=true --set 'redis.cluster.nodes[0]=redis://redis-cluster:6379'
expect_render_failure "redis.ackReplicas=-1 (schema minimum)" "greater than or equal|minimum" --set redis.ackReplicas=-1
expect_render_failure "a hash tag in redis.prefix (schema pattern)" "does not match pattern|pattern" --set 'redis.prefix=chat{x}:'
if [[ -f "$OUT/default.yaml" ]]; then
  python3 - "$OUT/default.yaml" "$OUT/mutated.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "StatefulSet":
        d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/readyz"}
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
PY
  if "$KUBECONFORM" "${KC_ARGS[@]}" "$OUT/mutated.yaml" >/dev/null 2>&1; then
    fail "kubeconform accepted an unknown field (strict schemas not in effect)"
  else
    echo "rejected as expected: unknown field in a StatefulSet probe (kubeconform -strict)"
  fi
fi
if [[ -f "$OUT/observability-values.yaml" ]]; then
  sed 's/^        Merge_Log            On/        Merge_Logs           On/' "$OUT/observability-values.yaml" >"$OUT/mutated-fb.yaml"
  if python3 "$TOOLS/check_observability.py" mutated "$OUT/mutated-fb.yaml" "$CHART" >/dev/null 2>&1; then
    fail "check_observability accepted a misspelt Fluent Bit key"
  else
    echo "rejected as expected: misspelt key in the Fluent Bit config (check_observability)"
  fi
fi
if [[ -f "$OUT/production-values.yaml" ]]; then
  sed 's/^  jobLabel: /  jobLabell: /' "$OUT/production-values.yaml" >"$OUT/mutated-sm.yaml"
  if "$KUBECONFORM" "${KC_ARGS[@]}" "$OUT/mutated-sm.yaml" >/dev/null 2>&1; then
    fail "kubeconform accepted an unknown ServiceMonitor field (CRD schema not strict)"
  else
    echo "rejected as expected: unknown field in a ServiceMonitor (CRD schema, strict)"
  fi
fi

# ------------------------------------------------------------------------------------------------
echo
if ((${#FAILURES[@]})); then
  echo "helm-check FAILED after $(since "$T0"):"
  printf '  - %s\n' "${FAILURES[@]}"
  exit 1
fi
echo "helm-check passed in $(since "$T0"): ${#RENDERS[@]} renders validated (${RENDERS[*]})"
