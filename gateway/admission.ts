/**
 * Admission at the gateway, written once for the local gateway and the chart (see routing.ts):
 *
 * The waiting room (docs/protocol.md "Overload and backoff"): every server has a `maxconn`
 * (`serverMaxconn`, 0 = no limit). When every node of a backend is at it, HAProxy holds a new
 * request in the backend's queue (a request with a sid in its node's queue) for up to
 * `timeout queue`, and hands it to the first node that frees a slot. Past that time HAProxy
 * answers 503 itself; the `http-error` rule adds `Retry-After` and the contract's JSON body, so
 * stock socket.io clients back off and retry. A WebSocket holds its slot for its whole life, a
 * polling request while it is pending. Metrics (the stats listener's Prometheus exporter):
 * `haproxy_backend_current_queue`, `haproxy_backend_max_queue`,
 * `haproxy_backend_queue_time_average_seconds` (the wait of the requests served from the queue),
 * `haproxy_server_current_queue`; the requests that waited too long are counted in
 * `haproxy_backend_connection_errors_total`.
 *
 * Shedding abusers (docs/protocol.md "Limits", issue 17): one stick table keyed on the client address
 * counts, per address, the connections open now (`conn_cur`), new connections over 10 s
 * (`conn_rate`) and requests over 10 s (`http_req_rate`).
 *  - A connection is tracked when it is accepted (`tcp-request connection track-sc0 src`), and
 *    the address's counts at that moment are kept in session variables. A connection accepted
 *    while its address was over a limit gets 429 for its requests; the connections the address
 *    already held were accepted under the limit and keep being served. A refused connection is
 *    closed after the 429, which frees its place.
 *  - Twice over either connection limit, a connection is dropped when it is accepted, before any
 *    HTTP (`tcp-request connection reject`, counted in
 *    `haproxy_frontend_denied_connections_total{proxy="chat"}`): an address that does not back off
 *    cannot hold the gateway's connections with requests it never sends or never finishes
 *    (each would otherwise stay until `timeout http-request`). Its /readyz is dropped too; every
 *    other address's is answered.
 *  - The request rate applies to every request of the address: an address that floods is
 *    refused on all its connections until its rate falls.
 *  - The gateway's own `/healthz` and `/readyz` are answered before any of this (routing.ts), so
 *    probes keep working for an address that is refused.
 *  - Connections from `trustedProxies` (a load balancer or CDN that sets the client address)
 *    carry many clients: they are not limited by their own address. When `clientAddressHeader`
 *    is set, each request from them is tracked on the last address in that header (the one the
 *    trusted proxy appended; earlier ones are the client's word) with `http-request track-sc1`.
 *    Such tracking counts streams, not TCP connections: `conn_cur` is then the address's
 *    requests in flight plus its WebSockets, and every request of an address over it or over the
 *    request rate is refused (there is no new-connection rate or drop at accept for them: the
 *    proxy's connections are not the client's). Without the header, trusted proxies'
 *    connections are not limited at the gateway.
 *  - Every refusal reason has a backend of its own with no server that answers the 429, so each
 *    is counted by reason: `haproxy_backend_requests_denied_total{proxy="gateway_refused_..."}`.
 */
import type { RulesWriter } from "./routing.js";

/** The backends that refuse, one per reason: their names are the metrics' `proxy` label. */
export const REFUSED = {
  connections: "gateway_refused_connections",
  connectRate: "gateway_refused_connect_rate",
  requestRate: "gateway_refused_request_rate",
} as const;

/** Entries of the client table: an address is forgotten a minute after its last connection. */
const CLIENT_TABLE = "stick-table type ipv6 size 200k expire 60s store conn_cur,conn_rate(10s),http_req_rate(10s)";

const errorJson = (code: string, message: string) => `'{"error":{"code":"${code}","message":"${message}"}}'`;

/** In `defaults`: the 503 HAProxy answers itself (queue time out, no node left) says when to retry. */
export function queueTimeoutAnswer(w: RulesWriter): string[] {
  return [
    "    # Past `timeout queue` (every node at its maxconn), or with no node left, HAProxy answers 503",
    "    # itself: with Retry-After, so clients back off, and the contract's JSON error.",
    `    http-error status 503 content-type application/json string ${errorJson("UNAVAILABLE", "no node can take the connection now, retry later")}` +
      ` hdr Retry-After ${w.setting("queueRetryAfter")}`,
  ];
}

/** In `frontend chat`, before any http-request rule: count each client address. */
export function clientTracking(w: RulesWriter): string[] {
  return w.ifSet("clientLimits", [
    "    # Per client address limits (gateway/admission.ts).",
    `    ${CLIENT_TABLE}`,
    ...w.ifSet(
      "trustedProxies",
      [
        `    acl from_trusted_proxy src ${w.setting("trustedProxies")}`,
        "    tcp-request connection track-sc0 src unless from_trusted_proxy",
      ],
      ["    tcp-request connection track-sc0 src"],
    ),
    "    # The address's counts when this connection was accepted (itself included): connections it",
    "    # already held were accepted under the limits and stay served.",
    "    tcp-request connection set-var(sess.client_conns) sc0_conn_cur",
    "    tcp-request connection set-var(sess.client_connect_rate) sc0_conn_rate",
    "    # Twice over a limit: dropped before any HTTP, so it cannot sit on a connection until the",
    "    # header timeout.",
    `    tcp-request connection reject if { var(sess.client_conns) -m int gt ${w.setting("clientDropConnections")} }`,
    `    tcp-request connection reject if { var(sess.client_connect_rate) -m int gt ${w.setting("clientDropConnectRate")} }`,
    // After every tcp-request rule: HAProxy runs those first whatever the order, and warns.
    ...w.ifSet("trustedProxies", [
      ...w.ifSet("clientAddressHeader", [
        `    http-request track-sc1 req.hdr_ip(${w.setting("clientAddressHeader")},-1) if from_trusted_proxy`,
      ]),
    ]),
  ]);
}

/** In `frontend chat`, after the gateway's own answers and before the routing: refuse over a limit. */
export function clientRefusals(w: RulesWriter): string[] {
  const max = w.setting("clientMaxConnections");
  const requests = w.setting("clientRequestRate");
  return w.ifSet("clientLimits", [
    `    acl client_over_connections var(sess.client_conns) -m int gt ${max}`,
    `    acl client_over_connections sc1_conn_cur gt ${max}`,
    `    acl client_over_connect_rate var(sess.client_connect_rate) -m int gt ${w.setting("clientConnectRate")}`,
    `    acl client_over_request_rate sc0_http_req_rate gt ${requests}`,
    `    acl client_over_request_rate sc1_http_req_rate gt ${requests}`,
    `    use_backend ${REFUSED.connections} if client_over_connections`,
    `    use_backend ${REFUSED.connectRate} if client_over_connect_rate`,
    `    use_backend ${REFUSED.requestRate} if client_over_request_rate`,
  ]);
}

/** After the node backends: one backend per refusal reason, answering 429 and closing. */
export function refusalBackends(w: RulesWriter): string[] {
  const refusal = (backend: string, message: string) => {
    const deny =
      `    http-request deny deny_status 429 content-type application/json string ${errorJson("RATE_LIMITED", message)}` +
      ` hdr Retry-After ${w.setting("clientRetryAfter")}`;
    return [
      "",
      `backend ${backend}`,
      "    # No server: the gateway answers. `Connection: close` makes HAProxy close the connection after",
      "    # the 429 (a deny alone keeps an HTTP/1.1 connection open), which frees the address's place;",
      "    # not a trusted proxy's, which carries other clients' requests too.",
      ...w.ifSet("trustedProxies", [`    acl from_trusted_proxy src ${w.setting("trustedProxies")}`, `${deny} if from_trusted_proxy`]),
      `${deny} hdr Connection close`,
    ];
  };
  return w.ifSet("clientLimits", [
    ...refusal(REFUSED.connections, "too many connections from your address"),
    ...refusal(REFUSED.connectRate, "too many new connections from your address"),
    ...refusal(REFUSED.requestRate, "too many requests from your address"),
  ]);
}
