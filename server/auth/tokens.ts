/**
 * JWT verification (jose), shared by both transports: the socket.io handshake and the REST
 * API's Bearer header; a valid token yields the domain's Principal. HS256 with
 * CHAT_JWT_SECRET, or RS256/ES256 with the PEM public key in CHAT_JWT_PUBLIC_KEY. The algorithm
 * list is fixed by the key type, so `alg: none` and algorithm-confusion tokens are refused by
 * construction.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { errors as joseErrors, jwtVerify } from "jose";
import { USER_ID } from "../chat/names.js";
import type { Principal } from "../chat/principal.js";
import type { JwtConfig } from "../config.js";

export type AuthErrorCode = "AUTH_MISSING" | "AUTH_INVALID" | "AUTH_EXPIRED";

export class AuthError extends Error {
  override name = "AuthError";
  constructor(
    readonly code: AuthErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class TokenVerifier {
  private constructor(
    private readonly key: Uint8Array | KeyObject,
    private readonly algorithms: string[],
  ) {}

  static fromConfig(config: JwtConfig): TokenVerifier {
    if (config.publicKeyPem !== undefined) {
      const key = createPublicKey(config.publicKeyPem);
      const algorithm = key.asymmetricKeyType === "rsa" ? "RS256" : key.asymmetricKeyType === "ec" ? "ES256" : undefined;
      if (!algorithm) throw new Error(`CHAT_JWT_PUBLIC_KEY: unsupported key type ${key.asymmetricKeyType}`);
      return new TokenVerifier(key, [algorithm]);
    }
    if (config.secret === undefined) throw new Error("no JWT key configured");
    return new TokenVerifier(new TextEncoder().encode(config.secret), ["HS256"]);
  }

  async verify(token: unknown): Promise<Principal> {
    if (typeof token !== "string" || token === "") throw new AuthError("AUTH_MISSING", "a token is required (auth.token on connect, or Authorization: Bearer)");
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: this.algorithms, requiredClaims: ["sub", "exp"] });
      const userId = payload.sub;
      if (typeof userId !== "string" || !USER_ID.test(userId)) throw new AuthError("AUTH_INVALID", "the token's sub is not a valid user id");
      const rooms = payload["rooms"] ?? [];
      if (!Array.isArray(rooms) || !rooms.every((pattern) => typeof pattern === "string")) {
        throw new AuthError("AUTH_INVALID", "the token's rooms claim must be an array of strings");
      }
      const mod = payload["mod"] ?? [];
      if (!Array.isArray(mod) || !mod.every((pattern) => typeof pattern === "string")) {
        throw new AuthError("AUTH_INVALID", "the token's mod claim must be an array of strings");
      }
      return { userId, roomPatterns: rooms, modPatterns: mod, expiresAt: (payload.exp as number) * 1000 };
    } catch (error) {
      if (error instanceof AuthError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new AuthError("AUTH_EXPIRED", "the token has expired");
      // Deliberately vague: which check failed is no business of a caller holding a bad token.
      throw new AuthError("AUTH_INVALID", "the token is not valid");
    }
  }
}
