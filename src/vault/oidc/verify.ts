import { createRemoteJWKSet, customFetch, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";
import type { Clock } from "../../clock.ts";
import { fail, ok, type Result } from "../../errors.ts";
import { discoverJwksUri, FETCH_TIMEOUT_MS, message, unreachable } from "./discovery.ts";

/** Only these: RS256 is what GitHub and GitLab sign with, ES256 the common alternative. Never `none` nor HMAC. */
export const OIDC_ALGORITHMS = ["RS256", "ES256"] as const;
/** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. */
export const OIDC_CLOCK_TOLERANCE_S = 30;
/** How long a discovery document is trusted before it is fetched again. */
const DISCOVERY_TTL_MS = 3_600_000;

export interface OidcVerifierDeps {
  /** The app's fetch: discovery and JWKS go through it, so tests and offline runs control the network. */
  fetch: typeof fetch;
  clock: Clock;
  allowHttp: boolean;
}

type KeySet = ReturnType<typeof createRemoteJWKSet>;

interface IssuerKeys {
  jwks: KeySet;
  jwksUri: string;
  discoveredAt: number;
}

const unauthorized = <T>(why: string) => fail<T>("unauthorized", `Cannot exchange token: ${why}`);

/** `typ` values of a JWT (RFC 7519 §5.1: case-insensitive, `application/` optional); others are other kinds of token. */
const JWT_TYPES = new Set(["jwt", "application/jwt"]);

/**
 * What the header alone refuses, before any key is fetched: `crit` names
 * extensions a verifier must understand or reject (RFC 7515 §4.1.11) and
 * keyward understands none, so it is the caller's token that is unusable
 * (401), not the issuer that failed (jose would report it like a fetch
 * failure); and a `typ` other than JWT marks another kind of token (an access
 * token `at+jwt`, a logout token…) that must not pass as an ID token.
 */
function checkHeader(token: string): Result<null> {
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token);
  } catch (err) {
    return unauthorized(`token is malformed: ${message(err)}`);
  }
  if (header.crit !== undefined) {
    const names = Array.isArray(header.crit) ? header.crit.map((n) => JSON.stringify(n)).join(", ") : JSON.stringify(header.crit);
    return unauthorized(`token header marks extensions as critical that keyward does not support (crit: ${names.slice(0, 200)})`);
  }
  if (header.typ !== undefined && (typeof header.typ !== "string" || !JWT_TYPES.has(header.typ.toLowerCase()))) {
    return unauthorized(`token type ${JSON.stringify(header.typ).slice(0, 100)} is not an ID token's (typ must be JWT when present)`);
  }
  return ok(null);
}

/**
 * A JWKS on the issuer's own host, or on one a trust policy names: the
 * discovery document is the issuer's word, and a document that points the
 * keys elsewhere (a compromised or misconfigured issuer page, a shared host)
 * would let whoever runs that other host sign tokens for the issuer.
 */
function checkJwksHost(issuer: string, jwksUri: string, allowed: readonly string[]): Result<null> {
  const host = new URL(jwksUri).host;
  if (host === new URL(issuer).host || allowed.includes(host)) return ok(null);
  return unreachable(issuer, `its jwks_uri is on host ${host}, not the issuer's; a trust policy must name that host in jwks_hosts`);
}

/** Maps jose's failures to one-line reasons; network trouble on our side is 502, a bad token 401. */
function describe<T>(err: unknown, issuer: string, header: string): Result<T> {
  if (err instanceof errors.JWTExpired) return unauthorized("token has expired");
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "nbf") return unauthorized("token is not valid yet (nbf is in the future)");
    if (err.claim === "aud") return unauthorized(`token audience ${JSON.stringify(err.payload.aud)} is not accepted for this issuer`);
    if (err.claim === "iss") return unauthorized(`token issuer ${JSON.stringify(err.payload.iss)} is not trusted`);
    if (err.reason === "missing") return unauthorized(`token has no ${err.claim} claim`);
    return unauthorized(`claim ${err.claim} is invalid: ${err.message}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return unauthorized(`algorithm ${header} is not accepted (only ${OIDC_ALGORITHMS.join(", ")})`);
  }
  if (err instanceof errors.JWKSNoMatchingKey) return unauthorized("no key in the issuer's JWKS matches the token's kid and alg");
  if (err instanceof errors.JWKSMultipleMatchingKeys) return unauthorized("the token names no kid and the issuer's JWKS has several keys");
  if (err instanceof errors.JWSSignatureVerificationFailed) return unauthorized("signature is invalid");
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return unauthorized(`token is malformed: ${err.message}`);
  if (err instanceof errors.JWKSTimeout) return unreachable(issuer, "timed out");
  // Anything else (fetch failures, non-200 JWKS, unparsable JWKS) is the issuer's side, not the caller's.
  return unreachable(issuer, message(err));
}

/**
 * Verifies OIDC ID tokens from issuers keyward trusts: the JWKS is found
 * through the issuer's discovery document and cached per issuer (jose's
 * remote key set refetches on an unknown `kid`, at most every 30 s). Only
 * issuers named in a trust policy are ever contacted, so a token cannot make
 * the server fetch a URL of its choosing.
 */
export class OidcTokenVerifier {
  private readonly issuers = new Map<string, IssuerKeys>();
  /** Discoveries in flight: a burst of exchanges for one issuer fetches its document once. */
  private readonly discovering = new Map<string, Promise<Result<string>>>();

  constructor(private readonly deps: OidcVerifierDeps) {}

  /**
   * Checks the token's header, its signature against `issuer`'s keys, and its
   * iss, aud (any of `audiences`), exp and iat. `jwksHosts` are the hosts
   * besides the issuer's that its JWKS may be fetched from.
   */
  async verify(token: string, expected: { issuer: string; audiences: readonly string[]; jwksHosts?: readonly string[] }): Promise<Result<JWTPayload>> {
    const { issuer, audiences } = expected;
    const header = checkHeader(token);
    if (!header.ok) return header;
    const keys = await this.keysOf(issuer);
    if (!keys.ok) return keys;
    // Checked on every exchange, not once at discovery: a policy deleted since no longer allows the host.
    const host = checkJwksHost(issuer, keys.value.jwksUri, expected.jwksHosts ?? []);
    if (!host.ok) return host;
    try {
      const verified = await jwtVerify(token, keys.value.jwks, {
        issuer,
        audience: [...audiences],
        algorithms: [...OIDC_ALGORITHMS],
        clockTolerance: OIDC_CLOCK_TOLERANCE_S,
        currentDate: new Date(this.deps.clock.now()),
        requiredClaims: ["exp", "jti"],
      });
      const iat = verified.payload.iat;
      if (iat !== undefined && iat * 1000 > this.deps.clock.now() + OIDC_CLOCK_TOLERANCE_S * 1000) {
        return unauthorized("token was issued in the future (iat)");
      }
      return ok(verified.payload);
    } catch (err) {
      return describe(err, issuer, err instanceof errors.JOSEAlgNotAllowed ? algOf(token) : "?");
    }
  }

  private async keysOf(issuer: string): Promise<Result<IssuerKeys>> {
    const known = this.issuers.get(issuer);
    if (known && this.deps.clock.now() - known.discoveredAt < DISCOVERY_TTL_MS) return ok(known);
    let pending = this.discovering.get(issuer);
    if (!pending) {
      pending = discoverJwksUri(this.deps, issuer).finally(() => this.discovering.delete(issuer));
      this.discovering.set(issuer, pending);
    }
    const jwksUri = await pending;
    if (!jwksUri.ok) return jwksUri;
    // Keep the key set (and its cache) when rediscovery, ours or a concurrent caller's, found the same URI.
    const current = this.issuers.get(issuer);
    if (current && current.jwksUri === jwksUri.value) {
      current.discoveredAt = this.deps.clock.now();
      return ok(current);
    }
    const fetchImpl = this.deps.fetch;
    const jwks = createRemoteJWKSet(new URL(jwksUri.value), {
      timeoutDuration: FETCH_TIMEOUT_MS,
      [customFetch]: (url, options) => fetchImpl(url, options),
    });
    const entry: IssuerKeys = { jwks, jwksUri: jwksUri.value, discoveredAt: this.deps.clock.now() };
    this.issuers.set(issuer, entry);
    return ok(entry);
  }
}

/** The `alg` a token's header claims, for error messages only. */
function algOf(token: string): string {
  try {
    const part = token.split(".")[0] ?? "";
    const header: unknown = JSON.parse(atob(part.replaceAll("-", "+").replaceAll("_", "/")));
    if (typeof header === "object" && header !== null && "alg" in header) return JSON.stringify(header.alg);
  } catch {
    // Fall through: the header is not readable JSON.
  }
  return "?";
}
