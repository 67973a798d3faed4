/**
 * Edits, deletes and reactions in the web chat at `/`, in headless Chromium against the real
 * cluster (two nodes, HAProxy, Redis, Cassandra). Alice edits (keyboard: Enter saves, Escape
 * cancels) and deletes (with a confirmation) her own messages and reacts; Bob reacts too and
 * sees each change live. Alice then changes things offline (shown as pending, sent when she is
 * back) while Bob is offline too (he catches up on reconnect), and Bob reloads: the page drawn
 * from history shows the same. Only the author gets edit and delete buttons, the server refuses
 * a forced edit, and message text is never parsed as markup.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "puppeteer-core";
import { mintToken } from "../../scripts/lib/tokens.js";
import { DEV_JWT_SECRET } from "../../server/http/dev-sign-in.js";
import { request, type TestCluster } from "../fixture.js";
import { assertError, uniqueTag } from "../protocol/helpers.js";
import { connected, say, signedIn as signedInAs, startWebChat, WAIT_MS } from "./web-chat-session.js";

/** What the functions run in the page use of the DOM (the repository compiles without the DOM library). */
interface PageNode {
  textContent: string | null;
  dataset: Record<string, string | undefined>;
  classList: { contains(name: string): boolean };
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageNode | null;
  querySelectorAll(selector: string): ArrayLike<PageNode>;
}
declare const document: { querySelectorAll(selector: string): ArrayLike<PageNode>; activeElement: PageNode | null };
declare const window: Record<string, unknown>;

const tag = uniqueTag();
const room = `changes-${tag}`;
const alice = `alice-${tag}`;
const bob = `bob-${tag}`;
/** Markup as message text: shown as typed, never run. */
const MARKUP = `<img src=x onerror="window.injected=1">`;

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

/**
 * The delivered messages as the page shows them, one line each:
 * `from: text (edited) [👍2* ❤️1] {Edit,Delete} pending:2`; `*` marks the viewer's own
 * reaction (aria-pressed), `{…}` the message's own action buttons, a tombstone is `[deleted: …]`.
 */
function pageRows(): string[] {
  return Array.from(document.querySelectorAll("#messages li[data-seq]")).map((item) => {
    const text = item.querySelector(".text")?.textContent ?? "";
    const reactions = Array.from(item.querySelectorAll("button.reaction"))
      .filter((button) => button.dataset["count"] !== "0")
      .map((button) => `${button.dataset["emoji"]}${button.dataset["count"]}${button.getAttribute("aria-pressed") === "true" ? "*" : ""}`);
    const actions = Array.from(item.querySelectorAll(".actions button")).map((button) => button.textContent);
    return [
      `${item.querySelector(".from")?.textContent}:`,
      item.classList.contains("deleted") ? `[deleted: ${text}]` : text,
      item.querySelector(".edited-note") ? "(edited)" : "",
      reactions.length > 0 ? `[${reactions.join(" ")}]` : "",
      actions.length > 0 ? `{${actions.join(",")}}` : "",
      item.dataset["pendingChanges"] ? `pending:${item.dataset["pendingChanges"]}` : "",
    ]
      .filter(Boolean)
      .join(" ");
  });
}

const rows = (page: Page) => page.evaluate(pageRows);

/** Waits until the page shows exactly these rows. */
async function waitForRows(page: Page, expected: string[], what: string): Promise<void> {
  await page
    .waitForFunction(`JSON.stringify((${pageRows.toString()})()) === ${JSON.stringify(JSON.stringify(expected))}`, {
      timeout: WAIT_MS,
    })
    .catch(async (error: unknown) => {
      throw new Error(
        `${what}: ${String(error)}\nexpected ${JSON.stringify(expected, null, 1)}\nshown ${JSON.stringify(await rows(page), null, 1)}`,
      );
    });
}

/** The seq of the delivered message showing this text (stable across redraws, unlike element handles). */
async function seqOf(page: Page, text: string): Promise<string> {
  const seq = await page.evaluate(
    (wanted: string) =>
      Array.from(document.querySelectorAll("#messages li[data-seq]")).find((item) => item.querySelector(".text")?.textContent === wanted)
        ?.dataset["seq"],
    text,
  );
  assert.ok(seq, `a message "${text}" is shown`);
  return seq;
}

const inMessage = (seq: string, selector: string) => `#messages li[data-seq="${seq}"] ${selector}`;
/** Focuses the element in one step in the page (a handle fetched first could be of an item drawn anew meanwhile). */
const focusOn = (page: Page, selector: string) => page.$eval(selector, (node) => (node as unknown as { focus(): void }).focus());
const focused = (page: Page) => page.evaluate(() => document.activeElement?.getAttribute("aria-label") ?? null);

/** Edits by keyboard: focus the message's Edit button, Enter, replace the text, Enter. */
async function editByKeyboard(page: Page, seq: string, text: string): Promise<void> {
  await focusOn(page, inMessage(seq, `button[aria-label="Edit your message"]`));
  await page.keyboard.press("Enter");
  await page.waitForSelector(inMessage(seq, "input.edit-text"), { timeout: WAIT_MS });
  assert.match((await focused(page)) ?? "", /^Edit your message/, "the editor has the focus");
  await page.keyboard.down("Control");
  await page.keyboard.press("a");
  await page.keyboard.up("Control");
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
  await page.waitForSelector(inMessage(seq, "input.edit-text"), { hidden: true, timeout: WAIT_MS });
}

async function react(page: Page, seq: string, emoji: string): Promise<void> {
  await page.click(inMessage(seq, `button.reaction[data-emoji="${emoji}"]`));
}

test("edit, delete and react: live on the other page, pending while offline, the same after a catch-up and a reload", async () => {
  const alicePage = await signedIn(alice);
  const bobPage = await signedIn(bob);

  for (const text of ["first", "second", "third"]) await say(alicePage, text);
  await waitForRows(bobPage, [`${alice}: first`, `${alice}: second`, `${alice}: third`], "bob sees alice's three");
  await say(bobPage, MARKUP);
  const mine = "{Edit,Delete}";
  await waitForRows(
    alicePage,
    [`${alice}: first ${mine}`, `${alice}: second ${mine}`, `${alice}: third ${mine}`, `${bob}: ${MARKUP}`],
    "only the author gets edit and delete",
  );
  const first = await seqOf(alicePage, "first");
  const second = await seqOf(alicePage, "second");
  const third = await seqOf(alicePage, "third");
  const bobs = await seqOf(alicePage, MARKUP);

  // Alice edits "first" by keyboard; Escape cancels an edit of "second" without sending anything.
  await editByKeyboard(alicePage, first, "first, edited <b>not bold</b>");
  await focusOn(alicePage, inMessage(second, `button[aria-label="Edit your message"]`));
  await alicePage.keyboard.press("Enter");
  await alicePage.waitForSelector(inMessage(second, "input.edit-text"), { timeout: WAIT_MS });
  await alicePage.keyboard.type(" never sent");
  await alicePage.keyboard.press("Escape");
  await alicePage.waitForSelector(inMessage(second, "input.edit-text"), { hidden: true, timeout: WAIT_MS });
  assert.equal(await focused(alicePage), "Edit your message", "Escape gives the focus back to the Edit button");
  await waitForRows(
    bobPage,
    [`${alice}: first, edited <b>not bold</b> (edited)`, `${alice}: second`, `${alice}: third`, `${bob}: ${MARKUP} ${mine}`],
    "bob sees the edit live",
  );

  // Delete asks first: Escape keeps the message, the confirmation deletes it.
  await focusOn(alicePage, inMessage(third, `button[aria-label="Delete your message"]`));
  await alicePage.keyboard.press("Enter");
  assert.equal(await focused(alicePage), "Keep this message", "the confirmation opens on its safe choice");
  await alicePage.keyboard.press("Escape");
  assert.equal(await focused(alicePage), "Delete your message");
  await alicePage.click(inMessage(third, `button[aria-label="Delete your message"]`));
  await alicePage.click(inMessage(third, `button[aria-label="Yes, delete this message"]`));

  // Reactions from both, on both pages (each waits for the last to be shown, as a person would); alice takes hers back.
  await react(alicePage, bobs, "👍");
  await waitForRows(
    bobPage,
    [
      `${alice}: first, edited <b>not bold</b> (edited)`,
      `${alice}: second`,
      `${alice}: [deleted: message deleted]`,
      `${bob}: ${MARKUP} [👍1] ${mine}`,
    ],
    "bob sees the delete as a tombstone and alice's reaction live",
  );
  await react(bobPage, bobs, "👍");
  await bobPage.waitForSelector(inMessage(bobs, `button.reaction[data-emoji="👍"][aria-pressed="true"]`), { timeout: WAIT_MS });
  await react(bobPage, first, "❤️");
  await waitForRows(
    alicePage,
    [
      `${alice}: first, edited <b>not bold</b> (edited) [❤️1] ${mine}`,
      `${alice}: second ${mine}`,
      `${alice}: [deleted: message deleted]`,
      `${bob}: ${MARKUP} [👍2*]`,
    ],
    "alice sees bob's reactions, hers highlighted",
  );
  await react(alicePage, bobs, "👍");
  const live = [
    `${alice}: first, edited <b>not bold</b> (edited) [❤️1*]`,
    `${alice}: second`,
    `${alice}: [deleted: message deleted]`,
    `${bob}: ${MARKUP} [👍1*] ${mine}`,
  ];
  await waitForRows(bobPage, live, "bob sees alice's 👍 taken back");

  // Both offline; alice edits and reacts: pending on her page, in the banner, nothing on bob's.
  await bobPage.setOfflineMode(true);
  await alicePage.setOfflineMode(true);
  for (const page of [alicePage, bobPage]) await page.waitForSelector("#banner[data-offline=true]", { timeout: WAIT_MS });
  await editByKeyboard(alicePage, second, "second, edited offline");
  await alicePage.waitForSelector(`#messages li[data-seq="${second}"][data-pending-changes="1"]`, { timeout: WAIT_MS });
  await react(alicePage, second, "😂");
  await waitForRows(
    alicePage,
    [
      `${alice}: first, edited <b>not bold</b> (edited) [❤️1] ${mine}`,
      `${alice}: second, edited offline (edited) [😂1*] ${mine} pending:2`,
      `${alice}: [deleted: message deleted]`,
      `${bob}: ${MARKUP} [👍1]`,
    ],
    "alice's offline changes are shown, as pending",
  );
  await alicePage.waitForSelector("#banner[data-pending='2']", { timeout: WAIT_MS });
  assert.match((await alicePage.$eval("#banner", (node) => node.textContent)) ?? "", /2 changes waiting to be sent when back online/);

  // Alice comes back: her outbox sends both; bob, still offline, has none of it yet.
  await alicePage.setOfflineMode(false);
  await connected(alicePage);
  await alicePage.waitForSelector("#banner[data-pending='0']", { timeout: WAIT_MS });
  await alicePage.waitForSelector("#messages li.change-pending", { hidden: true, timeout: WAIT_MS });
  assert.deepEqual(await rows(bobPage), live, "bob, offline, got none of alice's offline changes");

  // Bob comes back: the room's catch-up brings the changes.
  await bobPage.setOfflineMode(false);
  await connected(bobPage);
  const final = [
    `${alice}: first, edited <b>not bold</b> (edited) [❤️1*]`,
    `${alice}: second, edited offline (edited) [😂1]`,
    `${alice}: [deleted: message deleted]`,
    `${bob}: ${MARKUP} [👍1*] ${mine}`,
  ];
  await waitForRows(bobPage, final, "bob catches up on reconnect");

  // A reload draws the room from history (the read model): the same.
  await bobPage.reload();
  await connected(bobPage);
  await waitForRows(bobPage, final, "bob's page after a reload, from history");

  // The server refuses bob's forced edit of alice's message; neither page changes.
  const id = await bobPage.$eval(inMessage(first, ""), (node) => (node as unknown as PageNode).dataset["id"]);
  const socket = await cluster.client(await mintToken({ secret: DEV_JWT_SECRET, userId: bob, rooms: [room] }));
  try {
    assertError(
      await request(socket, "edit", { room, id, clientId: `forced-${tag}`, text: "bob was here" }),
      "FORBIDDEN",
      "edit of another's",
    );
  } finally {
    socket.close();
  }
  assert.deepEqual(await rows(bobPage), final);

  // No message text ran as markup on either page.
  for (const page of [alicePage, bobPage]) {
    assert.equal(await page.evaluate(() => window["injected"]), undefined, "the onerror handler never ran");
    assert.equal((await page.$$("#messages img, #messages b")).length, 0, "no element made from message text");
  }
});
