#!/usr/bin/env python3
"""Run a gateway haproxy.cfg (the chart's rendered one, or the local gateway's: both come from
gateway/routing.ts) against fake socket nodes on 127.0.0.1 and check the routing the chat cluster
relies on:

  * a request whose `sid` is `<pod>-<random>` reaches that pod, for every live pod of every
    backend (stable, blue/green, canary);
  * a request without `sid` (a new engine.io session) reaches only the ready nodes of the active
    backend, or the canary backend for about haproxy.canary.weight percent of new sessions;
  * a node that fails /readyz (draining) gets no new session but keeps its existing sessions;
  * the gateway answers /healthz (200) and /readyz itself: 200 while a node of the active backend
    passes its health check, 503 when none does; the nodes' /metrics is not reachable (404 JSON);
  * admission (gateway/admission.ts): every server has a maxconn (the waiting room) and HAProxy's
    own 503 carries Retry-After; with per client address limits on, a connection past the
    address's limit gets 429 + Retry-After while /readyz and the connections it holds are served.
    The limits on new connections and requests per 10 s are raised for the routing checks above
    (they open hundreds of connections from 127.0.0.1); the connection count is kept as rendered.

The fake nodes answer like uWS: nothing to HTTP/1.0 or HEAD, so health checks that are not
GET over HTTP/1.1 leave every node down and the test fails.

  haproxy_routing_test.py NAME HAPROXY_CFG LIVE_PODS_PER_BACKEND

Only the addresses change: every `server <pod> <dns>:<port>` becomes a loopback port, the
listeners bind to free loopback ports and the health checks run every 100 ms. Needs `haproxy`.
"""
import http.server
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeNode(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name):
        self.node_name = name
        self.ready = True
        super().__init__(("127.0.0.1", 0), Handler)

    def handle_error(self, request, client_address):
        pass  # HAProxy's health checks reset the connection once they have the status line


class Handler(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        self.close_connection = True  # uWS answers no HEAD

    def do_GET(self):
        if self.request_version != "HTTP/1.1":
            self.close_connection = True  # nor HTTP/1.0
            return
        if self.path == "/readyz":
            status = 200 if self.server.ready else 503
        else:
            status = 200
        body = self.server.node_name.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def raw_get(conn, path):
    """One GET on an open connection (kept open): (status, lower-case headers, body)."""
    conn.settimeout(5)
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: gateway\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return 0, {}, ""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(lines[0].split(" ")[1]), headers, rest[:length].decode()


def main():
    name, cfg_path, live = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = open(cfg_path).read()
    errors = []

    # A warning means HAProxy reads a rule differently from how it is written (e.g. a tcp-request
    # rule after an http-request rule still runs first); pods that do not resolve here are expected.
    check = subprocess.run(["haproxy", "-c", "-f", cfg_path], capture_output=True, text=True)
    warnings = [line for line in (check.stdout + check.stderr).splitlines()
                if "[WARNING]" in line and "could not resolve address" not in line]
    errors += [f"haproxy -c: {line}" for line in warnings]

    backends = {}
    for block in re.split(r"\n(?=backend )", cfg):
        m = re.match(r"backend (\S+)", block)
        if m:
            backends[m.group(1)] = re.findall(r"^\s*server (\S+) ", block, re.M)
    default_backend = re.search(r"^\s*default_backend (\S+)", cfg, re.M).group(1)
    canary = re.search(r"use_backend (\S+) if !has_sid \{ rand\(100\) lt (\d+) \}", cfg)

    nodes = {}
    for backend, servers in backends.items():
        for server in servers[:live]:
            node = FakeNode(server)
            threading.Thread(target=node.serve_forever, daemon=True).start()
            nodes[server] = node

    chat_port, stats_port = free_port(), free_port()
    dead_port = free_port()  # slots without a pod: connection refused, check fails

    test_cfg = re.sub(r"(?m)^(\s*server) (\S+) \S+", lambda m: f"{m.group(1)} {m.group(2)} 127.0.0.1:" +
                      str(nodes[m.group(2)].server_address[1] if m.group(2) in nodes else dead_port), cfg)
    server_maxconn = re.search(r"(?m)^\s*default-server .* maxconn (\d+)", cfg)
    if not server_maxconn or int(server_maxconn.group(1)) < 1:
        errors.append("default-server has no maxconn: no waiting room (gateway/admission.ts)")
    if not re.search(r"(?m)^\s*http-error status 503 content-type application/json string .*\"UNAVAILABLE\".* hdr Retry-After \d+$", cfg):
        errors.append("HAProxy's own 503 has no Retry-After / UNAVAILABLE JSON (http-error status 503)")
    limit = re.search(r"(?m)^\s*acl client_over_connections var\(sess\.client_conns\) -m int gt (\d+)$", cfg)
    test_cfg = re.sub(r"(?m)^(\s*default-server) .*$", r"\1 check inter 100ms fall 2 rise 1" +
                      (f" maxconn {server_maxconn.group(1)}" if server_maxconn else ""), test_cfg)
    test_cfg = re.sub(r"(?m)^(\s*acl client_over_(?:connect|request)_rate .* gt) \d+$", r"\1 1000000", test_cfg)
    test_cfg = re.sub(r"(?m)^(\s*tcp-request connection reject if \{ var\(sess\.client_connect_rate\) -m int gt) \d+ \}$",
                      r"\1 1000000 }", test_cfg)
    test_cfg = re.sub(r"(?ms)^resolvers kubedns\n.*?(?=\n\S|\Z)", "", test_cfg)
    test_cfg = re.sub(r"(?m)^(frontend chat\n\s*bind) \S+", rf"\1 127.0.0.1:{chat_port}", test_cfg)
    test_cfg = re.sub(r"(?m)^(frontend stats\n\s*bind) \S+", rf"\1 127.0.0.1:{stats_port}", test_cfg)
    test_cfg = re.sub(r"(?m)^(\s*)log stdout .*$", r"\1log stderr format raw local0 warning", test_cfg)
    test_cfg = re.sub(r"(?m)^(\s*maxconn) \d+", r"\1 2000", test_cfg)  # no 200k-fd ulimit needed here

    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as fh:
        fh.write(test_cfg)
    proc = subprocess.Popen(["haproxy", "-db", "-f", fh.name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if get(stats_port, "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"haproxy did not start: {proc.stderr.read() if proc.poll() is not None else ''}")
        time.sleep(0.6)  # first health checks

        # 1. every live pod gets its own sessions
        for server in nodes:
            status, body = get(chat_port, f"/socket.io/?EIO=4&transport=polling&sid={server}-AbC123xyz")
            if body != server:
                errors.append(f"sid {server}-... reached {body or status}, not {server}")

        # 2. new sessions: active backend (and the canary share)
        def new_sessions(n=400):
            seen = {}
            for _ in range(n):
                status, body = get(chat_port, "/socket.io/?EIO=4&transport=polling")
                seen[body or f"HTTP {status}"] = seen.get(body or f"HTTP {status}", 0) + 1
            return seen

        seen = new_sessions()
        active = set(backends[default_backend][:live])
        canary_nodes = set(backends[canary.group(1)][:live]) if canary else set()
        stray = {k: v for k, v in seen.items() if k not in active | canary_nodes}
        if stray:
            errors.append(f"new sessions reached {stray}, outside {default_backend} and the canary")
        if not active <= set(seen):
            errors.append(f"new sessions did not spread over every ready node of {default_backend}: {seen}")
        if canary:
            share = sum(v for k, v in seen.items() if k in canary_nodes) * 100 / sum(seen.values())
            weight = int(canary.group(2))
            if not (weight / 3 <= share <= weight * 2 + 2):
                errors.append(f"canary got {share:.1f}% of new sessions, configured {weight}%")
            print(f"    canary share: {share:.1f}% of {sum(seen.values())} new sessions (weight {weight}%)")

        # 3. a draining node keeps its sessions and gets no new one
        draining = backends[default_backend][0]
        nodes[draining].ready = False
        time.sleep(0.6)
        status, body = get(chat_port, f"/socket.io/?EIO=4&transport=polling&sid={draining}-old")
        if body != draining:
            errors.append(f"draining {draining}: its session went to {body or status}")
        seen = new_sessions(100)
        if draining in seen:
            errors.append(f"draining {draining} still got {seen[draining]} new sessions")

        # 4. the gateway answers its own probes; node-internal endpoints are not public
        for path, want_status, want_body in (("/healthz", 200, "ok"), ("/readyz", 200, "ready")):
            status, body = get(chat_port, path)
            if (status, body) != (want_status, want_body):
                errors.append(f"{path} through HAProxy answered {status} {body!r}, expected the gateway's own {want_status} {want_body!r}")
        status, body = get(chat_port, "/metrics")
        if status != 404 or '"NOT_FOUND"' not in body:
            errors.append(f"/metrics through HAProxy answered {status} {body[:80]!r}, expected 404 NOT_FOUND JSON")

        # 5. no ready node in the active backend: the gateway is not ready
        for server in active:
            nodes[server].ready = False
        time.sleep(0.6)
        status, body = get(chat_port, "/readyz")
        if status != 503:
            errors.append(f"/readyz with no ready node in {default_backend} answered {status} {body!r}, expected 503")
        for server in active:
            nodes[server].ready = True
        time.sleep(0.6)
        status, _ = get(chat_port, "/readyz")
        if status != 200:
            errors.append(f"/readyz once the nodes of {default_backend} were ready again answered {status}, expected 200")

        # 6. per client address limits: past the connection count, 429 for the newcomer only
        if limit:
            max_conns = int(limit.group(1))
            held = [socket.create_connection(("127.0.0.1", chat_port)) for _ in range(max_conns)]
            try:
                # A request on every held connection first: create_connection returns once the kernel
                # has the connection, before HAProxy's threads have accepted and counted it, so without
                # this the newcomer can be counted before the last held ones (seen in CI).
                for conn in held:
                    status, _, _ = raw_get(conn, "/socket.io/?EIO=4&transport=polling")
                    if status != 200:
                        errors.append(f"a connection within the address's limit of {max_conns} got {status}")
                extra = socket.create_connection(("127.0.0.1", chat_port))
                status, headers, body = raw_get(extra, "/socket.io/?EIO=4&transport=polling")
                if status != 429 or "retry-after" not in headers or '"RATE_LIMITED"' not in body:
                    errors.append(f"connection {max_conns + 1} of one address got {status} {headers} {body[:80]!r}, expected 429 + Retry-After")
                extra.close()
                probe = socket.create_connection(("127.0.0.1", chat_port))
                status, _, body = raw_get(probe, "/readyz")
                if (status, body) != (200, "ready"):
                    errors.append(f"/readyz from an address over its limit answered {status} {body!r}, expected 200 ready")
                status, _, _ = raw_get(held[0], "/socket.io/?EIO=4&transport=polling")
                if status != 200:
                    errors.append(f"a connection held before the address went over its limit got {status}")
                probe.close()
            finally:
                for conn in held:
                    conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for node in nodes.values():
            node.shutdown()

    for e in errors:
        print(f"ERROR {name}: {e}")
    if errors:
        sys.exit(1)
    print(f"  {name}: haproxy routed sid -> pod for {len(nodes)} live pods in {len(backends)} backend(s); "
          f"new sessions -> {default_backend}{' + canary' if canary else ''}; draining pod kept its sessions; "
          f"/healthz, /readyz (200 and 503) answered by the gateway, /metrics 404; server maxconn "
          f"{server_maxconn.group(1) if server_maxconn else '-'}"
          f"{f', client limit {limit.group(1)} connections: 429 past it, /readyz and held connections served' if limit else ', no client limits'}")


if __name__ == "__main__":
    main()
