/**
 * What the live monitoring test asks of Prometheus and Alertmanager over their HTTP APIs, and a
 * webhook receiver standing in for a pager: every notification Alertmanager posts is recorded.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { REPO_ROOT } from "../../scripts/infra/paths.js";

export interface QueryResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

export async function instantQuery(prometheusUrl: string, query: string): Promise<QueryResult> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`, { signal: AbortSignal.timeout(10_000) });
  return (await response.json()) as QueryResult;
}

export async function labelValues(prometheusUrl: string, label: string, match: string): Promise<string[]> {
  const response = await fetch(`${prometheusUrl}/api/v1/label/${label}/values?match[]=${encodeURIComponent(match)}`, {
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json()) as { status: string; data: string[] };
  if (body.status !== "success") throw new Error(`label values of ${label}: ${JSON.stringify(body)}`);
  return body.data;
}

export interface PrometheusAlert {
  labels: Record<string, string>;
  state: "pending" | "firing";
  activeAt: string;
}

export async function activeAlerts(prometheusUrl: string): Promise<PrometheusAlert[]> {
  const response = await fetch(`${prometheusUrl}/api/v1/alerts`, { signal: AbortSignal.timeout(10_000) });
  return ((await response.json()) as { data: { alerts: PrometheusAlert[] } }).data.alerts;
}

export interface DashboardQuery {
  panel: string;
  expr: string;
}

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Every PromQL expression of helm/chat/dashboards/chat.json, with the panel it belongs to. */
export function dashboardQueries(): DashboardQuery[] {
  const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, "helm", "chat", "dashboards", "chat.json"), "utf8")) as { panels: Panel[] };
  const walk = (panels: Panel[]): DashboardQuery[] =>
    panels.flatMap((panel) => [
      ...(panel.targets ?? []).filter((target) => target.expr).map((target) => ({ panel: panel.title ?? "?", expr: target.expr! })),
      ...walk(panel.panels ?? []),
    ]);
  return walk(dashboard.panels);
}

/** Replaces Grafana's variables the way Grafana would for one namespace, all pods and a scrape interval. */
export function withGrafanaVariables(expr: string, { namespace, rateInterval }: { namespace: string; rateInterval: string }): string {
  return expr.replaceAll("$namespace", namespace).replaceAll("$pod", ".*").replaceAll("$__rate_interval", rateInterval);
}

export interface WebhookAlert {
  status: "firing" | "resolved";
  labels: Record<string, string>;
}

export interface WebhookReceiver {
  url: string;
  /** Every alert of every notification received, with the time it arrived. */
  received: { at: number; alert: WebhookAlert }[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: WebhookReceiver["received"] = [];
  const server: Server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (body += chunk));
    request.on("end", () => {
      try {
        const notification = JSON.parse(body) as { alerts?: WebhookAlert[] };
        for (const alert of notification.alerts ?? []) received.push({ at: Date.now(), alert });
        response.writeHead(200).end();
      } catch {
        response.writeHead(400).end("not JSON");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/alerts`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
