/**
 * The DOM of the web chat: plain elements and textContent (no framework, no innerHTML, so no
 * message text is ever parsed as markup). app.ts decides what to show; this only draws it.
 */
import type { ConnectionState, Message, OutboxOperation } from "../client/index.js";

/** Drawn at most: a long-lived room keeps the page light. */
const MAX_RENDERED_MESSAGES = 300;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

export interface RoomEntry {
  room: string;
  unread: number;
}

export class ChatView {
  readonly signInForm = element<HTMLFormElement>("sign-in");
  readonly joinForm = element<HTMLFormElement>("join-form");
  readonly composer = element<HTMLFormElement>("composer");
  readonly textInput = element<HTMLInputElement>("text");
  readonly joinInput = element<HTMLInputElement>("join-room");
  private readonly messages = element<HTMLOListElement>("messages");
  private readonly rooms = element<HTMLUListElement>("rooms");

  /** Shows the sign-in form; resolves with the name typed. */
  askUser(note: string): Promise<string> {
    element("chat").hidden = true;
    this.signInForm.hidden = false;
    element("sign-in-note").textContent = note;
    const input = element<HTMLInputElement>("sign-in-user");
    input.focus();
    return new Promise((resolve) => {
      this.signInForm.onsubmit = (event) => {
        event.preventDefault();
        element("sign-in-error").textContent = "";
        resolve(input.value.trim());
      };
    });
  }

  signInError(message: string): void {
    element("sign-in-error").textContent = message;
  }

  showChat(user: string): void {
    this.signInForm.hidden = true;
    element("chat").hidden = false;
    element("me").textContent = user;
    this.textInput.focus();
  }

  /** The connection dot, and the banner: offline and/or messages waiting in the outbox. */
  status(state: ConnectionState, pending: number, problem: string | undefined): void {
    const label = element("state");
    label.textContent = state === "connected" ? "online" : state;
    label.className = `state ${state}`;
    const offline = state !== "connected";
    const parts: string[] = [];
    if (offline) parts.push(navigator.onLine ? "Offline: reconnecting…" : "Offline: no network.");
    if (pending > 0)
      parts.push(`${pending} ${pending === 1 ? "message" : "messages"} waiting to be sent${offline ? " when back online" : ""}.`);
    if (problem) parts.push(problem);
    const banner = element("banner");
    banner.textContent = parts.join(" ");
    banner.dataset["pending"] = String(pending);
    banner.dataset["offline"] = String(offline);
    banner.hidden = parts.length === 0;
  }

  roomList(entries: readonly RoomEntry[], active: string | undefined, onOpen: (room: string) => void): void {
    this.rooms.replaceChildren(
      ...entries.map(({ room, unread }) => {
        const item = document.createElement("li");
        item.dataset["room"] = room;
        item.className = room === active ? "active" : "";
        const name = document.createElement("span");
        name.textContent = `# ${room}`;
        item.append(name);
        if (unread > 0 && room !== active) {
          const badge = document.createElement("span");
          badge.className = "unread";
          badge.textContent = String(unread);
          item.append(badge);
        }
        item.onclick = () => onOpen(room);
        return item;
      }),
    );
  }

  roomHeader(room: string, online: readonly string[]): void {
    element("room-title").textContent = `# ${room}`;
    element("presence").textContent = online.length > 0 ? `online: ${online.join(", ")}` : "";
  }

  /** The room's messages in seq order, then what this user sent that waits for its ack. */
  messageList(messages: readonly Message[], pending: readonly OutboxOperation[], failed: ReadonlySet<string>): void {
    const atBottom = this.messages.scrollHeight - this.messages.scrollTop - this.messages.clientHeight < 40;
    const shown = messages.slice(-MAX_RENDERED_MESSAGES);
    const items = shown.map((message) =>
      this.item(
        message.from,
        message.text,
        message.ts,
        { seq: String(message.seq), clientId: message.clientId },
        message.deleted ? "deleted" : "",
      ),
    );
    const delivered = new Set(shown.map((message) => message.clientId));
    for (const operation of pending) {
      if (operation.kind !== "send" || delivered.has(operation.clientId)) continue;
      items.push(
        this.item(
          "you",
          operation.text,
          undefined,
          { clientId: operation.clientId },
          failed.has(operation.clientId) ? "pending failed" : "pending",
        ),
      );
    }
    this.messages.replaceChildren(...items);
    if (atBottom) this.messages.scrollTop = this.messages.scrollHeight;
  }

  typing(users: readonly string[]): void {
    element("typing").textContent = users.length === 0 ? "" : `${users.join(", ")} ${users.length === 1 ? "is" : "are"} typing…`;
  }

  private item(from: string, text: string, ts: number | undefined, data: Record<string, string>, className: string): HTMLLIElement {
    const item = document.createElement("li");
    item.className = className;
    Object.assign(item.dataset, data);
    const sender = document.createElement("span");
    sender.className = "from";
    sender.textContent = from;
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    const time = document.createElement("time");
    if (ts !== undefined) {
      time.dateTime = new Date(ts).toISOString();
      time.textContent = new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }
    item.append(sender, body, time);
    return item;
  }
}
