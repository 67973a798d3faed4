#!/usr/bin/env python3
"""Keep values.yaml, its `## @param` lines, values.schema.json and the README table in step.

  values_doc.py CHART_DIR           check (exit 1 on any mismatch)
  values_doc.py CHART_DIR --write   rewrite the README parameters table from values.yaml

Rules:
  * every value in values.yaml is documented by a `## @param <path> <description>` line, either
    itself or through a documented ancestor (free-form maps such as resources or
    podSecurityContext are documented as a whole);
  * every @param names a value that exists;
  * every @param path is declared in values.schema.json, and every schema property exists in
    values.yaml (the schema uses additionalProperties: false, so this keeps them identical);
  * the README table between the `values-table` markers is what --write generates.
"""
import json
import re
import sys

import yaml

PARAM = re.compile(r"^\s*##\s*@param\s+(\S+)\s+(.*)$")
SECTION = re.compile(r"^\s*##\s*@section\s+(.*)$")
START, END = "<!-- values-table:start -->", "<!-- values-table:end -->"


def parse_params(path):
    params, order = {}, []
    with open(path) as fh:
        for line in fh:
            m = SECTION.match(line)
            if m:
                order.append(("section", m.group(1).strip()))
                continue
            m = PARAM.match(line)
            if m:
                key, desc = m.group(1), m.group(2).strip()
                if key in params:
                    raise SystemExit(f"duplicate @param {key}")
                params[key] = desc
                order.append(("param", key))
    return params, order


def lookup(values, path):
    node = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def undocumented(values, params, prefix=""):
    missing = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if path in params:
            continue
        if isinstance(value, dict) and value:
            missing += undocumented(value, params, path + ".")
        else:
            missing.append(path)
    return missing


def schema_paths(schema, prefix=""):
    out = []
    for key, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}{key}"
        out.append(path)
        out += schema_paths(sub, path + ".")
    return out


def schema_has(schema, path):
    node = schema
    for part in path.split("."):
        props = node.get("properties") or {}
        if part not in props:
            return False
        node = props[part]
    return True


def fmt_default(value):
    text = json.dumps(value, separators=(",", ":"))
    if len(text) > 60:
        return "see values.yaml"
    return f"`{text}`"


def table(values, params, order):
    lines = []
    header = "| Name | Description | Default |\n| --- | --- | --- |"
    open_table = False
    for kind, item in order:
        if kind == "section":
            lines.append(f"\n### {item}\n")
            open_table = False
            continue
        if not open_table:
            lines.append(header)
            open_table = True
        _, value = lookup(values, item)
        desc = params[item].replace("|", "\\|")
        lines.append(f"| `{item}` | {desc} | {fmt_default(value)} |")
    return "\n".join(lines).strip() + "\n"


def main():
    chart = sys.argv[1]
    write = "--write" in sys.argv[2:]
    params, order = parse_params(f"{chart}/values.yaml")
    with open(f"{chart}/values.yaml") as fh:
        values = yaml.safe_load(fh)
    with open(f"{chart}/values.schema.json") as fh:
        schema = json.load(fh)
    errors = []
    for path in undocumented(values, params):
        errors.append(f"values.yaml: {path} has no `## @param` line")
    for path in params:
        if not lookup(values, path)[0]:
            errors.append(f"values.yaml: @param {path} names no value")
        if not schema_has(schema, path):
            errors.append(f"values.schema.json: {path} is documented but not declared")
    for path in schema_paths(schema):
        if path == "global" or path.startswith("global."):
            continue
        if not lookup(values, path)[0]:
            errors.append(f"values.schema.json: {path} is declared but not in values.yaml")

    readme_path = f"{chart}/README.md"
    with open(readme_path) as fh:
        readme = fh.read()
    if START not in readme or END not in readme:
        errors.append(f"README.md: markers {START} / {END} missing")
    else:
        head, rest = readme.split(START, 1)
        current, tail = rest.split(END, 1)
        wanted = "\n" + table(values, params, order) + "\n"
        if write:
            with open(readme_path, "w") as fh:
                fh.write(head + START + wanted + END + tail)
            print(f"README.md: parameters table rewritten ({len(params)} parameters)")
        elif current != wanted:
            errors.append("README.md: the parameters table is out of date (run: python3 helm/tools/values_doc.py helm/chat --write)")

    for error in errors:
        print(f"ERROR {error}")
    if errors:
        sys.exit(1)
    print(f"values documented: {len(params)} @param lines cover values.yaml, values.schema.json and README.md")


if __name__ == "__main__":
    main()
