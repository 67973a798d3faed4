/**
 * Centrifugo's side of a load generator: real centrifuge-js clients (the SDK a team using
 * Centrifugo ships) over `ws`, one Centrifuge object per connection. A join is a subscription to
 * a channel, a send is a client-side publish whose reply is the ack, and a delivery is a
 * subscription's `publication` event, identified by its channel and its stream offset (history
 * is on, so every publication carries one).
 *
 * A client does not reconnect on its own: centrifuge-js would reconnect and recover the missed
 * publications from history, which hides a dropped connection from the bench. A client that
 * loses its connection is closed instead, so its sends fail as CLOSED and its missing
 * deliveries refuse the window, as with the hand-written socket.io and uWS clients.
 */
import { Centrifuge, errorCodes, type PublicationContext } from "centrifuge";
import { WebSocket } from "ws";
import { parseCentrifugoPublication, type Memberships, type ParsedEvent } from "./deliveries.js";
import { ACK_TIMEOUT_IN_MS } from "./protocol.js";

export interface CentrifugoClient {
  kind: "centrifugo";
  centrifuge: Centrifuge;
  rooms: Memberships;
}

type Failure = "TIMEOUT" | "CLOSED" | string;

/** ws with the options every bench client uses (no compression; the chosen source address). */
function websocketClass(localAddress: string | undefined): new (address: string, protocols?: string | string[]) => WebSocket {
  return class BenchWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { perMessageDeflate: false, localAddress });
    }
  };
}

/** Why a centrifuge-js call failed, as a failure code for the send tally. */
function failureOf(error: unknown): Failure {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === errorCodes.timeout) return "TIMEOUT";
  if (
    code === errorCodes.transportClosed ||
    code === errorCodes.clientDisconnected ||
    code === errorCodes.clientClosed ||
    code === errorCodes.connectionClosed
  )
    return "CLOSED";
  return typeof code === "number" ? `CENTRIFUGO_${code}` : "UNKNOWN";
}

export function openCentrifugoClient(
  url: string,
  token: string | undefined,
  localAddress: string | undefined,
  rooms: Memberships,
): Promise<CentrifugoClient> {
  return new Promise((resolve, reject) => {
    const centrifuge = new Centrifuge(url, { token, websocket: websocketClass(localAddress), timeout: ACK_TIMEOUT_IN_MS });
    let settled = false;
    centrifuge.on("connected", () => {
      if (settled) return;
      settled = true;
      resolve({ kind: "centrifugo", centrifuge, rooms });
    });
    centrifuge.on("connecting", () => {
      // Once connected, "connecting" means the connection dropped: close for good (see above).
      if (settled) centrifuge.disconnect();
    });
    centrifuge.on("disconnected", (ctx) => {
      if (settled) return;
      settled = true;
      reject(new Error(`disconnected before connecting: ${ctx.code} ${ctx.reason}`));
    });
    centrifuge.on("error", (ctx) => {
      if (settled) return;
      settled = true;
      centrifuge.disconnect();
      reject(new Error(`connect failed: ${ctx.error.message}`));
    });
    centrifuge.connect();
  });
}

export function isCentrifugoOpen(client: CentrifugoClient): boolean {
  return client.centrifuge.state === "connected";
}

/** Subscribes to `channel`; every publication goes to `onDelivery`. Resolves with null once subscribed, or a failure. */
export function subscribeCentrifugo(
  client: CentrifugoClient,
  channel: string,
  onDelivery: (event: ParsedEvent) => void,
): Promise<Failure | null> {
  return new Promise((resolve) => {
    const subscription = client.centrifuge.newSubscription(channel);
    let settled = false;
    const settle = (failure: Failure | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(failure);
    };
    const timer = setTimeout(() => settle("TIMEOUT"), ACK_TIMEOUT_IN_MS);
    subscription.on("publication", (ctx: PublicationContext) => onDelivery(parseCentrifugoPublication(ctx)));
    subscription.on("subscribed", () => settle(null));
    subscription.on("unsubscribed", (ctx) => settle(`UNSUBSCRIBED_${ctx.code}`));
    subscription.on("error", (ctx) => settle(`SUBSCRIBE_ERROR ${ctx.error.code} ${ctx.error.message}`));
    subscription.subscribe();
  });
}

/** One publish with `text`; resolves with null once Centrifugo acknowledged it, or a failure code. */
export function publishCentrifugo(client: CentrifugoClient, channel: string, text: string): Promise<Failure | null> {
  return client.centrifuge.publish(channel, { text }).then(
    () => null,
    (error: unknown) => failureOf(error),
  );
}
