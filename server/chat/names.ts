/** Names, PROTOCOL.md "Names"; who may use which room is room-access.ts. */
export const USER_ID = /^[A-Za-z0-9_.@-]{1,64}$/;
export const ROOM_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
