/**
 * Where the socket nodes of a cluster started by `npm start` serve /metrics. The gateway does not
 * (docs/protocol.md: `GET /metrics` through it is 404; metrics are the operator's), and `npm start`
 * gives each node a free port, which it writes into the gateway's HAProxy config
 * (<data dir>/logs/gateway/haproxy.cfg) as `server n1 127.0.0.1:<port>`. The flusher's port is
 * in no file (it reports it over IPC), so only LOAD_METRICS_URLS can add it.
 */

/**
 * The node /metrics URLs of a gateway config whose chat frontend binds `gatewayPort`, or an
 * empty list when the config belongs to another gateway (a stale file, another port).
 */
export function nodeMetricsUrlsFromGatewayConfig(config: string, gatewayPort: number): string[] {
  const sections = config.split(/^(?=\S)/m);
  const chat = sections.find((section) => /^frontend chat\b/.test(section));
  const bind = chat && /^\s+bind\s+\S*:(\d+)\b/m.exec(chat);
  if (!bind || Number(bind[1]) !== gatewayPort) return [];
  const urls: string[] = [];
  for (const section of sections.filter((section) => section.startsWith("backend "))) {
    for (const server of section.matchAll(/^\s+server\s+\S+\s+([\w.-]+|\[[0-9a-fA-F:]+\]):(\d+)\b/gm))
      urls.push(`http://${server[1]}:${server[2]}/metrics`);
  }
  return urls;
}
