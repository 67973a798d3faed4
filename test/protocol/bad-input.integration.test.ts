/**
 * Hostile and malformed input through the gateway: every client event with malformed payloads
 * (BAD_REQUEST, never a crash or a silent drop), oversized text and meta (TOO_LARGE), rooms
 * outside the claim (FORBIDDEN), the socket.io parser payloads of CVE-2023-32695, CVE-2022-2421
 * and CVE-2024-38355 as raw frames, packets above the engine's size limit, hostile REST bodies,
 * and the Origin allow-list (CHAT_ALLOWED_ORIGINS). After each group: no node exited, /readyz is
 * still 200, and watchers in other rooms (one per node) received nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startTestCluster, type TestCluster } from "../fixture.js";
import { assertClusterAlive, assertError, assertOk, uniqueTag, Watcher, type Ack, type ErrorCode } from "./helpers.js";
import { pollingHandshake } from "./polling.js";
import { RawEngineSocket } from "./raw-engine.js";

const tag = uniqueTag();
const user = (name: string) => `${name}-${tag}`;
const room = `bad-${tag}`;
const ALLOWED_ORIGIN = "https://chat.example";

let cluster: TestCluster;
let watchers: Watcher[];
before(async () => {
  // The suite fires hundreds of malformed events as one user at once; the per-user event budget
  // (a limit of its own, tested in test/limits/) would answer them RATE_LIMITED before validation.
  cluster = await startTestCluster({
    nodeCount: 2,
    env: { CHAT_ALLOWED_ORIGINS: `${ALLOWED_ORIGIN},https://other.example`, CHAT_EVENT_BURST: "5000" },
  });
  // Two watchers, each in a room of its own; handshakes alternate between the nodes.
  watchers = [
    await Watcher.start(cluster, user("watcher-1"), `watch-1-${tag}`),
    await Watcher.start(cluster, user("watcher-2"), `watch-2-${tag}`),
  ];
});
after(async () => cluster?.stop());

/** A raw, authenticated socket of a user whose claim names `rooms`. */
async function hostile(rooms: string[] = [room]): Promise<RawEngineSocket> {
  return RawEngineSocket.connect(cluster.url, await cluster.token(user("hostile"), rooms));
}

async function afterwards(what: string): Promise<void> {
  await assertClusterAlive(cluster);
  for (const watcher of watchers) await watcher.assertQuiet(what);
}

// A raw frame lets us send exactly "no payload" and other shapes socket.io-client would not.
const NO_PAYLOAD = Symbol("no payload");
type Payload = unknown;

const badRooms: [string, Payload][] = [
  ["no payload", NO_PAYLOAD],
  ["null", null],
  ["a string", "room"],
  ["a number", 42],
  ["true", true],
  ["an array", []],
  ["an array of a valid payload", [{ room }]],
  ["{}", {}],
  ["room: number", { room: 5 }],
  ["room: null", { room: null }],
  ["room: array", { room: [room] }],
  ["room: object", { room: { $gt: "" } }],
  ["room: empty", { room: "" }],
  ["room with a space", { room: "a b" }],
  ["room with a slash", { room: "a/b" }],
  ["room with a pipe", { room: "a|b" }],
  ["room with non-ASCII", { room: "zimmer-ü" }],
  ["room of 129 characters", { room: "r".repeat(129) }],
];

/** Nesting depth of the deep-meta case: deep enough to overflow a recursive JSON.stringify, under the 64 KB packet limit. */
const DEEP = 5000;
const hugeNumbers = [1e300, Number.MAX_SAFE_INTEGER + 2, -1, 1.5, -0.5];
const malformed: Record<string, [string, Payload][]> = {
  join: [
    ...badRooms,
    ...hugeNumbers.map((since): [string, Payload] => [`since: ${since}`, { room, since }]),
    ["since: string", { room, since: "3" }],
    ["since: object", { room, since: {} }],
    ["since: true", { room, since: true }],
  ],
  leave: badRooms,
  send: [
    ...badRooms.map(([what, payload]): [string, Payload] => [
      what,
      typeof payload === "object" && payload !== null && !Array.isArray(payload) ? { clientId: "c", text: "t", ...payload } : payload,
    ]),
    ["missing clientId", { room, text: "t" }],
    ["missing text", { room, clientId: "c" }],
    ["clientId: number", { room, clientId: 5, text: "t" }],
    ["clientId: empty", { room, clientId: "", text: "t" }],
    ["clientId: null", { room, clientId: null, text: "t" }],
    ["clientId: object", { room, clientId: { a: 1 }, text: "t" }],
    ["text: number", { room, clientId: "c", text: 5 }],
    ["text: null", { room, clientId: "c", text: null }],
    ["text: array", { room, clientId: "c", text: ["t"] }],
    ["text: object", { room, clientId: "c", text: { toString: "x" } }],
    ["meta: string", { room, clientId: "c", text: "t", meta: "m" }],
    ["meta: array", { room, clientId: "c", text: "t", meta: [1] }],
    ["meta: number", { room, clientId: "c", text: "t", meta: 5 }],
    ["clientId of 65 characters", { room, clientId: "c".repeat(65), text: "t" }],
  ],
  history: [
    ...badRooms,
    ...hugeNumbers.map((beforeSeq): [string, Payload] => [`beforeSeq: ${beforeSeq}`, { room, beforeSeq }]),
    ...[...hugeNumbers, 0, 101].map((limit): [string, Payload] => [`limit: ${limit}`, { room, limit }]),
    ["limit: string", { room, limit: "10" }],
    ["beforeSeq: string", { room, beforeSeq: "10" }],
  ],
  typing: badRooms,
  presence: badRooms,
  read: [
    ...badRooms.map(([what, payload]): [string, Payload] => [
      what,
      typeof payload === "object" && payload !== null && !Array.isArray(payload) ? { seq: 1, ...payload } : payload,
    ]),
    ["missing seq", { room }],
    ...hugeNumbers.map((seq): [string, Payload] => [`seq: ${seq}`, { room, seq }]),
    ["seq: string", { room, seq: "2" }],
    ["seq: null", { room, seq: null }],
  ],
  rooms: [
    ["a string", "rooms"],
    ["a number", 42],
    ["an array", []],
    ["true", true],
  ],
};

describe("malformed payloads: BAD_REQUEST on every event", () => {
  for (const [event, cases] of Object.entries(malformed)) {
    test(`${event}: ${cases.length} malformed payloads`, async () => {
      const socket = await hostile([`*`]);
      let ackId = 0;
      for (const [what, payload] of cases) {
        ackId++;
        const from = socket.frames.length;
        socket.send(payload === NO_PAYLOAD ? `42${ackId}${JSON.stringify([event])}` : `42${ackId}${JSON.stringify([event, payload])}`);
        const frame = await socket.next((f) => f.startsWith(`43${ackId}[`), 10_000, from);
        const ack = (JSON.parse(frame.slice(`43${ackId}`.length)) as unknown[])[0];
        assertError(ack, "BAD_REQUEST", `${event} with ${what}`);
      }
      // The socket is still usable after all of it.
      assertOk((await socket.request(++ackId, "join", { room })) as Ack, "a valid join after the malformed ones");
      socket.close();
      await afterwards(`${event} malformed payloads`);
    });
  }

  test("extra arguments and a payload split over several arguments are handled, not crashed on", async () => {
    const socket = await hostile();
    socket.send(`421${JSON.stringify(["join", { room }, "extra", 42])}`);
    const frame = await socket.next((f) => f.startsWith("431["));
    const ack = (JSON.parse(frame.slice(3)) as Ack[])[0]!;
    assert.ok(ack.ok === true || ack.error.code === "BAD_REQUEST", `join with extra arguments: ${frame}`);
    socket.close();
    await afterwards("extra arguments");
  });
});

describe("oversized input", () => {
  test("text above 4000 characters and meta above 2 KB are TOO_LARGE, however large, up to the packet limit", async () => {
    const socket = await hostile();
    const cases: [string, Record<string, unknown>, ErrorCode][] = [
      ["text of 4001", { room, clientId: "t1", text: "a".repeat(4001) }, "TOO_LARGE"],
      ["text of 50 000", { room, clientId: "t2", text: "a".repeat(50_000) }, "TOO_LARGE"],
      ["text of 4001 multi-byte characters", { room, clientId: "t3", text: "é".repeat(4001) }, "TOO_LARGE"],
      ["meta of 3 KB", { room, clientId: "m1", text: "x", meta: { k: "x".repeat(3000) } }, "TOO_LARGE"],
      [
        "meta of many keys",
        { room, clientId: "m2", text: "x", meta: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i])) },
        "TOO_LARGE",
      ],
    ];
    let ackId = 0;
    for (const [what, payload, code] of cases) assertError(await socket.request(++ackId, "send", payload), code, what);

    // Nothing was stored.
    const page = (await socket.request(++ackId, "history", { room })) as Ack<{ messages: { clientId: string }[] }>;
    assert.deepEqual(
      assertOk(page).messages.filter((m) => /^(t\d|m\d)$/.test(m.clientId)),
      [],
    );
    socket.close();
    await afterwards("oversized input");
  });

  test("meta nested 5000 levels deep (within the packet limit) is TOO_LARGE or BAD_REQUEST, never INTERNAL, on the socket and on REST", async () => {
    const nested = `${'{"a":'.repeat(DEEP)}1${"}".repeat(DEEP)}`;
    const socket = await hostile();
    socket.send(`421["send",{"room":"${room}","clientId":"deep","text":"x","meta":${nested}}]`);
    const frame = await socket.next((f) => f.startsWith("431["));
    const ack = (JSON.parse(frame.slice(3)) as Ack[])[0]!;
    assert.ok(!ack.ok && ["TOO_LARGE", "BAD_REQUEST"].includes(ack.error.code), `socket: ${frame.slice(0, 200)}`);
    socket.close();
    const token = await cluster.token(user("deep-rest"), [room]);
    const answer = await cluster.http(`/api/rooms/${room}/messages`, {
      method: "POST",
      token,
      body: `{"clientId":"deep","text":"x","meta":${nested}}`,
    });
    assert.ok([400, 413].includes(answer.status), `REST: ${answer.status} ${answer.text.slice(0, 200)}`);
    await afterwards("deeply nested meta");
  });

  test("a packet above the engine's size limit closes that connection only", async () => {
    const socket = await hostile();
    socket.send(`421["send",{"room":"${room}","clientId":"huge","text":"${"a".repeat(2_000_000)}"}]`);
    await socket.closedWithin(10_000);
    await afterwards("a 2 MB packet");
  });
});

describe("rooms outside the claim", () => {
  test("FORBIDDEN on every event, nothing reaches the room", async () => {
    const socket = await hostile([room]);
    const target = `watch-1-${tag}`;
    let ackId = 0;
    for (const [event, payload] of [
      ["join", { room: target }],
      ["send", { room: target, clientId: "x", text: "intrusion" }],
      ["history", { room: target }],
      ["typing", { room: target }],
      ["presence", { room: target }],
      ["read", { room: target, seq: 1 }],
      ["send", { room: "dm:aaa:zzz", clientId: "y", text: "not my DM" }],
      ["leave", { room: target }],
    ] as const) {
      assertError(await socket.request(++ackId, event, payload), "FORBIDDEN", `${event} ${JSON.stringify(payload)}`);
    }
    socket.close();
    await afterwards("rooms outside the claim");
  });
});

/**
 * Packets the socket.io parser refuses are not events, so there is no ack to answer: socket.io
 * closes that connection ("the documented error" for an undecodable packet), and nothing else.
 * Packets it accepts but no handler owns (an event named "error") must leave the socket working.
 */
describe("socket.io parser CVE payloads, as raw frames", () => {
  const closes: [string, (string | Buffer)[]][] = [
    // CVE-2023-32695 (GHSA-cqmj-92xf-r6r9), socket.io-parser "check the format of the event name":
    // an event name that is not a string made the server throw.
    ['CVE-2023-32695: 42[{"toString":"foo"}]', ['42[{"toString":"foo"}]']],
    ['CVE-2023-32695: 42[true,"foo"]', ['42[true,"foo"]']],
    ['CVE-2023-32695: 42[null,"bar"]', ['42[null,"bar"]']],
    // CVE-2022-2421 (GHSA-qm95-pgcg-qqfq): a placeholder whose index is not a number.
    [
      'CVE-2022-2421: 451-["hello",{"_placeholder":true,"num":"splice"}] + binary',
      ['451-["hello",{"_placeholder":true,"num":"splice"}]', Buffer.from("world")],
    ],
    ["CVE-2022-2421: placeholder index out of range", ['451-["hello",{"_placeholder":true,"num":7}]', Buffer.from("world")]],
    // Attachment counts the parser refuses ("Illegal attachments", "too many attachments").
    ["attachments: 45 without a count", ['45["hello"]']],
    ["attachments: 450-", ['450-["hello"]']],
    ["attachments: 45a-", ['45a-["hello"]']],
    ["attachments: 451.23-", ['451.23-["hello"]']],
    ["attachments: 4599999999-", ['4599999999-["hello"]']],
    ["text while a binary packet is pending", ['451-["hello",{"_placeholder":true,"num":0}]', '42["join",{}]']],
    ["binary without a pending packet", [Buffer.from([1, 2, 3])]],
    ["truncated JSON", ['442["some","data"']],
    ["reserved event connect", ['42["connect"]']],
    ["reserved event disconnect", ['42["disconnect","123"]']],
    ["reserved event newListener", ['42["newListener","x"]']],
    ["reserved event removeListener", ['42["removeListener","join"]']],
    ["unknown packet type", ["49"]],
  ];
  const survives: [string, string][] = [
    // CVE-2024-38355 (GHSA-25hc-qcg6-38wj): an event named "error" emitted "error" on the
    // server-side socket with no listener, an uncaught exception. Published payload: 42["error"].
    ['CVE-2024-38355: 42["error"]', '42["error"]'],
    ['CVE-2024-38355: 42["error","boom"]', '42["error","boom"]'],
    ['CVE-2024-38355 with an ack id: 4299["error",{}]', '4299["error",{}]'],
    ["an ack for an ack id the server never sent", '43999["x"]'],
    ["an ack id beyond 2^53", `4212345678901234567890${JSON.stringify(["history", { room }])}`],
    ["event __proto__", '42["__proto__",{}]'],
    ["event constructor", '42["constructor",{}]'],
    ["event hasOwnProperty", '42["hasOwnProperty",{}]'],
  ];

  for (const [what, frames] of closes) {
    test(`${what}: that connection is closed, the node stays up`, async () => {
      const socket = await hostile();
      for (const frame of frames) socket.send(frame);
      await socket.closedWithin(10_000);
      await afterwards(what);
    });
  }

  for (const [what, frame] of survives) {
    test(`${what}: ignored, the socket keeps working`, async () => {
      const socket = await hostile();
      socket.send(frame);
      assertOk((await socket.request(1, "join", { room })) as Ack, `a join after ${what}`);
      assert.ok(socket.isOpen);
      socket.close();
      await afterwards(what);
    });
  }

  test("engine-level garbage frames: the connection is closed or keeps answering, as each frame calls for", async () => {
    // What each frame does on this server, pinned: a frame the engine cannot parse (empty, an
    // unknown packet type, a socket.io packet it cannot decode) or a socket.io DISCONNECT ends
    // the connection; the rest (a stray OPEN or CLOSE, a NOOP, an UPGRADE, a probe, a CONNECT to
    // a namespace that does not exist) is ignored and the socket goes on answering. A hang is
    // neither, and an error ack to the join is a failure too.
    const expected: [frame: string, outcome: "closed" | "answers"][] = [
      ["", "closed"],
      ["9", "closed"],
      ["x", "closed"],
      ["0", "answers"],
      ["1", "answers"],
      ["6", "answers"],
      ["4", "closed"],
      ["40/nowhere,{}", "answers"],
      ["41", "closed"],
      ["3probe", "answers"],
      ["5", "answers"],
    ];
    const seen: [string, string][] = [];
    for (const [frame] of expected) {
      const socket = await hostile();
      socket.send(frame);
      const outcome = await socket.request(1, "join", { room }, 5000).then(
        (ack) => {
          assertOk(ack as Ack, `a join after the frame ${JSON.stringify(frame)}`);
          assert.ok(socket.isOpen);
          return "answers";
        },
        (error: unknown) => {
          // A closed connection rejects the request; a timeout on an open one is a hang.
          if (socket.isOpen) throw error;
          return "closed";
        },
      );
      seen.push([frame, outcome]);
      socket.close();
    }
    assert.deepEqual(seen, expected);
    await afterwards("engine-level garbage");
  });

  test("a binary attachment where a string is expected is BAD_REQUEST", async () => {
    const socket = await hostile();
    socket.send(`451-7["send",{"room":"${room}","clientId":{"_placeholder":true,"num":0},"text":"x"}]`);
    socket.send(Buffer.from("binary clientId"));
    const frame = await socket.next((f) => f.startsWith("437["));
    assertError((JSON.parse(frame.slice(3)) as unknown[])[0], "BAD_REQUEST", "binary clientId");
    socket.close();
    await afterwards("binary clientId");
  });

  test("an unknown event with an ack gets BAD_REQUEST, not a timeout", async () => {
    const socket = await hostile();
    assertError(await socket.request(1, "no-such-event", { room }, 3000), "BAD_REQUEST", "unknown event");
    socket.close();
    await afterwards("unknown event");
  });
});

describe("hostile REST input", () => {
  test("bodies that are not what they claim: 4xx JSON errors, no crash", async () => {
    const token = await cluster.token(user("rest-hostile"), [room]);
    const path = `/api/rooms/${room}/messages`;
    const cases: [string, string | undefined, number[]][] = [
      ["not JSON", "{", [400]],
      ["JSON null", "null", [400]],
      ["JSON string", '"text"', [400]],
      ["deeply nested array", `${"[".repeat(10_000)}${"]".repeat(10_000)}`, [400]],
      ["Latin-1 garbage", "\xff\xfe{", [400]],
      ["2 MB", JSON.stringify({ clientId: "big", text: "a".repeat(2_000_000) }), [413]],
      ["no body", undefined, [400]],
    ];
    for (const [what, body, statuses] of cases) {
      const answer = await cluster.http(path, { method: "POST", token, body });
      assert.ok(
        statuses.includes(answer.status),
        `${what}: ${answer.status} ${answer.text.slice(0, 200)}, expected ${statuses.join(" or ")}`,
      );
      assert.equal(typeof answer.body?.error?.code, "string", `${what}: error JSON`);
    }
    await afterwards("hostile REST input");
  });
});

describe("Origin allow-list (CHAT_ALLOWED_ORIGINS)", () => {
  test("an origin in the list may connect over WebSocket and polling", async () => {
    const polling = await pollingHandshake(cluster.url, { origin: ALLOWED_ORIGIN });
    assert.equal(polling.status, 200, polling.body);
    assert.ok(polling.body.startsWith("0{"), polling.body);
    const socket = await RawEngineSocket.connect(cluster.url, await cluster.token(user("origin-ok"), [room]), {
      headers: { origin: ALLOWED_ORIGIN },
    });
    assertOk((await socket.request(1, "join", { room })) as Ack);
    socket.close();
    // socket.io-client over polling, with the allowed Origin on every request.
    const client = await cluster.client(await cluster.token(user("origin-client"), [room]), {
      transports: ["polling"],
      extraHeaders: { origin: ALLOWED_ORIGIN },
    });
    assert.equal(client.connected, true);
    client.disconnect();
  });

  test("any other origin is refused, the gateway's own and 'null' included; no Origin (non-browser) is accepted", async () => {
    for (const origin of [
      "https://evil.example",
      "https://chat.example.evil.example",
      "http://chat.example",
      new URL(cluster.url).origin,
      "null",
    ]) {
      const upgrade = await RawEngineSocket.upgrade(cluster.url, { headers: { origin } });
      assert.equal(upgrade.kind, "refused", `WebSocket upgrade from ${origin}`);
      const polling = await pollingHandshake(cluster.url, { origin });
      assert.ok(polling.status >= 400 && polling.status < 500, `polling from ${origin}: ${polling.status} ${polling.body}`);
    }
    const socket = await RawEngineSocket.connect(cluster.url, await cluster.token(user("no-origin"), [room]));
    assertOk((await socket.request(1, "join", { room })) as Ack);
    socket.close();
    await afterwards("foreign origins");
  });
});
