/**
 * The cheap path for a user at the per-user connection cap (issue 17: one user opening
 * thousands of sockets must not slow the node down for the others). Two pieces, both about
 * the token a new socket.io connection presents, both in front of the JWT verification:
 *
 * - `SharedVerifications`: connections presenting the same token at the same time (a client
 *   opening 100 sockets at once) share one verification instead of one each. Only while it
 *   runs: the result is not kept, so an expired or revoked token is never let in from memory.
 * - `RefusedTokens`: a token whose user was refused LIMIT_REACHED moments ago maps to that
 *   user, so the next connection with it is refused (if the cap still says so) without
 *   verifying the token again. Only tokens that verified, for `ttlInMs` and never past the
 *   token's own expiry (after it the client must get AUTH_EXPIRED, not LIMIT_REACHED).
 *
 * Whether the user is still at the cap is the cap's decision (ConnectionCap.refusesAtOnce),
 * asked each time: these only spare the work of finding out who the user is.
 */
import type { Principal } from "../chat/principal.js";
import { DEFAULT_AT_CAP_MEMORY_MS } from "../cluster/connection-registry.js";

export class SharedVerifications {
  private readonly running = new Map<string, Promise<Principal>>();

  constructor(private readonly verify: (token: unknown) => Promise<Principal>) {}

  /** The principal of `token`: a copy per caller (sockets never share one object). */
  async principalOf(token: unknown): Promise<Principal> {
    if (typeof token !== "string") return this.verify(token);
    let verification = this.running.get(token);
    if (!verification) {
      verification = this.verify(token);
      this.running.set(token, verification);
      const forget = () => void this.running.delete(token);
      verification.then(forget, forget);
    }
    return { ...(await verification) };
  }

  /** Verifications running now (for tests). */
  get size(): number {
    return this.running.size;
  }
}

/** How long a token refused LIMIT_REACHED is known without verifying it again: as long as the cap's memory of the refusal. */
export const REFUSED_TOKEN_MEMORY_MS = DEFAULT_AT_CAP_MEMORY_MS;

/** Tokens kept at most (a token is up to 8 KB: at most ~8 MB), when many users are refused at once; the oldest go first. */
export const REFUSED_TOKENS_MAX = 1000;

export class RefusedTokens {
  /** token → its user, and until when (ms) the memory holds. Oldest first. */
  private readonly refused = new Map<string, { user: string; until: number }>();

  constructor(
    private readonly ttlInMs: number,
    private readonly now: () => number = Date.now,
    private readonly max = REFUSED_TOKENS_MAX,
  ) {}

  /** `token` verified as `principal`, whose user was refused LIMIT_REACHED. */
  remember(token: unknown, principal: Principal): void {
    if (typeof token !== "string" || this.ttlInMs <= 0) return;
    const now = this.now();
    // Expired entries at the head (the oldest) go now rather than stay until looked up.
    for (const [oldest, { until }] of this.refused) {
      if (until > now) break;
      this.refused.delete(oldest);
    }
    this.refused.delete(token);
    this.refused.set(token, { user: principal.userId, until: Math.min(now + this.ttlInMs, principal.expiresAt) });
    if (this.refused.size > this.max) this.refused.delete(this.refused.keys().next().value!);
  }

  /** The user of a token refused moments ago, or undefined (unknown, forgotten, or the token expired). */
  userOf(token: unknown): string | undefined {
    if (typeof token !== "string") return undefined;
    const entry = this.refused.get(token);
    if (!entry) return undefined;
    if (entry.until > this.now()) return entry.user;
    this.refused.delete(token);
    return undefined;
  }

  get size(): number {
    return this.refused.size;
  }
}
