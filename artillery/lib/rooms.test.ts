import { test } from "node:test";
import assert from "node:assert/strict";
import { allRooms, pickRooms, pickSendRoom, validateRoomModel, type RoomModel } from "./rooms.js";

const model: RoomModel = { smallRooms: 10, smallRoomsPerUser: 3, largeRooms: 2, largeRoomShare: 0.5, largeRoomSendShare: 0.25 };

test("a user gets distinct small rooms and, for the configured share of users, one large room", () => {
  let large = 0;
  for (let i = 0; i < 2000; i += 1) {
    const rooms = pickRooms(model, "load:x:w1:");
    assert.equal(new Set(rooms.small).size, 3);
    for (const room of allRooms(rooms)) assert.match(room, /^load:x:w1:(s\d|L[01])$/);
    if (rooms.large) large += 1;
  }
  assert.ok(large > 850 && large < 1150, `about half join a large room, got ${large}/2000`);
});

test("sends go to the large room at the configured share, else to a small room", () => {
  const rooms = { small: ["p:s1", "p:s2"], large: "p:L0" };
  let toLarge = 0;
  for (let i = 0; i < 4000; i += 1) if (pickSendRoom(model, rooms) === "p:L0") toLarge += 1;
  assert.ok(toLarge > 850 && toLarge < 1150, `about a quarter go to the large room, got ${toLarge}/4000`);
  assert.equal(pickSendRoom(model, { small: ["p:s1"], large: undefined }), "p:s1");
});

test("a model that cannot be satisfied is refused with the reason", () => {
  assert.throws(
    () => validateRoomModel({ ...model, smallRoomsPerUser: 11 }),
    /smallRoomsPerUser must be an integer between 1 and smallRooms/,
  );
  assert.throws(() => validateRoomModel({ ...model, largeRoomShare: 1.5 }), /largeRoomShare must be between 0 and 1/);
});
