/**
 * The two ways the gateway's rules (routing.ts) are written out: with a concrete topology filled
 * in, or as a Go template over the chart's node groups.
 */
import type { GroupFilter, RulesSettings, RulesWriter, ServerRef } from "./routing.js";

export interface NodeGroup {
  backend: string;
  /** sid prefixes of this group's nodes, each ending in "-" so `n1-` never matches `n10-…`. */
  sidPrefixes: string[];
  /** New sessions go to the active group. Exactly one group is active. */
  active: boolean;
  /** New sessions go to the canary group for `canaryWeight` percent of them. */
  canary: boolean;
  servers: ServerRef[];
}

export interface Topology {
  settings: RulesSettings;
  groups: NodeGroup[];
}

const passes = (filter: GroupFilter, group: NodeGroup) => filter === "all" || (filter === "active" ? group.active : group.canary);

/** Writes the rules for one concrete topology. */
export function literalWriter({ settings, groups }: Topology): RulesWriter {
  const active = groups.filter((group) => group.active).length;
  if (active !== 1) throw new Error(`the gateway needs exactly one active node group, got ${active}`);
  return {
    setting: (name) => settings[name],
    optionalSetting: (name) => (settings[name] === "" ? "" : ` ${settings[name]}`),
    ifSet: (name, lines, otherwise = []) => (settings[name] === "" ? otherwise : lines),
    eachGroup: (filter, body) =>
      groups
        .filter((group) => passes(filter, group))
        .flatMap((group) =>
          body({ backend: group.backend, sidPrefixes: group.sidPrefixes.join(" ") }, (each) => group.servers.flatMap(each)),
        ),
  };
}

/**
 * Writes the rules as a Go template (Helm `tpl`). Its data: `settings` (every RulesSettings key,
 * as strings) and `groups` (NodeGroup's fields). Each action sits on a line of its own that
 * starts with `{{-`, which eats the line break before it, so the output has no blank lines
 * where the actions were. Inside a `range` the dot is the element, hence `$.settings`.
 */
export function helmWriter(): RulesWriter {
  const groupRef = { backend: "{{ $g.backend }}", sidPrefixes: '{{ join " " $g.sidPrefixes }}' };
  const serverRef = { name: "{{ $s.name }}", address: "{{ $s.address }}" };
  const condition: Record<GroupFilter, string | undefined> = { all: undefined, active: "$g.active", canary: "$g.canary" };
  return {
    setting: (name) => `{{ $.settings.${name} }}`,
    optionalSetting: (name) => `{{ with $.settings.${name} }} {{ . }}{{ end }}`,
    // An empty string is false in a Go template, so "" means off here as in literalWriter.
    ifSet: (name, lines, otherwise = []) => [
      `{{- if $.settings.${name} }}`,
      ...lines,
      ...(otherwise.length > 0 ? ["{{- else }}", ...otherwise] : []),
      "{{- end }}",
    ],
    eachGroup(filter, body) {
      const test = condition[filter];
      const lines = body(groupRef, (each) => ["{{- range $s := $g.servers }}", ...each(serverRef), "{{- end }}"]);
      return ["{{- range $g := $.groups }}", ...(test ? [`{{- if ${test} }}`, ...lines, "{{- end }}"] : lines), "{{- end }}"];
    },
  };
}
