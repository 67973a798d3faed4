/**
 * A load generator process: many websocket clients speaking the wire protocol by hand, driven
 * over IPC by the bench (see protocol.ts). It runs apart from the servers so that their CPU
 * time is theirs alone. Every delivery is decoded for its room and seq and counted by
 * deliveries.ts: once per (client, room, seq), repeats and misrouted ones apart.
 *
 * socket.io framing (Engine.IO v4 + socket.io v4, default JSON parser): server "0{…}" opens,
 * client "40{auth}" connects, server "40{sid}" confirms (or "44{…}" refuses), "2" ping → "3"
 * pong, "42[event,…]" is an event, client "42<id>[…]" an event with ack, server "43<id>[…]" the ack.
 *
 * Centrifugo's clients are centrifuge-js itself (centrifugo-clients.ts), not a hand-written framing.
 */
import { WebSocket, type RawData } from "ws";
import { uuidV7 } from "../../client/client-id.js";
import { nthChange, parseChangeAck } from "./changes.js";
import {
  isCentrifugoOpen,
  openCentrifugoClient,
  publishCentrifugo,
  subscribeCentrifugo,
  type CentrifugoClient,
} from "./centrifugo-clients.js";
import {
  DeliveryCounter,
  newMemberships,
  parseSendAck,
  parseSocketIoEvent,
  parseUwsMessage,
  type Memberships,
  type ParsedEvent,
} from "./deliveries.js";
import {
  ACK_TIMEOUT_IN_MS,
  type ChangeReceipt,
  type ChangeTarget,
  type GeneratorAnswer,
  type GeneratorCommand,
  type Receipt,
  type SendPlan,
  type SendResult,
  type WireKind,
} from "./protocol.js";

/** An ack's JSON array text, or why there is none. */
type AckReply = { reply: string } | { failure: "TIMEOUT" | "CLOSED" };

/** A socket.io or raw uWS client, spoken to by hand. */
interface WsClient {
  ws: WebSocket;
  kind: "socketio" | "uws";
  nextAckId: number;
  pending: Map<number, (reply: AckReply) => void>;
  rooms: Memberships;
}

type Client = WsClient | CentrifugoClient;

function isOpen(client: Client): boolean {
  return client.kind === "centrifugo" ? isCentrifugoOpen(client) : client.ws.readyState === WebSocket.OPEN;
}

const clients: Client[] = [];
const counter = new DeliveryCounter();
let recording = false;
let e2eLatencies: number[] = [];

const CHAR_0 = 0x30;
const CHAR_2 = 0x32;
const CHAR_3 = 0x33;
const CHAR_4 = 0x34;
const CHAR_M = 0x6d;
const CHAR_J = 0x6a;

function nowInMs(): number {
  // CLOCK_MONOTONIC: the same clock in every process on the machine, so a send time written
  // by one generator can be compared with a receive time taken by another.
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The text of a benchmark message: its send time, padded to `bytes`. */
function messageText(bytes: number): string {
  const head = `${process.hrtime.bigint()}|`;
  return head + "x".repeat(Math.max(0, bytes - head.length));
}

function recordE2e(text: string): void {
  const match = /^(\d{6,})\|/.exec(text);
  // A counted delivery without a send time is tallied as malformed: the latency sample set
  // must hold one sample per counted delivery.
  if (match) e2eLatencies.push(nowInMs() - Number(BigInt(match[1]!)) / 1e6);
  else counter.malformed();
}

function onDelivery(client: Client, event: ParsedEvent): void {
  if (event.kind === "malformed") counter.malformed();
  else if (event.kind === "other") counter.otherEvent();
  else if (counter.deliver(client.rooms, event.room, event.seq) && recording) recordE2e(event.text);
}

function onSocketIoFrame(client: WsClient, data: Buffer, token: string | undefined, connected: (error?: string) => void): void {
  const type = data[0];
  if (type === CHAR_4) {
    const packet = data[1];
    if (packet === CHAR_2) {
      onDelivery(client, parseSocketIoEvent(data.toString("utf8", 2)));
    } else if (packet === CHAR_3) {
      const text = data.toString();
      const bracket = text.indexOf("[");
      const id = Number(text.slice(2, bracket));
      const resolve = client.pending.get(id);
      if (resolve) {
        client.pending.delete(id);
        resolve({ reply: text.slice(bracket) });
      }
    } else if (packet === CHAR_0) {
      connected();
    } else if (packet === CHAR_4) {
      connected(`connect_error ${data.toString().slice(2, 200)}`);
    }
  } else if (type === CHAR_2) {
    client.ws.send("3");
  } else if (type === CHAR_0) {
    client.ws.send(token ? `40${JSON.stringify({ token })}` : "40");
  }
}

function onUwsFrame(client: WsClient, data: Buffer): void {
  if (data[0] === CHAR_M) {
    onDelivery(client, parseUwsMessage(data.toString()));
  } else if (data[0] === CHAR_J) {
    const resolve = client.pending.get(0);
    client.pending.delete(0);
    resolve?.({ reply: '[{"ok":true}]' });
  }
}

function openClient(kind: WireKind, url: string, token: string | undefined, localAddress: string | undefined): Promise<Client> {
  if (kind === "centrifugo") return openCentrifugoClient(url, token, localAddress, newMemberships());
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
    const client: WsClient = { ws, kind, nextAckId: 1, pending: new Map(), rooms: newMemberships() };
    let settled = false;
    const connected = (error?: string) => {
      if (settled) return;
      settled = true;
      if (error) {
        ws.terminate();
        reject(new Error(error));
      } else resolve(client);
    };
    ws.on("message", (data: RawData) => {
      const buffer = data as Buffer;
      if (kind === "socketio") onSocketIoFrame(client, buffer, token, connected);
      else onUwsFrame(client, buffer);
    });
    ws.on("open", () => {
      if (kind === "uws") connected();
    });
    ws.on("error", (error) => connected(error.message));
    ws.on("close", () => {
      connected("closed before connecting");
      // Requests still awaiting an ack will never get one.
      for (const resolve of client.pending.values()) resolve({ failure: "CLOSED" });
      client.pending.clear();
    });
  });
}

async function connectMany(command: Extract<GeneratorCommand, { type: "connect" }>): Promise<GeneratorAnswer> {
  const first = clients.length;
  let connectedCount = 0;
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const worker = async () => {
    while (next < command.count) {
      const index = next++;
      const localAddress = command.localAddresses[index % command.localAddresses.length];
      try {
        clients.push(await openClient(command.kind, command.url, command.token, localAddress));
        connectedCount++;
      } catch (error) {
        failed++;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(command.concurrency, command.count) }, worker));
  return { type: "connected", first, connected: connectedCount, failed, firstError };
}

/** Sends an event with an ack id (socket.io); resolves with the ack, or TIMEOUT / CLOSED. */
function request(client: WsClient, event: string, payload: unknown, timeoutInMs: number): Promise<AckReply> {
  return new Promise((resolve) => {
    const id = client.nextAckId++;
    const timer = setTimeout(() => {
      client.pending.delete(id);
      resolve({ failure: "TIMEOUT" });
    }, timeoutInMs);
    client.pending.set(id, (reply) => {
      clearTimeout(timer);
      resolve(reply);
    });
    client.ws.send(`42${id}${JSON.stringify([event, payload])}`);
  });
}

/** uws: "j<room>" is echoed once subscribed (no ack ids: one join at a time per client). */
function subscribe(client: WsClient, room: string): Promise<AckReply> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.pending.delete(0);
      resolve({ failure: "TIMEOUT" });
    }, ACK_TIMEOUT_IN_MS);
    client.pending.set(0, (reply) => {
      clearTimeout(timer);
      resolve(reply);
    });
    client.ws.send(`j${room}`);
  });
}

async function joinAll(from: number, to: number, room: string): Promise<void> {
  const joins: Promise<void>[] = [];
  for (let i = from; i < to; i++) {
    const client = clients[i]!;
    if (client.kind === "centrifugo") {
      joins.push(
        subscribeCentrifugo(client, room, (event) => onDelivery(client, event)).then((failure) => {
          if (failure !== null) throw new Error(`subscribe ${room}: ${failure}`);
          counter.joined(client.rooms, room);
        }),
      );
      continue;
    }
    const join = client.kind === "socketio" ? request(client, "join", { room }, ACK_TIMEOUT_IN_MS) : subscribe(client, room);
    joins.push(
      join.then((answer) => {
        if ("failure" in answer) throw new Error(`join ${room}: ${answer.failure}`);
        if (!answer.reply.includes('"ok":true')) throw new Error(`join ${room} refused: ${answer.reply.slice(0, 200)}`);
        counter.joined(client.rooms, room);
      }),
    );
  }
  await Promise.all(joins);
}

/** A send's (or change's) outcome: a failure code, or success with the receipt when one was asked for. */
type SendOutcome = { failure: string } | { receipt: Receipt | undefined } | { changeReceipt: ChangeReceipt | undefined };

/**
 * One send; resolves with the failure code (the server's, or TIMEOUT, CLOSED, DUPLICATE: an
 * ack for a clientId never sent before cannot be a duplicate; BAD_ACK: an `ok` ack that does
 * not say which message was stored, when receipts are recorded) or success.
 * uws has no ack: sent = done. Centrifugo: the publish reply is the ack (its timeout is the client's, ACK_TIMEOUT_IN_MS).
 */
function sendOne(client: Client, room: string, textBytes: number, ackTimeoutInMs: number, withReceipt: boolean): Promise<SendOutcome> {
  const text = messageText(textBytes);
  const outcome = (failure: string | null): SendOutcome => (failure === null ? { receipt: undefined } : { failure });
  if (client.kind === "centrifugo") return publishCentrifugo(client, room, text).then(outcome);
  if (client.kind === "uws") {
    client.ws.send(`s${room}|${text}`);
    return Promise.resolve(outcome(null));
  }
  // A recent UUIDv7, as the SDK makes: the server answers retries from Redis alone (docs/protocol.md).
  const clientId = uuidV7();
  return request(client, "send", { room, clientId, text }, ackTimeoutInMs).then((answer): SendOutcome => {
    if ("failure" in answer) return { failure: answer.failure };
    if (!answer.reply.includes('"ok":true')) return { failure: /"code":"([A-Z_]+)"/.exec(answer.reply)?.[1] ?? "UNKNOWN" };
    if (answer.reply.includes('"duplicate":true')) return { failure: "DUPLICATE" };
    if (!withReceipt) return { receipt: undefined };
    const receipt = parseSendAck(room, answer.reply);
    return receipt === null ? { failure: "BAD_ACK" } : { receipt };
  });
}

/** This generator's changes so far: picks each change's target, kind and emoji (load/changes.ts). */
let changesIssued = 0;

/**
 * One change (our server only): an edit or a reaction to one of `targets`, with a fresh UUIDv7
 * clientId as the SDK makes; resolves with the failure code (the server's, TIMEOUT, CLOSED,
 * DUPLICATE, BAD_ACK) or success with the receipt when one was asked for.
 */
function changeOne(
  client: Client,
  changes: { targets: ChangeTarget[]; by: string },
  textBytes: number,
  ackTimeoutInMs: number,
  withReceipt: boolean,
): Promise<SendOutcome> {
  if (client.kind !== "socketio") return Promise.resolve({ failure: "NO_CHANGES" });
  const change = nthChange(changesIssued++, changes.targets, changes.by, uuidV7(), textBytes);
  return request(client, change.event, change.payload, ackTimeoutInMs).then((answer): SendOutcome => {
    if ("failure" in answer) return { failure: answer.failure };
    const ack = parseChangeAck(answer.reply);
    if ("failure" in ack) return { failure: ack.failure };
    return { changeReceipt: withReceipt ? { ...change.receipt, seq: ack.seq, ts: ack.ts } : undefined };
  });
}

async function runSends(plan: SendPlan): Promise<SendResult> {
  const senders = clients.slice(plan.from, plan.to);
  if (senders.length === 0) throw new Error("no senders in range");
  const result: SendResult = { sent: 0, acked: 0, failed: 0, failures: {}, elapsedInMs: 0, ackLatenciesInMs: [] };
  if (plan.recordReceipts) {
    if (plan.changes) result.changeReceipts = [];
    else result.receipts = [];
  }
  const outstanding = new Set<Promise<void>>();
  const started = nowInMs();
  const deadline = started + plan.durationInMs;

  const fire = (senderIndex: number): Promise<void> => {
    const sentAt = nowInMs();
    result.sent++;
    const sender = senders[senderIndex]!;
    const ackTimeoutInMs = plan.ackTimeoutInMs ?? ACK_TIMEOUT_IN_MS;
    const withReceipt = plan.recordReceipts === true;
    const issued = plan.changes
      ? changeOne(sender, plan.changes, plan.textBytes, ackTimeoutInMs, withReceipt)
      : sendOne(sender, plan.rooms[senderIndex % plan.rooms.length]!, plan.textBytes, ackTimeoutInMs, withReceipt);
    const done = issued.then((outcome) => {
      if (!("failure" in outcome)) {
        result.acked++;
        if (plan.recordAckLatency) result.ackLatenciesInMs.push(nowInMs() - sentAt);
        if ("receipt" in outcome && outcome.receipt) result.receipts?.push(outcome.receipt);
        if ("changeReceipt" in outcome && outcome.changeReceipt) result.changeReceipts?.push(outcome.changeReceipt);
      } else {
        result.failed++;
        result.failures[outcome.failure] = (result.failures[outcome.failure] ?? 0) + 1;
      }
    });
    outstanding.add(done);
    void done.then(() => outstanding.delete(done));
    return done;
  };

  if (plan.inFlightPerSender !== undefined) {
    const loop = async (senderIndex: number) => {
      while (nowInMs() < deadline) await fire(senderIndex);
    };
    await Promise.all(senders.flatMap((_, i) => Array.from({ length: plan.inFlightPerSender! }, () => loop(i))));
  } else {
    const rate = plan.ratePerSecond ?? 0;
    let fired = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = nowInMs();
        const due = Math.min(Math.floor(((now - started) * rate) / 1000), Math.floor((plan.durationInMs * rate) / 1000));
        while (fired < due) void fire(fired++ % senders.length);
        if (now >= deadline) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    await Promise.all(outstanding);
  }
  result.elapsedInMs = nowInMs() - started;
  return result;
}

async function handle(command: GeneratorCommand): Promise<GeneratorAnswer> {
  switch (command.type) {
    case "connect":
      return connectMany(command);
    case "join":
      await joinAll(command.from, command.to, command.room);
      return { type: "done" };
    case "count":
      return { type: "count", tally: counter.tally(clients.filter(isOpen).length, clients.length) };
    case "reset":
      counter.startWindow(command.rooms);
      return { type: "done" };
    case "record":
      recording = command.on;
      return { type: "done" };
    case "collect": {
      const latenciesInMs = e2eLatencies;
      e2eLatencies = [];
      return { type: "collected", latenciesInMs };
    }
    case "send":
      return { type: "sent", result: await runSends(command.plan) };
    case "close":
      for (const client of clients.splice(0)) {
        if (client.kind === "centrifugo") client.centrifuge.disconnect();
        else client.ws.terminate();
      }
      return { type: "done" };
  }
}

process.on("message", (message: { id: number; command: GeneratorCommand }) => {
  handle(message.command).then(
    (answer) => process.send?.({ id: message.id, answer }),
    (error: unknown) => process.send?.({ id: message.id, error: (error as Error).message ?? String(error) }),
  );
});
process.on("disconnect", () => process.exit(0));
