/**
 * The web chat served at `GET /`: rooms with unread counts, messages, send, typing, presence,
 * edits, deletes and reactions, and an offline banner with the outbox's pending count, on the
 * client SDK. Unsent messages and changes live in IndexedDB, so a reload or a lost network
 * loses none; the SDK resends them with their clientId, so none arrives twice.
 */
import { ChatClient, IndexedDbOutboxStore, type Message, type OutboxOperation } from "../client/index.js";
import { isChange, messageRows, type ChangeOperation, type OwnChange } from "./changes.js";
import { MessageList, type PendingSend } from "./message-view.js";
import { signIn } from "./sign-in.js";
import { ChatView, type RoomEntry } from "./view.js";

const DEFAULT_ROOM = "lobby";
const ACTIVE_ROOM_KEY = "chat-room";
/** Most rooms joined at once (each joined room is kept in sync for its unread count). */
const MAX_JOINED_ROOMS = 20;
const TYPING_SHOWN_MS = 3000;
const MARK_READ_DELAY_MS = 400;

const view = new ChatView();
const session = await signIn({ show: (note) => view.askUser(note), error: (message) => view.signInError(message) });
view.showChat(session.user);

const chat = new ChatClient({ url: location.origin, token: session.token, store: new IndexedDbOutboxStore(`chat-outbox-${session.user}`) });
const unread = new Map<string, number>();
const typingUntil = new Map<string, number>();
const failed = new Set<string>();
/** Own changes acknowledged but not yet in the room's state (their `change` event is on its way), with their seq. */
const acknowledged = new Map<string, { operation: ChangeOperation; seq: number }>();
// `/?room=NAME` opens that room (a link to a room); else the tab's last one, else the lobby.
let active = new URLSearchParams(location.search).get("room") ?? sessionStorage.getItem(ACTIVE_ROOM_KEY) ?? DEFAULT_ROOM;
let online: string[] = [];
let problem: string | undefined;
let readTimer: ReturnType<typeof setTimeout> | undefined;

const drawStatus = () => {
  const changes = chat.pending.filter(isChange).length;
  view.status(chat.state, { messages: chat.pending.length - changes, changes }, problem);
};
const drawRooms = () =>
  view.roomList(
    [...unread].map(([room, count]): RoomEntry => ({ room, unread: count })),
    active,
    (room) => void openRoom(room),
  );
const messageList = new MessageList(view.messages, session.user, {
  edit: (message, text) => void chat.edit(message.room, message.id, text).catch(() => undefined),
  delete: (message) => void chat.delete(message.room, message.id).catch(() => undefined),
  react: (message, emoji, on) => void chat.react(message.room, message.id, emoji, on).catch(() => undefined),
});
let drawScheduled = false;
/** Draws the active room's messages once per task: a catch-up applies hundreds of entries in one go. */
const drawMessages = () => {
  if (drawScheduled) return;
  drawScheduled = true;
  queueMicrotask(() => {
    drawScheduled = false;
    const state = chat.room(active);
    for (const [clientId, { operation, seq }] of acknowledged) {
      const room = chat.room(operation.room);
      if (!room || room.lastSeq === undefined || room.lastSeq >= seq) acknowledged.delete(clientId);
    }
    const pending = chat.pending.filter((operation) => operation.room === active);
    const own: OwnChange[] = [
      ...[...acknowledged.values()]
        .filter(({ operation }) => operation.room === active)
        .map(({ operation }) => ({ operation, pending: false })),
      ...pending.filter(isChange).map((operation) => ({ operation, pending: true })),
    ];
    const sends = pending
      .filter((operation): operation is PendingSend["operation"] => operation.kind === "send")
      .map((operation) => ({ operation, failed: failed.has(operation.clientId) }));
    messageList.render(messageRows(state?.messages ?? [], own, session.user), sends);
  });
};
const drawTyping = () => {
  const now = Date.now();
  view.typing([...typingUntil].filter(([, until]) => until > now).map(([user]) => user));
};

chat.on("state", () => {
  if (chat.state === "connected") problem = undefined;
  drawStatus();
});
chat.on("outbox", () => {
  drawStatus();
  drawMessages();
});
chat.on("message", (message: Message) => {
  if (message.room === active) {
    typingUntil.delete(message.from);
    drawTyping();
    drawMessages();
    scheduleMarkRead();
  } else if (message.from !== session.user) {
    unread.set(message.room, (unread.get(message.room) ?? 0) + 1);
    drawRooms();
  }
});
chat.on("change", ({ message }) => message.room === active && drawMessages());
chat.on("typing", ({ room, user }) => {
  if (room !== active || user === session.user) return;
  typingUntil.set(user, Date.now() + TYPING_SHOWN_MS);
  drawTyping();
  setTimeout(drawTyping, TYPING_SHOWN_MS + 50);
});
chat.on("presence", ({ room, user, online: isOnline }) => {
  if (room !== active) return;
  online = isOnline ? [...new Set([...online, user])].sort() : online.filter((name) => name !== user);
  view.roomHeader(active, online);
});
chat.on("synced", () => void refreshRooms());
chat.on("sent", ({ operation, result }) => {
  if (!isChange(operation)) return;
  acknowledged.set(operation.clientId, { operation, seq: result.seq });
  drawMessages();
});
chat.on("failed", ({ operation, error }) => {
  failed.add(operation.clientId);
  problem = `${failure(operation)}: ${error.message}`;
  drawStatus();
  drawMessages();
});
chat.on("error", (error) => {
  problem = error.message;
  drawStatus();
});
addEventListener("online", drawStatus);

function failure(operation: OutboxOperation): string {
  return { send: "Not sent", edit: "Edit not saved", delete: "Not deleted", react: "Reaction not saved" }[operation.kind];
}
addEventListener("offline", drawStatus);

/** The user's rooms and their unread counts (the server's read pointers), each joined to stay current. */
async function refreshRooms(): Promise<void> {
  try {
    const { rooms } = await chat.rooms();
    for (const summary of rooms) if (summary.room !== active) unread.set(summary.room, summary.unread);
    for (const summary of rooms.slice(0, MAX_JOINED_ROOMS))
      if (!chat.room(summary.room)) void chat.join(summary.room).catch(() => undefined);
    drawRooms();
  } catch {
    // Offline or refused: the counts stay as they are until the next sync.
  }
}

async function openRoom(room: string): Promise<void> {
  active = room;
  sessionStorage.setItem(ACTIVE_ROOM_KEY, room);
  unread.set(room, 0);
  online = [];
  typingUntil.clear();
  view.roomHeader(room, online);
  drawRooms();
  drawMessages();
  drawTyping();
  try {
    const state = chat.room(room) ?? (await chat.join(room));
    if (state.messages.length < 30) await chat.loadOlder(room, 50);
    if (active !== room) return;
    drawMessages();
    online = (await chat.presence(room)).sort();
    view.roomHeader(room, online);
    scheduleMarkRead();
  } catch (error) {
    problem = `Could not open #${room}: ${error instanceof Error ? error.message : String(error)}`;
    drawStatus();
  }
}

function scheduleMarkRead(): void {
  if (readTimer !== undefined || document.visibilityState !== "visible") return;
  readTimer = setTimeout(() => {
    readTimer = undefined;
    const lastSeq = chat.room(active)?.lastSeq;
    if (lastSeq !== undefined && chat.state === "connected") chat.markRead(active, lastSeq).catch(() => undefined);
  }, MARK_READ_DELAY_MS);
}
document.addEventListener("visibilitychange", scheduleMarkRead);

view.composer.onsubmit = (event) => {
  event.preventDefault();
  const text = view.textInput.value.trim();
  if (text === "") return;
  view.textInput.value = "";
  // Kept in the outbox (IndexedDB) until acknowledged; a refusal for good is shown by `failed`.
  chat.send(active, text).catch(() => undefined);
};
view.textInput.oninput = () => chat.typing(active);
view.joinForm.onsubmit = (event) => {
  event.preventDefault();
  const room = view.joinInput.value.trim();
  view.joinInput.value = "";
  if (room !== "") void openRoom(room);
};

unread.set(active, 0);
chat.connect();
drawStatus();
void openRoom(active);
