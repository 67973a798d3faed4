/**
 * JWT verification (jose), shared by both transports: the socket.io handshake and the REST
 * API's Bearer header; a valid token yields the domain's Principal. HS256 with
 * CHAT_JWT_SECRET, or RS256/ES256 with the PEM public key in CHAT_JWT_PUBLIC_KEY. The algorithm
 * list is fixed by the key type, so `alg: none` and algorithm-confusion tokens are refused by
 * construction. Tokens over the size limit, or with too many room or moderator patterns, are
 * refused as AUTH_INVALID with the reason (docs/protocol.md v1.1 "Limits"), the size before any
 * decoding; the room patterns are compiled once here, for the connection's whole life.
 */
import { createPublicKey, webcrypto, type KeyObject } from "node:crypto";
import { errors as joseErrors, jwtVerify } from "jose";
import type { RefusalReason } from "../chat/limits.js";
import { USER_ID } from "../chat/names.js";
import type { Principal } from "../chat/principal.js";
import { RoomAccess } from "../chat/room-access.js";
import type { JwtConfig } from "../config.js";

/** What a token may weigh (server/chat/limits.ts). */
export interface TokenLimits {
  maxTokenBytes: number;
  maxTokenPatterns: number;
}

export type AuthErrorCode = "AUTH_MISSING" | "AUTH_INVALID" | "AUTH_EXPIRED";

export class AuthError extends Error {
  override name = "AuthError";
  constructor(
    readonly code: AuthErrorCode,
    message: string,
    /** Set when a limit refused the token, for chat_refusals_total. */
    readonly refusal?: RefusalReason,
  ) {
    super(message);
  }
}

/** Distinct `rooms` claims whose compiled form is kept for sharing, and the longest claim kept (as JSON). */
const COMPILED_CLAIMS_MAX = 2000;
const COMPILED_CLAIM_MAX_CHARS = 1024;

export class TokenVerifier {
  /**
   * Compiled room permissions by claim: connections whose tokens carry the same patterns (most
   * users of a deployment) share one RoomAccess instead of holding a copy each. Oldest first;
   * bounded in entries and in the length of each claim (long ones are compiled per connection).
   */
  private readonly compiled = new Map<string, RoomAccess>();
  /**
   * The shared secret as a WebCrypto key, imported once: given the raw bytes, jose imports them
   * again on every verification (~40 % of a verification's CPU, measured in issue 17's burst of
   * handshakes). Not kept if the import fails, so a later verification tries again.
   */
  private hmacKey: Promise<webcrypto.CryptoKey> | undefined;

  private constructor(
    private readonly key: Uint8Array | KeyObject,
    private readonly algorithms: string[],
    private readonly limits: TokenLimits,
  ) {}

  static fromConfig(config: JwtConfig, limits: TokenLimits): TokenVerifier {
    if (config.publicKeyPem !== undefined) {
      const key = createPublicKey(config.publicKeyPem);
      const algorithm = key.asymmetricKeyType === "rsa" ? "RS256" : key.asymmetricKeyType === "ec" ? "ES256" : undefined;
      if (!algorithm) throw new Error(`CHAT_JWT_PUBLIC_KEY: unsupported key type ${key.asymmetricKeyType}`);
      return new TokenVerifier(key, [algorithm], limits);
    }
    if (config.secret === undefined) throw new Error("no JWT key configured");
    return new TokenVerifier(new TextEncoder().encode(config.secret), ["HS256"], limits);
  }

  async verify(token: unknown): Promise<Principal> {
    if (typeof token !== "string" || token === "")
      throw new AuthError("AUTH_MISSING", "a token is required (auth.token on connect, or Authorization: Bearer)");
    const { maxTokenBytes, maxTokenPatterns } = this.limits;
    // A JWT is ASCII (base64url and dots): its length is its size in bytes.
    if (token.length > maxTokenBytes)
      throw new AuthError("AUTH_INVALID", `the token is larger than ${maxTokenBytes} bytes`, "token_too_large");
    try {
      const { payload } = await jwtVerify(token, await this.verificationKey(), {
        algorithms: this.algorithms,
        requiredClaims: ["sub", "exp"],
      });
      const userId = payload.sub;
      if (typeof userId !== "string" || !USER_ID.test(userId))
        throw new AuthError("AUTH_INVALID", "the token's sub is not a valid user id");
      const rooms = patternsClaim(payload["rooms"], "rooms", maxTokenPatterns);
      // Moderator patterns (v1.1 changes: who may delete others' messages), held to the same count.
      const mod = patternsClaim(payload["mod"], "mod", maxTokenPatterns);
      return {
        userId,
        rooms: this.compile(rooms),
        ...(mod.length > 0 ? { modPatterns: mod } : {}),
        expiresAt: (payload.exp as number) * 1000,
      };
    } catch (error) {
      if (error instanceof AuthError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new AuthError("AUTH_EXPIRED", "the token has expired");
      // Deliberately vague: which check failed is no business of a caller holding a bad token.
      throw new AuthError("AUTH_INVALID", "the token is not valid");
    }
  }

  private verificationKey(): Promise<Uint8Array | KeyObject | webcrypto.CryptoKey> | Uint8Array | KeyObject {
    if (!(this.key instanceof Uint8Array)) return this.key;
    this.hmacKey ??= webcrypto.subtle
      .importKey("raw", this.key, { name: "HMAC", hash: "SHA-256" }, false, ["verify"])
      .catch((error: unknown) => {
        this.hmacKey = undefined;
        throw error;
      });
    return this.hmacKey;
  }

  private compile(patterns: string[]): RoomAccess {
    const key = JSON.stringify(patterns);
    if (key.length > COMPILED_CLAIM_MAX_CHARS) return RoomAccess.compile(patterns);
    let access = this.compiled.get(key);
    if (!access) {
      access = RoomAccess.compile(patterns);
      this.compiled.set(key, access);
      if (this.compiled.size > COMPILED_CLAIMS_MAX) this.compiled.delete(this.compiled.keys().next().value!);
    }
    return access;
  }
}

/** A claim of room patterns: absent, or an array of at most `max` strings. */
function patternsClaim(claim: unknown, name: string, max: number): string[] {
  if (claim === undefined || claim === null) return [];
  if (!Array.isArray(claim) || !claim.every((pattern) => typeof pattern === "string")) {
    throw new AuthError("AUTH_INVALID", `the token's ${name} claim must be an array of strings`);
  }
  if (claim.length > max)
    throw new AuthError("AUTH_INVALID", `the token's ${name} claim has more than ${max} patterns`, "token_too_many_patterns");
  return claim;
}
