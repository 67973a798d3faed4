#!/usr/bin/env python3
"""Checks on a rendered chat chart that a JSON schema cannot express.

  check_render.py NAME RENDERED.yaml [HAPROXY_CFG_OUT]

Prints the number of resources per kind, then fails (exit 1) unless:
  * every node StatefulSet passes its pod name as CHAT_NODE_NAME (fieldRef metadata.name) and is
    governed by a headless Service that publishes not-ready pods;
  * HAProxy, when rendered, has for every node pod slot a `server <pod>` addressing that pod's
    DNS name and a `use-server <pod>` rule on the sid prefix `<pod>-`, plus a frontend rule per
    StatefulSet on `<statefulset>-`: the same routing as the local gateway;
  * the nodes' grace period covers the preStop sleep plus CHAT_DRAIN_DEADLINE_MS;
  * every pod runs non-root with a read-only root filesystem, no privilege escalation, ALL
    capabilities dropped and the RuntimeDefault seccomp profile, with resources set;
  * node and flusher pods probe /healthz (liveness) and /readyz (readiness) and carry config
    checksums; the migration is a pre-install,pre-upgrade hook running dist/scripts/migrate.js;
  * the Grafana dashboard, when rendered, is valid JSON and charts every chat metric.
HAPROXY_CFG_OUT, when given, receives the rendered haproxy.cfg (for `haproxy -c`).
"""
import collections
import json
import math
import re
import sys

import yaml

DASHBOARD_METRICS = [
    "chat_connections", "chat_messages_in_total", "chat_messages_out_total", "chat_ack_latency_seconds",
    "chat_errors_total", "chat_stream_backlog", "chat_flushed_messages_total", "nodejs_eventloop_lag_seconds",
]


def main():
    name, path = sys.argv[1], sys.argv[2]
    cfg_out = sys.argv[3] if len(sys.argv) > 3 else None
    with open(path) as fh:
        docs = [d for d in yaml.safe_load_all(fh) if d]
    errors = []
    err = errors.append
    kinds = collections.Counter(d["kind"] for d in docs)
    print(f"  {name}: {len(docs)} resources: " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))

    by_kind = collections.defaultdict(dict)
    for d in docs:
        by_kind[d["kind"]][d["metadata"]["name"]] = d

    config_env = {}
    for cm in by_kind["ConfigMap"].values():
        if cm["metadata"]["name"].endswith("-config"):
            config_env = cm.get("data", {})

    # --- workloads: security, resources, probes -------------------------------------------
    workloads = []
    for kind in ("StatefulSet", "Deployment", "Job"):
        for obj in by_kind[kind].values():
            workloads.append((kind, obj))
    for kind, obj in workloads:
        ref = f"{kind}/{obj['metadata']['name']}"
        pod = obj["spec"]["template"]["spec"]
        psc = pod.get("securityContext", {})
        if pod.get("automountServiceAccountToken") is not False:
            err(f"{ref}: automountServiceAccountToken is not false")
        for c in pod.get("containers", []):
            sc = c.get("securityContext", {})
            cref = f"{ref} container {c['name']}"
            if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
                err(f"{cref}: runAsNonRoot is not set")
            if (sc.get("runAsUser", psc.get("runAsUser")) or 0) == 0:
                err(f"{cref}: no numeric non-root runAsUser")
            if sc.get("readOnlyRootFilesystem") is not True:
                err(f"{cref}: readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                err(f"{cref}: allowPrivilegeEscalation is not false")
            if "ALL" not in (sc.get("capabilities", {}).get("drop") or []):
                err(f"{cref}: capabilities do not drop ALL")
            seccomp = sc.get("seccompProfile") or psc.get("seccompProfile") or {}
            if seccomp.get("type") != "RuntimeDefault":
                err(f"{cref}: seccompProfile is not RuntimeDefault")
            res = c.get("resources") or {}
            if not res.get("requests") or not (res.get("limits") or {}).get("memory"):
                err(f"{cref}: resources.requests and limits.memory must be set")
        component = obj["metadata"]["labels"].get("app.kubernetes.io/component")
        if component in ("node", "flusher"):
            c = pod["containers"][0]
            if (c.get("livenessProbe") or {}).get("httpGet", {}).get("path") != "/healthz":
                err(f"{ref}: liveness probe is not GET /healthz")
            if (c.get("readinessProbe") or {}).get("httpGet", {}).get("path") != "/readyz":
                err(f"{ref}: readiness probe is not GET /readyz")
            ann = obj["spec"]["template"]["metadata"].get("annotations") or {}
            if not ann.get("checksum/config") or not ann.get("checksum/secret"):
                err(f"{ref}: pod template lacks checksum/config and checksum/secret")
            env = {e["name"]: e for e in c.get("env", [])}
            own_name = "CHAT_NODE_NAME" if component == "node" else "CHAT_FLUSHER_NAME"
            if env.get(own_name, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
                err(f"{ref}: {own_name} is not the pod name")
        if component == "migration":
            ann = obj["metadata"].get("annotations") or {}
            if ann.get("helm.sh/hook") != "pre-install,pre-upgrade":
                err(f"{ref}: the migration is not a pre-install,pre-upgrade hook")
            if pod["containers"][0].get("command") != ["node", "dist/scripts/migrate.js"]:
                err(f"{ref}: the migration does not run node dist/scripts/migrate.js")

    # --- socket nodes ---------------------------------------------------------------------
    node_sets = {n: s for n, s in by_kind["StatefulSet"].items() if s["metadata"]["labels"].get("app.kubernetes.io/component") == "node"}
    hpa_max = {h["spec"]["scaleTargetRef"]["name"]: h["spec"]["maxReplicas"] for h in by_kind["HorizontalPodAutoscaler"].values()}
    for hpa in by_kind["HorizontalPodAutoscaler"].values():
        metrics = hpa["spec"].get("metrics", [])
        types = {m["type"] for m in metrics}
        print(f"    HPA {hpa['metadata']['name']}: {hpa['spec']['minReplicas']}-{hpa['spec']['maxReplicas']} on " +
              ", ".join(m["resource"]["name"] if m["type"] == "Resource" else m["pods"]["metric"]["name"] for m in metrics))
        if not types <= {"Resource", "Pods"}:
            err(f"HPA {hpa['metadata']['name']}: unexpected metric types {types}")
    for sts_name, sts in node_sets.items():
        spec = sts["spec"]
        pod = spec["template"]["spec"]
        svc = by_kind["Service"].get(spec["serviceName"])
        if not svc:
            err(f"StatefulSet/{sts_name}: serviceName {spec['serviceName']} is not rendered")
        else:
            if svc["spec"].get("clusterIP") != "None" or not svc["spec"].get("publishNotReadyAddresses"):
                err(f"Service/{svc['metadata']['name']}: must be headless and publish not-ready addresses")
            labels = spec["template"]["metadata"]["labels"]
            if any(labels.get(k) != v for k, v in svc["spec"]["selector"].items()):
                err(f"Service/{svc['metadata']['name']}: selector does not match StatefulSet/{sts_name}")
        c = pod["containers"][0]
        sleep = 0
        pre = (c.get("lifecycle") or {}).get("preStop") or {}
        if "exec" in pre and pre["exec"]["command"][:1] == ["sleep"]:
            sleep = int(pre["exec"]["command"][1])
        elif "sleep" in pre:
            sleep = int(pre["sleep"]["seconds"])
        drain = math.ceil(int(config_env.get("CHAT_DRAIN_DEADLINE_MS", "10000")) / 1000)
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace < sleep + drain:
            err(f"StatefulSet/{sts_name}: terminationGracePeriodSeconds {grace} < preStop {sleep}s + drain {drain}s")
        print(f"    StatefulSet {sts_name}: replicas={spec.get('replicas')} grace={grace}s (preStop {sleep}s + drain {drain}s)")

    # --- HAProxy routing ------------------------------------------------------------------
    cfgs = [cm["data"]["haproxy.cfg"] for cm in by_kind["ConfigMap"].values() if "haproxy.cfg" in (cm.get("data") or {})]
    if cfgs:
        cfg = cfgs[0]
        if cfg_out:
            with open(cfg_out, "w") as fh:
                fh.write(cfg)
        ns = next(iter(node_sets.values()))["metadata"]["namespace"] if node_sets else ""
        servers = re.findall(r"^\s*server (\S+) (\S+):(\d+)", cfg, re.M)
        use_server = dict((m[1], m[0]) for m in re.findall(r"^\s*use-server (\S+) if \{ urlp\(sid\) -m beg (\S+) \}", cfg, re.M))
        use_backend = dict((m[1], m[0]) for m in re.findall(r"^\s*use_backend (\S+) if has_sid \{ urlp\(sid\) -m beg (\S+) \}", cfg, re.M))
        defaults = re.findall(r"^\s*default_backend (\S+)", cfg, re.M)
        if len(defaults) != 1:
            err(f"haproxy.cfg: expected one default_backend, found {defaults}")
        server_addr = {s[0]: (s[1], int(s[2])) for s in servers}
        for sts_name, sts in node_sets.items():
            port = sts["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
            slots = max(sts["spec"].get("replicas") or 0, hpa_max.get(sts_name, 0))
            if use_backend.get(f"{sts_name}-") != sts_name:
                err(f"haproxy.cfg: no frontend rule sending sid prefix {sts_name}- to backend {sts_name}")
            for i in range(slots):
                pod_name = f"{sts_name}-{i}"
                want = (f"{pod_name}.{sts['spec']['serviceName']}.{ns}.svc.cluster.local", port)
                if server_addr.get(pod_name) != want:
                    err(f"haproxy.cfg: server {pod_name} should address {want[0]}:{want[1]}, found {server_addr.get(pod_name)}")
                if use_server.get(f"{pod_name}-") != pod_name:
                    err(f"haproxy.cfg: no use-server {pod_name} for sid prefix {pod_name}-")
            print(f"    HAProxy backend {sts_name}: {slots} pod slots routed by sid prefix")
        foreign = sorted(set(use_backend.values()) - set(node_sets))
        for backend in foreign:
            n = len([s for s in server_addr if s.startswith(backend + "-")])
            print(f"    HAProxy backend {backend}: {n} pod slots of another release (canary)")
        if "force-persist if { urlp(sid) -m found }" not in cfg:
            err("haproxy.cfg: sessions on a draining node must persist (force-persist)")

    # --- dashboard ------------------------------------------------------------------------
    for cm in by_kind["ConfigMap"].values():
        if (cm["metadata"].get("labels") or {}).get("grafana_dashboard"):
            for key, text in (cm.get("data") or {}).items():
                try:
                    dash = json.loads(text)
                except ValueError as exc:
                    err(f"ConfigMap/{cm['metadata']['name']}: {key} is not JSON: {exc}")
                    continue
                exprs = json.dumps(dash)
                missing = [m for m in DASHBOARD_METRICS if m not in exprs]
                if missing:
                    err(f"dashboard {key}: no panel for {missing}")
                print(f"    dashboard {key}: {len(dash.get('panels', []))} panels, all {len(DASHBOARD_METRICS)} chat metrics")

    for e in errors:
        print(f"ERROR {name}: {e}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
