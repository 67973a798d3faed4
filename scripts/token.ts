/**
 * `npm run token -- <user> [room-pattern ...]`: prints a JWT for the local cluster.
 * `npm run token -- --count N --csv FILE [--prefix NAME] [--rooms PATTERN ...]`: writes N users'
 * tokens (`user,token` rows, with a header) for load tests, in one process.
 * Signs with CHAT_JWT_SECRET, or the dev default that `npm start` uses.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { DEV_JWT_SECRET, mintToken } from "./lib/tokens.js";

const USAGE = `usage:
  npm run token -- <user> [room-pattern ...]                 one token, printed
      e.g. npm run token -- alice 'team-7:*' lobby
  npm run token -- --count N --csv FILE [--prefix P] [--rooms R ...] [--mod R ...]
      N tokens for users P1..PN (default prefix "user"), as CSV "user,token" with a header,
      e.g. npm run token -- --count 200 --csv artillery/examples/tokens.csv --rooms lobby
options:
  --rooms PATTERN   a room id or prefix ending in * the users may use (repeatable)
  --mod PATTERN     a room pattern the users moderate (repeatable)
  --ttl SECONDS     lifetime (default CHAT_TOKEN_TTL_SECONDS, else 86400)
  -h, --help        this text
Signed with CHAT_JWT_SECRET, else the dev default that npm start uses.`;

function fail(message: string): never {
  console.error(`npm run token: ${message}\n\n${USAGE}`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    strict: true,
    options: {
      count: { type: "string" },
      csv: { type: "string" },
      prefix: { type: "string", default: "user" },
      rooms: { type: "string", multiple: true, default: [] },
      mod: { type: "string", multiple: true, default: [] },
      ttl: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const ttlText = values.ttl ?? process.env.CHAT_TOKEN_TTL_SECONDS ?? String(24 * 3600);
const ttlInSeconds = Number(ttlText);
if (!Number.isInteger(ttlInSeconds) || ttlInSeconds <= 0)
  fail(`--ttl must be a positive whole number of seconds, got ${JSON.stringify(ttlText)}`);
const secret = process.env.CHAT_JWT_SECRET || DEV_JWT_SECRET;
const USER_ID = /^[A-Za-z0-9_.@-]{1,64}$/;

if (values.count !== undefined || values.csv !== undefined) {
  if (positionals.length > 0) fail(`--count/--csv take no positional arguments, got ${JSON.stringify(positionals)}`);
  const count = Number(values.count);
  if (values.count === undefined || !Number.isInteger(count) || count < 1 || count > 1_000_000)
    fail("--count must be a whole number from 1 to 1000000");
  if (!values.csv) fail("--count needs --csv FILE");
  if (!USER_ID.test(`${values.prefix}${count}`)) fail(`--prefix must make user ids matching ${USER_ID.source}`);
  const rows = ["user,token"];
  for (let i = 1; i <= count; i++) {
    const userId = `${values.prefix}${i}`;
    rows.push(`${userId},${await mintToken({ secret, userId, rooms: values.rooms, mod: values.mod, ttlInSeconds })}`);
  }
  writeFileSync(values.csv, `${rows.join("\n")}\n`);
  console.error(`wrote ${count} tokens to ${values.csv}`);
} else {
  const [userId, ...rooms] = positionals;
  if (!userId) fail("name a user, or use --count N --csv FILE");
  if (!USER_ID.test(userId)) fail(`user id must match ${USER_ID.source}, got ${JSON.stringify(userId)}`);
  console.log(await mintToken({ secret, userId, rooms: [...rooms, ...values.rooms], mod: values.mod, ttlInSeconds }));
}
