/**
 * HS256 JWTs (via `jose`): the user's backend mints them with the shared MESSENGER_JWT_SECRET, the chat
 * server verifies them on upgrade and on the HTTP API. `sub` is the user shown on messages.
 */
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { JWT_SECRET_MIN } from '../../src/config/jwt-secret.js';

/** Longest accepted `sub` (fits the `user` column). */
export const MAX_SUB_LENGTH = 191;
/** Shortest accepted secret, in characters: the toolkit's one rule (esbuild inlines it into the bundle). */
export const MIN_SECRET_LENGTH = JWT_SECRET_MIN;

function keyOf(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/** Signs an HS256 token with `sub` and `exp` = now + ttlSeconds (also `iat`, and `aud`/`iss` when given). For tests, verify and backends. */
export async function mintToken(secret: string, sub: string, ttlSeconds: number, claims: TokenClaims = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(sub).setIssuedAt(now).setExpirationTime(now + ttlSeconds);
  if (claims.audience) jwt.setAudience(claims.audience);
  if (claims.issuer) jwt.setIssuer(claims.issuer);
  return jwt.sign(keyOf(secret));
}

/** Outcome of checking a token: the user and when the token expires (unix seconds), or why it was refused. */
export type TokenCheck = { ok: true; sub: string; exp: number } | { ok: false; reason: 'missing' | 'expired' | 'invalid' };

/** Claims a deployment may require (MESSENGER_JWT_AUDIENCE / MESSENGER_JWT_ISSUER): a token minted for another service is refused. */
export interface TokenClaims {
  audience?: string;
  issuer?: string;
}

/** Creates a verifier bound to one secret (the key is encoded once). Never throws. */
export function createTokenVerifier(secret: string, claims: TokenClaims = {}): (token: string | undefined) => Promise<TokenCheck> {
  // Imported once: given the raw bytes, jose imports a CryptoKey on every call, 8 % of the server's
  // CPU while 10,000 clients connected. A key that cannot be imported refuses every token (below).
  const key = crypto.subtle.importKey('raw', keyOf(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  key.catch(() => {});
  return async (token) => {
    if (!token) return { ok: false, reason: 'missing' };
    try {
      const { payload } = await jwtVerify(token, await key, {
        algorithms: ['HS256'],
        requiredClaims: ['sub', 'exp'],
        ...(claims.audience ? { audience: claims.audience } : {}),
        ...(claims.issuer ? { issuer: claims.issuer } : {}),
      });
      const sub = payload.sub;
      if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUB_LENGTH) return { ok: false, reason: 'invalid' };
      return { ok: true, sub, exp: payload.exp as number };
    } catch (err) {
      return { ok: false, reason: err instanceof joseErrors.JWTExpired ? 'expired' : 'invalid' };
    }
  };
}
