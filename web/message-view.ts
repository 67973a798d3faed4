/**
 * The message list: each message with its sender, text (or the tombstone of a deleted one),
 * "(edited)", time, reactions and, on the user's own messages, edit and delete. Text goes in
 * through textContent only, never as markup. The list is drawn anew on every change; what the
 * user is doing survives that: the inline editor (the same input element, so its text and caret
 * stay), an open delete confirmation, and the keyboard focus (controls carry a `data-focus` key).
 */
import type { Message, OutboxOperation } from "../client/index.js";
import type { MessageRow, PendingChange } from "./changes.js";

/** Drawn at most: a long-lived room keeps the page light. */
const MAX_RENDERED_MESSAGES = 300;
/** The reactions offered on every message (others' emoji are shown too, and can be joined). */
export const QUICK_REACTIONS = ["👍", "❤️", "😂"] as const;
const TEXT_MAX_LENGTH = 4000;

export interface MessageActions {
  edit(message: Message, text: string): void;
  delete(message: Message): void;
  react(message: Message, emoji: string, on: boolean): void;
}

export interface PendingSend {
  operation: Extract<OutboxOperation, { kind: "send" }>;
  failed: boolean;
}

interface DrawnItem {
  signature: string;
  item: HTMLLIElement;
}

interface Focus {
  /** The message the control belongs to. */
  id: string;
  key: string;
  selection?: [number, number];
}

interface Editor {
  id: string;
  element: HTMLElement;
  input: HTMLInputElement;
}

export class MessageList {
  private rows: readonly MessageRow[] = [];
  /** The items on the page by message id (or `send:clientId`), with what they show. */
  private drawn = new Map<string, DrawnItem>();
  private sends: readonly PendingSend[] = [];
  private editor: Editor | undefined;
  /** The message whose delete waits for the user's confirmation. */
  private confirmingDelete: string | undefined;

  constructor(
    private readonly list: HTMLOListElement,
    private readonly user: string,
    private readonly actions: MessageActions,
  ) {}

  /** The room's messages in seq order, then what this user sent that waits for its ack. */
  render(rows: readonly MessageRow[], sends: readonly PendingSend[]): void {
    this.rows = rows;
    this.sends = sends;
    this.draw();
  }

  private draw(): void {
    const list = this.list;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const focus = this.focusedControl();
    const shown = this.rows.slice(-MAX_RENDERED_MESSAGES);
    if (this.editor && !shown.some(({ message }) => message.id === this.editor?.id && !message.deleted)) this.editor = undefined;
    const drawn = new Map<string, DrawnItem>();
    const items = shown.map((row) => {
      const { id } = row.message;
      const signature = JSON.stringify([row, this.editor?.id === id, this.confirmingDelete === id]);
      return this.reuse(drawn, id, signature, () => this.item(row));
    });
    const delivered = new Set(shown.map(({ message }) => message.clientId));
    for (const { operation, failed } of this.sends) {
      if (delivered.has(operation.clientId)) continue;
      const signature = JSON.stringify([operation.text, failed]);
      items.push(this.reuse(drawn, `send:${operation.clientId}`, signature, () => pendingSendItem(operation, failed)));
    }
    this.drawn = drawn;
    place(list, items);
    if (focus) this.restoreFocus(focus);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  /** The item drawn last time when nothing it shows changed, else a new one. */
  private reuse(drawn: Map<string, DrawnItem>, key: string, signature: string, build: () => HTMLLIElement): HTMLLIElement {
    const known = this.drawn.get(key);
    const item = known?.signature === signature ? known.item : build();
    drawn.set(key, { signature, item });
    return item;
  }

  private item({ message, mine, pending }: MessageRow): HTMLLIElement {
    const item = document.createElement("li");
    item.dataset["seq"] = String(message.seq);
    item.dataset["clientId"] = message.clientId;
    item.dataset["id"] = message.id;
    item.dataset["focus"] = `${message.id}:item`;
    // Focusable by script only: where focus goes when the control that had it is gone.
    item.tabIndex = -1;
    item.classList.toggle("mine", mine);
    item.classList.toggle("deleted", message.deleted === true);
    item.classList.toggle("edited", message.editedAt !== undefined && !message.deleted);
    item.classList.toggle("change-pending", pending.length > 0);
    if (pending.length > 0) item.dataset["pendingChanges"] = String(pending.length);
    item.append(span("from", message.from));
    if (message.deleted) item.append(span("text tombstone", "message deleted"));
    else if (this.editor?.id === message.id) item.append(this.editor.element);
    else item.append(span("text", message.text));
    if (message.editedAt !== undefined && !message.deleted) {
      const edited = span("edited-note", "(edited)");
      edited.title = `edited ${new Date(message.editedAt).toLocaleString()}`;
      item.append(edited);
    }
    item.append(timeOf(message.ts));
    if (pending.length > 0) item.append(span("change-status", describePending(pending)));
    // A tombstone takes no changes (the server answers NOT_FOUND).
    if (!message.deleted) {
      item.append(this.reactions(message, pending));
      if (mine) item.append(this.ownActions(message));
    }
    return item;
  }

  private reactions(message: Message, pending: readonly PendingChange[]): HTMLElement {
    const group = document.createElement("span");
    group.className = "reactions";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Reactions");
    const present = (message.reactions ?? []).map((reaction) => reaction.emoji);
    for (const emoji of new Set([...present, ...QUICK_REACTIONS])) {
      const reaction = message.reactions?.find((candidate) => candidate.emoji === emoji);
      const count = reaction?.count ?? 0;
      const mineToo = reaction?.users.includes(this.user) ?? false;
      const toggle = button(count > 0 ? `${emoji} ${count}` : emoji, `${message.id}:react:${emoji}`, () =>
        this.actions.react(message, emoji, !mineToo),
      );
      toggle.className = "reaction";
      toggle.dataset["emoji"] = emoji;
      toggle.dataset["count"] = String(count);
      toggle.classList.toggle("unused", count === 0);
      toggle.classList.toggle(
        "pending",
        pending.some((change) => change.kind === "react" && change.emoji === emoji),
      );
      toggle.setAttribute("aria-pressed", String(mineToo));
      const who = count === 1 ? "1 reaction" : `${count} reactions`;
      toggle.setAttribute("aria-label", `${emoji}: ${who}${mineToo ? ", yours included; press to remove yours" : "; press to add yours"}`);
      if (reaction) toggle.title = reaction.users.join(", ") + (reaction.count > reaction.users.length ? " and others" : "");
      group.append(toggle);
    }
    return group;
  }

  private ownActions(message: Message): HTMLElement {
    const actions = document.createElement("span");
    actions.className = "actions";
    if (this.confirmingDelete === message.id) {
      actions.classList.add("confirming");
      actions.setAttribute("role", "group");
      actions.setAttribute("aria-label", "Delete this message?");
      const cancel = () => {
        this.confirmingDelete = undefined;
        this.focusAfterDraw(message.id, "delete");
      };
      const confirm = button("Delete", `${message.id}:confirm-delete`, () => {
        this.confirmingDelete = undefined;
        this.actions.delete(message);
        this.focusAfterDraw(message.id, "item");
      });
      confirm.className = "danger";
      confirm.setAttribute("aria-label", "Yes, delete this message");
      const keep = button("Cancel", `${message.id}:cancel-delete`, cancel);
      keep.setAttribute("aria-label", "Keep this message");
      actions.onkeydown = (event) => event.key === "Escape" && cancel();
      actions.append(span("confirm-question", "Delete this message?"), confirm, keep);
      return actions;
    }
    const edit = button("Edit", `${message.id}:edit`, () => this.openEditor(message));
    edit.setAttribute("aria-label", "Edit your message");
    const remove = button("Delete", `${message.id}:delete`, () => {
      this.confirmingDelete = message.id;
      this.focusAfterDraw(message.id, "cancel-delete");
    });
    remove.setAttribute("aria-label", "Delete your message");
    actions.append(edit, remove);
    return actions;
  }

  /** The inline editor: Enter (or Save) saves, Esc (or Cancel) cancels. */
  private openEditor(message: Message): void {
    const input = document.createElement("input");
    input.className = "edit-text";
    input.value = message.text;
    input.maxLength = TEXT_MAX_LENGTH;
    input.required = true;
    input.dataset["focus"] = `${message.id}:editor`;
    input.setAttribute("aria-label", "Edit your message; Enter saves, Escape cancels");
    const save = () => this.saveEdit(message.id);
    const cancel = () => this.closeEditor(message.id);
    input.onkeydown = (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        save();
      } else if (event.key === "Escape") {
        event.preventDefault();
        cancel();
      }
    };
    const element = document.createElement("span");
    element.className = "editor";
    element.append(input, button("Save", `${message.id}:save`, save), button("Cancel", `${message.id}:cancel-edit`, cancel));
    this.editor = { id: message.id, element, input };
    this.draw();
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }

  private saveEdit(id: string): void {
    const message = this.rows.find((row) => row.message.id === id)?.message;
    const text = this.editor?.input.value.trim() ?? "";
    if (message && !message.deleted && text === "") {
      this.editor?.input.setAttribute("aria-invalid", "true");
      return;
    }
    if (message && !message.deleted && text !== message.text) this.actions.edit(message, text);
    this.closeEditor(id);
  }

  private closeEditor(id: string): void {
    this.editor = undefined;
    this.focusAfterDraw(id, "edit");
  }

  /** Redraws now (a UI state changed) and focuses this control of the message. */
  private focusAfterDraw(id: string, control: string): void {
    this.draw();
    this.restoreFocus({ id, key: `${id}:${control}` });
  }

  /** The control in the list that has the focus, by key (and its caret, for the editor). */
  private focusedControl(): Focus | undefined {
    const active = document.activeElement;
    const key = active instanceof HTMLElement && this.list.contains(active) ? active.dataset["focus"] : undefined;
    const id = active?.closest<HTMLElement>("li[data-id]")?.dataset["id"];
    if (key === undefined || id === undefined) return undefined;
    if (active instanceof HTMLInputElement) return { id, key, selection: [active.selectionStart ?? 0, active.selectionEnd ?? 0] };
    return { id, key };
  }

  /** Focuses the control with this key again, or its message when the control is gone (a deleted message has no buttons). */
  private restoreFocus({ id, key, selection }: Focus): void {
    const controls = [...this.list.querySelectorAll<HTMLElement>("[data-focus]")];
    const target =
      controls.find((control) => control.dataset["focus"] === key) ?? controls.find((control) => control.dataset["focus"] === `${id}:item`);
    if (!target || target === document.activeElement) return;
    target.focus({ preventScroll: true });
    if (selection && target instanceof HTMLInputElement) target.setSelectionRange(...selection);
  }
}

/**
 * Puts the items in the list in this order, leaving in place those already there: a node taken
 * out and put back loses the focus and the mouse press on it (a click in progress would be lost).
 */
function place(list: HTMLOListElement, items: readonly HTMLLIElement[]): void {
  const wanted = new Set<Element>(items);
  for (const child of [...list.children]) if (!wanted.has(child)) child.remove();
  let cursor = list.firstElementChild;
  for (const item of items) {
    if (item === cursor) cursor = cursor.nextElementSibling;
    else list.insertBefore(item, cursor);
  }
}

function pendingSendItem(operation: PendingSend["operation"], failed: boolean): HTMLLIElement {
  const item = document.createElement("li");
  item.className = failed ? "pending failed" : "pending";
  item.dataset["clientId"] = operation.clientId;
  item.append(span("from", "you"), span("text", operation.text), document.createElement("time"));
  return item;
}

function describePending(pending: readonly PendingChange[]): string {
  const names = [...new Set(pending.map(({ kind }) => (kind === "react" ? "reaction" : kind)))];
  return `${names.join(", ")} waiting to be sent`;
}

function span(className: string, text: string): HTMLSpanElement {
  const node = document.createElement("span");
  node.className = className;
  node.textContent = text;
  return node;
}

function button(text: string, focusKey: string, onClick: () => void): HTMLButtonElement {
  const node = document.createElement("button");
  node.type = "button";
  node.textContent = text;
  node.dataset["focus"] = focusKey;
  node.onclick = onClick;
  return node;
}

function timeOf(ts: number): HTMLTimeElement {
  const time = document.createElement("time");
  time.dateTime = new Date(ts).toISOString();
  time.textContent = new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return time;
}
