/**
 * The DOM of the web chat: plain elements and textContent (no framework, no innerHTML, so no
 * message text is ever parsed as markup). app.ts decides what to show; this only draws it.
 */
import type { ConnectionState } from "../client/index.js";

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
  /** Drawn by MessageList (message-view.ts). */
  readonly messages = element<HTMLOListElement>("messages");
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

  /** The connection dot, and the banner: offline and/or messages and changes waiting in the outbox. */
  status(state: ConnectionState, waiting: { messages: number; changes: number }, problem: string | undefined): void {
    const label = element("state");
    label.textContent = state === "connected" ? "online" : state;
    label.className = `state ${state}`;
    const offline = state !== "connected";
    const parts: string[] = [];
    if (offline) parts.push(navigator.onLine ? "Offline: reconnecting…" : "Offline: no network.");
    const pending = waiting.messages + waiting.changes;
    const counts = [
      ...(waiting.messages > 0 ? [plural(waiting.messages, "message")] : []),
      ...(waiting.changes > 0 ? [plural(waiting.changes, "change")] : []),
    ];
    if (pending > 0) parts.push(`${counts.join(" and ")} waiting to be sent${offline ? " when back online" : ""}.`);
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

  typing(users: readonly string[]): void {
    element("typing").textContent = users.length === 0 ? "" : `${users.join(", ")} ${users.length === 1 ? "is" : "are"} typing…`;
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
