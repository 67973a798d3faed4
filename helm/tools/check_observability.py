#!/usr/bin/env python3
"""Offline checks of the chart's alert rules and log shipper, as rendered.

  check_observability.py NAME RENDERED.yaml CHART_DIR

* Every PrometheusRule's spec is exactly rules/chat-alerts.yaml (the file the local Prometheus
  loads and `npm run alerts:test` tests), and `promtool check rules` accepts it (when promtool is
  installed; the check says SKIPPED otherwise).
* Every Fluent Bit configuration parses (classic format), uses only the keys its plugins know
  (typos are rejected, since Fluent Bit itself cannot run here), tails container logs, merges the
  JSON (ECS) lines, keeps only this release's pods, sends to Elasticsearch, and every ${VAR} it
  reads is set in the DaemonSet; the DaemonSet mounts the config where the image reads it, the
  log directory and a writable directory for the tail DB.
Exits 1 on any failure.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

KNOWN_KEYS = {
    "SERVICE": {"flush", "log_level", "daemon", "parsers_file", "http_server", "http_listen", "http_port", "health_check"},
    "tail": {"name", "tag", "path", "multiline.parser", "db", "mem_buf_limit", "skip_long_lines", "refresh_interval"},
    "kubernetes": {"name", "match", "kube_tag_prefix", "merge_log", "keep_log", "labels", "annotations", "k8s-logging.exclude", "k8s-logging.parser"},
    "grep": {"name", "match", "regex", "exclude"},
    "es": {"name", "match", "host", "port", "index", "suppress_type_name", "replace_dots", "trace_error", "retry_limit", "tls", "http_user", "http_passwd"},
}


def parse_fluent_bit(text):
    sections, current = [], None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"\[([A-Z]+)\]", line)
        if m:
            current = {"_section": m.group(1), "_line": number}
            sections.append(current)
            continue
        if current is None or not raw.startswith(" "):
            raise ValueError(f"line {number}: {raw!r} is outside a section or not indented")
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise ValueError(f"line {number}: {raw!r} has no value")
        current[parts[0].lower()] = parts[1]
    return sections


def check_rules(name, doc, chart, err):
    with open(os.path.join(chart, "rules", "chat-alerts.yaml")) as fh:
        source = yaml.safe_load(fh)
    if doc["spec"] != source:
        err(f"PrometheusRule {doc['metadata']['name']}: spec differs from rules/chat-alerts.yaml")
    if not shutil.which("promtool"):
        print(f"  {name}: SKIPPED promtool check rules (promtool not installed)")
        return
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        yaml.safe_dump(doc["spec"], fh)
    result = subprocess.run(["promtool", "check", "rules", fh.name], capture_output=True, text=True)
    os.unlink(fh.name)
    if result.returncode != 0:
        err(f"promtool check rules on the rendered PrometheusRule: {result.stdout}{result.stderr}")
    else:
        print(f"  {name}: PrometheusRule {doc['metadata']['name']}: {result.stdout.strip().splitlines()[-1].strip()}")


def check_fluent_bit(name, cm, daemonsets, release, err):
    try:
        sections = parse_fluent_bit(cm["data"]["fluent-bit.conf"])
    except ValueError as e:
        err(f"{cm['metadata']['name']}: fluent-bit.conf: {e}")
        return
    plugins = {}
    for s in sections:
        plugin = "SERVICE" if s["_section"] == "SERVICE" else s.get("name")
        if plugin not in KNOWN_KEYS:
            err(f"fluent-bit.conf line {s['_line']}: unknown section or plugin {s['_section']} {plugin}")
            continue
        unknown = set(k for k in s if not k.startswith("_")) - KNOWN_KEYS[plugin]
        if unknown:
            err(f"fluent-bit.conf line {s['_line']}: [{s['_section']}] {plugin}: unknown keys {sorted(unknown)}")
        plugins.setdefault(plugin, []).append(s)
    tail = (plugins.get("tail") or [{}])[0]
    if not tail.get("path", "").startswith("/var/log/containers/"):
        err("fluent-bit.conf: no tail input on /var/log/containers/")
    tag_prefix = tail.get("tag", "").rstrip("*")
    for plugin in ("kubernetes", "grep", "es"):
        if plugin not in plugins:
            err(f"fluent-bit.conf: no {plugin} section")
            continue
        for s in plugins[plugin]:
            if not s.get("match", "").rstrip("*") == tag_prefix:
                err(f"fluent-bit.conf: {plugin} matches {s.get('match')!r}, the input is tagged {tail.get('tag')!r}")
    if plugins.get("kubernetes") and plugins["kubernetes"][0].get("merge_log", "").lower() != "on":
        err("fluent-bit.conf: the kubernetes filter must merge the JSON (ECS) log lines (Merge_Log On)")
    if plugins.get("grep") and f"^{release}$" not in plugins["grep"][0].get("regex", ""):
        err("fluent-bit.conf: the grep filter does not keep only this release's pods")
    for key in ("host", "port", "index"):
        if plugins.get("es") and not plugins["es"][0].get(key):
            err(f"fluent-bit.conf: es output without {key}")
    ds = next((d for d in daemonsets if any(v.get("configMap", {}).get("name") == cm["metadata"]["name"] for v in d["spec"]["template"]["spec"].get("volumes", []))), None)
    if ds is None:
        err(f"no DaemonSet mounts {cm['metadata']['name']}")
        return
    pod = ds["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"] for e in container.get("env", [])}
    for var in re.findall(r"\$\{([A-Z_]+)\}", cm["data"]["fluent-bit.conf"]):
        if var not in env:
            err(f"fluent-bit.conf reads ${{{var}}}, which the DaemonSet does not set")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"].rstrip("/"): m for m in container.get("volumeMounts", [])}
    config_mount = mounts.get("/fluent-bit/etc")
    if not config_mount or "configMap" not in volumes.get(config_mount["name"], {}):
        err("the Fluent Bit config is not mounted at /fluent-bit/etc, where the image reads fluent-bit.conf")
    if "/var/log" not in mounts:
        err("the DaemonSet does not mount the node's /var/log")
    db_dir = os.path.dirname(tail.get("db", ""))
    if db_dir and (db_dir not in mounts or mounts[db_dir].get("readOnly")):
        err(f"the tail DB directory {db_dir} is not a writable mount")
    print(f"  {name}: fluent-bit.conf: {len(sections)} sections, keys known, DaemonSet {ds['metadata']['name']} consistent")


def main():
    name, path, chart = sys.argv[1:4]
    with open(path) as fh:
        docs = [d for d in yaml.safe_load_all(fh) if d]
    errors = []
    release = next((d["metadata"]["labels"].get("app.kubernetes.io/instance") for d in docs if d.get("metadata", {}).get("labels")), "")
    for doc in docs:
        if doc["kind"] == "PrometheusRule":
            check_rules(name, doc, chart, errors.append)
        if doc["kind"] == "ConfigMap" and "fluent-bit.conf" in (doc.get("data") or {}):
            check_fluent_bit(name, doc, [d for d in docs if d["kind"] == "DaemonSet"], release, errors.append)
    for e in errors:
        print(f"  {name}: {e}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
