/**
 * The web chat at `/` in headless Chromium (Debian's, driven by puppeteer-core) against the
 * real cluster (two nodes, HAProxy, Redis, Cassandra): two users sign in with the dev sign-in
 * and chat; one loses the network (DevTools network emulation), sends five messages, reloads
 * the page with the chat server still unreachable, then comes back: both pages end with every
 * message once, in seq order, and the server holds each once.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "puppeteer-core";
import { mintToken } from "../../scripts/lib/tokens.js";
import { DEV_JWT_SECRET } from "../../server/http/dev-sign-in.js";
import type { TestCluster } from "../fixture.js";
import { uniqueTag } from "../protocol/helpers.js";
import { connected, say, signedIn as signedInAs, startWebChat, WAIT_MS } from "./web-chat-session.js";

/** What the functions run in the page use of the DOM (the repository compiles without the DOM library). */
interface PageNode {
  textContent: string | null;
  hidden: boolean;
  value: string;
  dataset: Record<string, string | undefined>;
  querySelector(selector: string): PageNode | null;
}
declare const document: { querySelectorAll(selector: string): ArrayLike<PageNode>; getElementById(id: string): PageNode | null };

const tag = uniqueTag();
const room = `web-${tag}`;
const alice = `alice-${tag}`;
const bob = `bob-${tag}`;

let cluster: TestCluster;
let browser: Browser;
before(async () => {
  ({ cluster, browser } = await startWebChat());
});
after(async () => {
  await browser?.close();
  await cluster?.stop();
});

const signedIn = (user: string) => signedInAs(browser, cluster, room, user);

/** The delivered messages the page shows, in order: seq and text. */
function shown(page: Page): Promise<{ seq: number; text: string }[]> {
  return page.$$eval("#messages li[data-seq]", (items) =>
    items.map((item) => ({
      seq: Number((item as unknown as PageNode).dataset["seq"]),
      text: (item as unknown as PageNode).querySelector(".text")?.textContent ?? "",
    })),
  );
}

/** Waits until the page shows exactly these texts as delivered messages, nothing pending. */
async function waitForMessages(page: Page, texts: string[]): Promise<void> {
  await page
    .waitForFunction(
      (expected: string[]) => {
        const got = Array.from(document.querySelectorAll("#messages li[data-seq] .text")).map((node) => node.textContent);
        return document.querySelectorAll("#messages li.pending").length === 0 && JSON.stringify(got) === JSON.stringify(expected);
      },
      { timeout: WAIT_MS },
      texts,
    )
    .catch(async (error: unknown) => {
      throw new Error(`${String(error)}\nexpected ${JSON.stringify(texts)}\nshown ${JSON.stringify(await shown(page))}`);
    });
}

const banner = (page: Page) =>
  page.$eval("#banner", (node) => ({
    hidden: (node as unknown as PageNode).hidden,
    pending: (node as unknown as PageNode).dataset["pending"],
    offline: (node as unknown as PageNode).dataset["offline"],
    text: node.textContent,
  }));

test("two users chat; one goes offline, sends five, reloads, comes back: both converge, nothing lost, nothing twice", async () => {
  const started = Date.now();
  const alicePage = await signedIn(alice);
  const bobPage = await signedIn(bob);

  await say(alicePage, "hello from alice");
  await waitForMessages(bobPage, ["hello from alice"]);
  await say(bobPage, "hi alice");
  const online = ["hello from alice", "hi alice"];
  await waitForMessages(alicePage, online);

  // Typing and presence reach the other page.
  // Typed like a person, over more than the SDK's 2 s typing throttle (bob's last typing went with "hi alice").
  await bobPage.type("#text", "writing…", { delay: 350 });
  await alicePage.waitForFunction(
    (name: string) => document.getElementById("typing")?.textContent?.includes(name),
    { timeout: WAIT_MS },
    bob,
  );
  await bobPage.$eval("#text", (input) => ((input as unknown as PageNode).value = ""));
  await alicePage.waitForFunction(
    (name: string) => document.getElementById("presence")?.textContent?.includes(name),
    { timeout: WAIT_MS },
    bob,
  );

  // Alice loses the network (DevTools network emulation) and sends five messages.
  await alicePage.setOfflineMode(true);
  await alicePage.waitForSelector("#banner[data-offline=true]", { timeout: WAIT_MS });
  const offline = [1, 2, 3, 4, 5].map((i) => `offline ${i} from alice`);
  for (const text of offline) await say(alicePage, text);
  await alicePage.waitForSelector("#banner[data-pending='5']", { timeout: WAIT_MS });
  assert.equal((await alicePage.$$("#messages li.pending")).length, 5);

  // She reloads with the chat server still out of reach (only its socket.io requests are
  // blocked now, so the page itself loads): the five are still waiting, from IndexedDB.
  const devtools = await alicePage.createCDPSession();
  await devtools.send("Network.enable");
  await devtools.send("Network.setBlockedURLs", { urls: ["*/socket.io/*"] });
  await alicePage.setOfflineMode(false);
  await alicePage.reload();
  await alicePage.waitForSelector("#banner[data-pending='5']", { timeout: WAIT_MS });
  assert.equal((await banner(alicePage)).offline, "true", "after the reload the page is still cut off from the chat");
  assert.equal((await alicePage.$$("#messages li.pending")).length, 5, "the five are shown as waiting after the reload");
  assert.deepEqual(
    (await shown(bobPage)).map((m) => m.text),
    online,
    "bob got none of the five while alice was offline",
  );

  // Back online: the outbox sends the five (same clientIds), the room catches up on both pages.
  await devtools.send("Network.setBlockedURLs", { urls: [] });
  const everything = [...online, ...offline];
  await connected(alicePage);
  await waitForMessages(alicePage, everything);
  await waitForMessages(bobPage, everything);
  for (const page of [alicePage, bobPage]) {
    const seqs = (await shown(page)).map((m) => m.seq);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => seqs[0]! + i),
      "consecutive seqs, each once",
    );
    assert.equal((await banner(page)).hidden, true, "no banner once everything is sent");
  }

  // The server holds each message once.
  const token = await mintToken({ secret: DEV_JWT_SECRET, userId: `checker-${tag}`, rooms: [room] });
  const history = await cluster.http(`/api/rooms/${room}/messages?limit=50`, { token });
  assert.equal(history.status, 200, history.text);
  const stored = (history.body.messages as { text: string; seq: number }[]).sort((a, b) => a.seq - b.seq).map((m) => m.text);
  assert.deepEqual(stored, everything);

  const screenshot = process.env.CHAT_BROWSER_SCREENSHOT;
  if (screenshot) {
    await say(bobPage, "all five arrived, once each");
    await alicePage.type("#text", "👍");
    await waitForMessages(bobPage, [...everything, "all five arrived, once each"]);
    await bobPage.screenshot({ path: screenshot as `${string}.png` });
  }
  console.log(`browser test: converged in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test("the dev sign-in on the dev secret: a token the API accepts for a valid name, 400 for a bad one", async () => {
  const signIn = (body: string) => cluster.http("/dev/sign-in", { method: "POST", body });
  const good = await signIn(JSON.stringify({ user: `carol-${tag}` }));
  assert.equal(good.status, 200, good.text);
  assert.equal(good.body.user, `carol-${tag}`);
  const rooms = await cluster.http("/api/me/rooms", { token: good.body.token as string });
  assert.equal(rooms.status, 200, rooms.text);
  for (const bad of [JSON.stringify({ user: "no spaces allowed" }), JSON.stringify({}), "not json"]) {
    const answer = await signIn(bad);
    assert.equal(answer.status, 400, `${bad}: ${answer.text}`);
    assert.equal(answer.body.error.code, "BAD_REQUEST");
  }
});
