/**
 * What the browser tests share: the real cluster (two nodes, HAProxy, Redis, Cassandra, with the
 * dev secret so the page's dev sign-in works), Debian's Chromium driven by puppeteer-core, and
 * a user signed in on the chat page in a browser context of their own.
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { ensureChromium } from "../../scripts/infra/install.js";
import { DEV_JWT_SECRET } from "../../server/http/dev-sign-in.js";
import { startTestCluster, type TestCluster } from "../fixture.js";

export const WAIT_MS = 30_000;

export async function startWebChat(): Promise<{ cluster: TestCluster; browser: Browser }> {
  const executablePath = ensureChromium();
  const cluster = await startTestCluster({ nodeCount: 2, env: { CHAT_JWT_SECRET: DEV_JWT_SECRET } });
  // Chromium's sandbox needs user namespaces a root process does not get.
  const browser = await puppeteer.launch({ executablePath, headless: true, args: process.getuid?.() === 0 ? ["--no-sandbox"] : [] });
  return { cluster, browser };
}

/** A user in a browser context of their own (own IndexedDB and sessionStorage), signed in on the page of `room`. */
export async function signedIn(browser: Browser, cluster: TestCluster, room: string, user: string): Promise<Page> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1000, height: 640 });
  page.on("pageerror", (error) => console.error(`[${user} page error]`, error));
  await page.goto(`${cluster.url}/?room=${room}`);
  await page.waitForSelector("#sign-in-user", { visible: true, timeout: WAIT_MS });
  await page.type("#sign-in-user", user);
  await page.click("#sign-in button[type=submit]");
  await connected(page);
  return page;
}

export const connected = (page: Page) => page.waitForSelector("#state.connected", { timeout: WAIT_MS });

export async function say(page: Page, text: string): Promise<void> {
  await page.type("#text", text);
  await page.keyboard.press("Enter");
}
