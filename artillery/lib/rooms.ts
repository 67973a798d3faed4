/**
 * How virtual users spread over rooms: many small rooms (a team, a group chat) and a few large
 * ones (a company-wide channel) where most members read and few write.
 *
 * Room ids are `<prefix><worker>:s<i>` and `<prefix><worker>:L<i>`: one set of rooms per
 * Artillery worker thread, so a room's senders and receivers share the worker's delivery
 * ledger (ledger.ts). With N concurrent users per worker, a small room holds about
 * N × smallRoomsPerUser / smallRooms members and a large one N × largeRoomShare / largeRooms.
 */
export interface RoomModel {
  /** Small rooms per worker. */
  smallRooms: number;
  /** Small rooms each user joins (distinct, at most smallRooms). */
  smallRoomsPerUser: number;
  /** Large rooms per worker (0 for none). */
  largeRooms: number;
  /** Fraction of users (0..1) that also join one large room. */
  largeRoomShare: number;
  /** Fraction of a large-room member's sends (0..1) that go to the large room. */
  largeRoomSendShare: number;
}

export interface UserRooms {
  small: string[];
  large: string | undefined;
}

export function validateRoomModel(model: RoomModel): RoomModel {
  const problems: string[] = [];
  if (!Number.isInteger(model.smallRooms) || model.smallRooms < 1) problems.push("smallRooms must be an integer ≥ 1");
  if (!Number.isInteger(model.smallRoomsPerUser) || model.smallRoomsPerUser < 1 || model.smallRoomsPerUser > model.smallRooms) {
    problems.push("smallRoomsPerUser must be an integer between 1 and smallRooms");
  }
  if (!Number.isInteger(model.largeRooms) || model.largeRooms < 0) problems.push("largeRooms must be an integer ≥ 0");
  for (const key of ["largeRoomShare", "largeRoomSendShare"] as const) {
    if (!(model[key] >= 0 && model[key] <= 1)) problems.push(`${key} must be between 0 and 1`);
  }
  if (problems.length > 0) throw new Error(`room model: ${problems.join("; ")}`);
  return model;
}

export function pickRooms(model: RoomModel, roomPrefix: string, random: () => number = Math.random): UserRooms {
  const small = new Set<string>();
  while (small.size < model.smallRoomsPerUser) small.add(`${roomPrefix}s${Math.floor(random() * model.smallRooms)}`);
  const joinsLarge = model.largeRooms > 0 && random() < model.largeRoomShare;
  return { small: [...small], large: joinsLarge ? `${roomPrefix}L${Math.floor(random() * model.largeRooms)}` : undefined };
}

/** The room a user's next message goes to. */
export function pickSendRoom(model: RoomModel, rooms: UserRooms, random: () => number = Math.random): string {
  if (rooms.large !== undefined && random() < model.largeRoomSendShare) return rooms.large;
  return rooms.small[Math.floor(random() * rooms.small.length)]!;
}

export function allRooms(rooms: UserRooms): string[] {
  return rooms.large === undefined ? rooms.small : [...rooms.small, rooms.large];
}
