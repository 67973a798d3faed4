/**
 * Messages in their current state for history: edits, deletions and reactions folded in.
 *
 * Redis holds a changed message's state (change-keys.ts, messageState), decided with each
 * change, so it is never behind; Cassandra's read model catches up as the flusher projects the
 * changes. So the state in Redis wins where it exists. A message of the recent history that
 * was never changed while there carries no `changed` mark and needs no look-up at all.
 */
import { summarizeReactions, tombstoneOf, type MessageView, type Reaction } from "./change.js";
import type { ChangeKeys } from "./change-keys.js";
import type { RoomLog } from "./cassandra/room-log.js";
import type { StoredMessage } from "./cassandra/timeline.js";
import type { RedisClient } from "./redis-client.js";
import type { StoredTarget } from "./stream/change-buffer.js";

export interface PageItem {
  message: StoredMessage;
  /** Redis may hold state for it (a marked recent message, or any message read from Cassandra). */
  changed: boolean;
  fromRedis: boolean;
}

export class CurrentState {
  constructor(
    private readonly redis: RedisClient,
    private readonly changeKeys: ChangeKeys,
    private readonly log: RoomLog,
  ) {}

  async fold(room: string, items: readonly PageItem[]): Promise<MessageView[]> {
    const lookups = items.filter((item) => item.changed);
    const pipeline = this.redis.pipeline();
    for (const { message } of lookups) pipeline.hgetall(this.changeKeys.messageState(room, message.id));
    const replies = lookups.length === 0 ? [] : ((await pipeline.exec()) ?? []);
    const states = new Map<string, Record<string, string>>();
    lookups.forEach(({ message }, i) => {
      const [error, state] = replies[i] ?? [new Error("no reply")];
      if (error) throw error;
      const fields = state as Record<string, string>;
      if (Object.keys(fields).length > 0) states.set(message.id, fields);
    });
    return Promise.all(
      items.map(async ({ message, changed, fromRedis }) => {
        const state = states.get(message.id);
        if (state) return foldRedisState(message, state);
        if (!changed) return bare(message);
        // A marked recent message whose state expired: every change to it is in Cassandra by now.
        if (fromRedis) {
          const stored = await this.log.storedTarget(room, message.id, message.seq, message.ts);
          return stored ? foldStoredTarget(message, stored) : bare(message);
        }
        if (message.deleted) return bare(message);
        const view = bare(message);
        if (message.reacted) {
          const reactions = await this.log.reactionSummary(room, message.id);
          if (reactions.length > 0) view.reactions = reactions;
        }
        return view;
      }),
    );
  }
}

/** The message without internal marks. */
function bare(message: StoredMessage): MessageView {
  const { reacted: _reacted, ...view } = message;
  return view;
}

function foldRedisState(message: StoredMessage, state: Record<string, string>): MessageView {
  if (state["deleted"] === "1") return tombstoneOf(message);
  const { reacted: _reacted, editedAt: _editedAt, reactions: _reactions, ...view } = message as StoredMessage;
  const result: MessageView = view;
  if (state["editedAt"] !== undefined) {
    result.text = state["text"] ?? "";
    result.editedAt = Number(state["editedAt"]);
  }
  const reactions: Reaction[] = [];
  for (const [field, seq] of Object.entries(state)) {
    if (!field.startsWith("r:")) continue;
    const separator = field.indexOf("\n");
    reactions.push({ user: field.slice(2, separator), emoji: field.slice(separator + 1), seq: Number(seq) });
  }
  if (reactions.length > 0) result.reactions = summarizeReactions(reactions);
  return result;
}

function foldStoredTarget(message: StoredMessage, stored: StoredTarget): MessageView {
  if (stored.deleted) return tombstoneOf(message);
  const { reacted: _reacted, editedAt: _editedAt, reactions: _reactions, ...result } = message as StoredMessage;
  const view: MessageView = result;
  if (stored.edited) {
    view.text = stored.edited.text;
    view.editedAt = stored.edited.at;
  }
  if (stored.reactions.length > 0) view.reactions = summarizeReactions(stored.reactions);
  return view;
}
