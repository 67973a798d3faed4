#!/usr/bin/env python3
"""Turn the Kubernetes JSON schemas vendored by the PyPI package `kubernetes-validate`
into kubeconform's "standalone-strict" layout, fully offline.

kubernetes-validate ships, for each Kubernetes minor, a `vX.Y.0-local-strict/` folder: one file
per type (`deployment-apps-v1.json`, the same names kubeconform asks for) whose `$ref`s point at
`/api/_definitions.json#/$defs/<type>`, resolved against an `$id` on kubernetes.io. kubeconform
would try to fetch that over HTTP, so every top-level kind is rewritten here into a standalone
document: the transitive closure of the definitions it uses is copied into its own `$defs` and
the refs become local (`#/$defs/<type>`). Recursive types (JSONSchemaProps) stay recursive.

Usage: k8s_schemas.py WHEEL VERSION OUTDIR   (VERSION like v1.31.0)
Writes OUTDIR/VERSION-standalone-strict/<kind>[-<group>]-<version>.json
"""
import json
import os
import sys
import zipfile

# Kind files refer to the shared definitions file; definitions refer to each other locally.
REF_PREFIXES = ("/api/_definitions.json#/$defs/", "#/$defs/")


def ref_name(ref):
    for prefix in REF_PREFIXES:
        if ref.startswith(prefix):
            return ref[len(prefix):]
    raise SystemExit(f"unexpected $ref {ref!r}")


def collect_refs(node, out):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            out.add(ref_name(ref))
        for value in node.values():
            collect_refs(value, out)
    elif isinstance(node, list):
        for value in node:
            collect_refs(value, out)


def rewrite_refs(node):
    if isinstance(node, dict):
        return {
            key: ("#/$defs/" + ref_name(value) if key == "$ref" and isinstance(value, str) else rewrite_refs(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [rewrite_refs(value) for value in node]
    return node


def main():
    wheel, version, outdir = sys.argv[1:4]
    src = f"kubernetes_validate/kubernetes-json-schema/{version}-local-strict/"
    dest = os.path.join(outdir, f"{version}-standalone-strict")
    os.makedirs(dest, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.startswith(src) and n.endswith(".json")]
        if not names:
            raise SystemExit(f"{wheel} has no {src}")
        defs = json.loads(zf.read(src + "_definitions.json"))["$defs"]
        written = 0
        for name in names:
            base = name[len(src):]
            if base in ("_definitions.json", "all.json"):
                continue
            doc = json.loads(zf.read(name))
            if "x-kubernetes-group-version-kind" not in doc:
                continue  # only top-level kinds are looked up by kubeconform
            closure, todo = set(), set()
            collect_refs(doc, todo)
            while todo:
                ref = todo.pop()
                if ref in closure:
                    continue
                if ref not in defs:
                    raise SystemExit(f"{base}: unknown definition {ref}")
                closure.add(ref)
                collect_refs(defs[ref], todo)
            doc.pop("$id", None)
            out = rewrite_refs(doc)
            out["$defs"] = {ref: rewrite_refs(defs[ref]) for ref in sorted(closure)}
            with open(os.path.join(dest, base), "w") as fh:
                json.dump(out, fh, separators=(",", ":"))
            written += 1
    print(f"{written} standalone-strict schemas for {version} in {dest}")


if __name__ == "__main__":
    main()
