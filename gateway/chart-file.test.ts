/**
 * Drift test: the chart's copy of the gateway rules must be exactly what gateway/routing.ts
 * renders, so the local gateway and the chart run the same rules.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { CHART_RULES_FILE, readChartRules, REGENERATE_COMMAND, renderChartRules } from "./chart-file.js";

test("helm/chat/files/haproxy-routing.cfg is what gateway/routing.ts renders", () => {
  const committed = readChartRules();
  assert.ok(committed !== undefined, `${CHART_RULES_FILE} is missing: run ${REGENERATE_COMMAND}`);
  assert.equal(committed, renderChartRules(), `${CHART_RULES_FILE} differs from gateway/routing.ts: run ${REGENERATE_COMMAND}`);
});

test("the chart copy loops over the chart's groups and servers and reads every setting from the chart", () => {
  const text = renderChartRules();
  assert.match(text, /\{\{- range \$g := \$\.groups \}\}\n\nbackend \{\{ \$g\.backend \}\}/);
  assert.match(text, /\{\{- range \$s := \$g\.servers \}\}\n {4}server \{\{ \$s\.name \}\} \{\{ \$s\.address \}\}\n\{\{- end \}\}/);
  assert.match(
    text,
    /\{\{- if \$g\.canary \}\}\n {4}use_backend \{\{ \$g\.backend \}\} if !has_sid \{ rand\(100\) lt \{\{ \$\.settings\.canaryWeight \}\} \}/,
  );
  assert.doesNotMatch(text, /127\.0\.0\.1|chat_nodes/, "no local value leaks into the chart copy");
});

test("the chart feeds every setting the rules read, and no other", () => {
  const template = readFileSync(fileURLToPath(new URL("../../helm/chat/templates/_haproxy.tpl", import.meta.url)), "utf8");
  const dict = /\$settings := dict\n([\s\S]*?)-\}\}/.exec(template);
  assert.ok(dict, "no `$settings := dict` in _haproxy.tpl");
  const fed = [...dict[1]!.matchAll(/^\s*"(\w+)" /gm)].map((m) => m[1]).sort();
  const read = [...new Set([...renderChartRules().matchAll(/\$\.settings\.(\w+)/g)].map((m) => m[1]))].sort();
  assert.deepEqual(fed, read);
});
