#!/usr/bin/env python3
"""Convert CustomResourceDefinition YAML files into kubeconform JSON schemas, strict, offline.

The same rules as kubeconform's scripts/openapi2jsonschema.py (which mirrors kubectl):
every object schema that lists `properties` and says nothing about `additionalProperties`
rejects unknown fields, unless it is marked `x-kubernetes-preserve-unknown-fields`.
In addition `apiVersion` and `kind` are pinned to the CRD's group/version/kind, and the
CRD's loose `metadata: {type: object}` is replaced by the real ObjectMeta schema taken from
a Kubernetes standalone-strict schema (so labels, annotations and names are checked too).

Usage: crd_schema.py OUTDIR K8S_STANDALONE_SCHEMA_WITH_OBJECTMETA CRD.yaml [CRD.yaml ...]
Writes OUTDIR/<group>/<kind>_<version>.json (kubeconform's
`{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json` template).
"""
import json
import os
import sys

import yaml

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

# PyYAML follows YAML 1.1, where a bare `=` is the "value" type; in CRDs it is just a string
# (an enum member of an operator list, for instance).
yaml.SafeLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def strict(node):
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for value in node:
            strict(value)
    return node


def object_meta(path):
    with open(path) as fh:
        doc = json.load(fh)
    defs = doc["$defs"]
    # ObjectMeta and everything it references (ManagedFieldsEntry, OwnerReference, Time, ...).
    keep, todo = set(), {OBJECT_META}
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        stack = [defs[name]]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/$defs/"):
                    todo.add(ref[len("#/$defs/"):])
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return {name: defs[name] for name in sorted(keep)}


def main():
    outdir, meta_source, *crds = sys.argv[1:]
    meta_defs = object_meta(meta_source)
    count = 0
    for path in crds:
        with open(path) as fh:
            for crd in yaml.safe_load_all(fh):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group = crd["spec"]["group"]
                kind = crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    schema = version.get("schema", {}).get("openAPIV3Schema")
                    if not schema:
                        continue
                    schema = strict(json.loads(json.dumps(schema)))
                    props = schema.setdefault("properties", {})
                    props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
                    props["kind"] = {"type": "string", "enum": [kind]}
                    props["metadata"] = {"$ref": "#/$defs/" + OBJECT_META}
                    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
                    schema["$defs"] = meta_defs
                    schema.setdefault("required", [])
                    for field in ("apiVersion", "kind"):
                        if field not in schema["required"]:
                            schema["required"].append(field)
                    dest = os.path.join(outdir, group)
                    os.makedirs(dest, exist_ok=True)
                    with open(os.path.join(dest, f"{kind.lower()}_{version['name']}.json"), "w") as fh_out:
                        json.dump(schema, fh_out, separators=(",", ":"))
                    count += 1
                    print(f"CRD schema {group}/{version['name']} {kind} <- {os.path.basename(path)}")
    if count == 0:
        raise SystemExit("no CRD schemas written")


if __name__ == "__main__":
    main()
