/**
 * How the web chat gets its tokens, two ways:
 * - production: the host page hands one over, in the URL fragment (`/#token=JWT`, never sent to
 *   a server; removed from the address bar at once) and, when it runs out, by postMessage: the
 *   page asks its parent (`{ type: "chat:token-request" }`) and takes the answer
 *   `{ type: "chat:token", token }`;
 * - the local cluster: the dev sign-in (`POST /dev/sign-in`, a user name gives a token), which
 *   the node offers only when it runs on the dev secret. The name is kept for the tab's
 *   session, so a reload signs in again by itself.
 */
import type { TokenProvider } from "../client/index.js";

export interface Session {
  user: string;
  token: TokenProvider;
}

const USER_KEY = "chat-dev-user";
const TOKEN_KEY = "chat-token";
const PARENT_TOKEN_TIMEOUT_MS = 10_000;

export async function signIn(form: { show(note: string): Promise<string>; error(message: string): void }): Promise<Session> {
  const handed = takeFragmentToken() ?? sessionStorage.getItem(TOKEN_KEY);
  if (handed !== null) {
    const user = subjectOf(handed);
    if (user !== undefined) return { user, token: hostToken(handed) };
  }
  if (!(await devSignInAvailable())) {
    await form.show("This page needs a token from the app that embeds it (/#token=…). The dev sign-in is off on this server.");
    throw new Error("no token and no dev sign-in");
  }
  let user = sessionStorage.getItem(USER_KEY);
  for (;;) {
    user ??= await form.show("Local cluster: pick any user name (dev sign-in).");
    try {
      const name: string = user;
      let first: string | undefined = await devToken(name);
      sessionStorage.setItem(USER_KEY, name);
      // The first token is used at once; later calls (expiry, a refused token) sign in again.
      const token: TokenProvider = async () => {
        if (first === undefined) return devToken(name);
        const token = first;
        first = undefined;
        return token;
      };
      return { user: name, token };
    } catch (error) {
      form.error(error instanceof Error ? error.message : String(error));
      user = null;
    }
  }
}

async function devSignInAvailable(): Promise<boolean> {
  const answer = await fetch("/dev/sign-in");
  return answer.ok;
}

async function devToken(user: string): Promise<string> {
  const answer = await fetch("/dev/sign-in", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user }),
  });
  const body = (await answer.json()) as { token?: string; error?: { message?: string } };
  if (!answer.ok || typeof body.token !== "string") throw new Error(body.error?.message ?? `sign-in failed (${answer.status})`);
  return body.token;
}

function takeFragmentToken(): string | null {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (token === null) return null;
  history.replaceState(null, "", location.pathname + location.search);
  sessionStorage.setItem(TOKEN_KEY, token);
  return token;
}

/** The handed token first; once it has been used, a fresh one from the parent window. */
function hostToken(initial: string): TokenProvider {
  let current: string | undefined = initial;
  return async () => {
    if (current !== undefined && !expired(current)) {
      const token = current;
      current = undefined;
      return token;
    }
    const fresh = await askParent();
    sessionStorage.setItem(TOKEN_KEY, fresh);
    return fresh;
  };
}

function askParent(): Promise<string> {
  if (window.parent === window) return Promise.reject(new Error("the token ran out and no host page can give a new one: reload the app"));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      removeEventListener("message", onMessage);
      reject(new Error("the host page gave no new token"));
    }, PARENT_TOKEN_TIMEOUT_MS);
    function onMessage(event: MessageEvent): void {
      const data = event.data as { type?: unknown; token?: unknown } | null;
      if (event.source !== window.parent || data?.type !== "chat:token" || typeof data.token !== "string") return;
      clearTimeout(timer);
      removeEventListener("message", onMessage);
      resolve(data.token);
    }
    addEventListener("message", onMessage);
    window.parent.postMessage({ type: "chat:token-request" }, "*");
  });
}

function claimsOf(token: string): { sub?: unknown; exp?: unknown } | undefined {
  try {
    const payload = token.split(".")[1] ?? "";
    return JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as { sub?: unknown; exp?: unknown };
  } catch {
    return undefined;
  }
}

function subjectOf(token: string): string | undefined {
  const sub = claimsOf(token)?.sub;
  return typeof sub === "string" ? sub : undefined;
}

function expired(token: string): boolean {
  const exp = claimsOf(token)?.exp;
  return typeof exp === "number" && exp * 1000 <= Date.now();
}
