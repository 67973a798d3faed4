/**
 * `npm run token -- <user> [room-pattern ...]`: prints a JWT for the local cluster.
 * Signs with CHAT_JWT_SECRET, or the dev default that `npm start` uses.
 */
import { DEV_JWT_SECRET, mintToken } from "./lib/tokens.js";

const [userId, ...rooms] = process.argv.slice(2);
if (!userId) {
  console.error("usage: npm run token -- <user> [room-pattern ...]   e.g. npm run token -- alice 'team-7:*' lobby");
  process.exit(2);
}
const ttlInSeconds = Number(process.env.CHAT_TOKEN_TTL_SECONDS ?? 24 * 3600);
console.log(await mintToken({ secret: process.env.CHAT_JWT_SECRET || DEV_JWT_SECRET, userId, rooms, ttlInSeconds }));
