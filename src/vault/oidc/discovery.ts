import { fail, ok, type Result } from "../../errors.ts";

export const FETCH_TIMEOUT_MS = 10_000;

export interface DiscoveryDeps {
  fetch: typeof fetch;
  /** Accept a plain-http `jwks_uri` (local issuers in tests, with --allow-http-upstreams). */
  allowHttp: boolean;
}

/** 502: the issuer's side failed, not the caller's token. */
export function unreachable<T>(issuer: string, why: string): Result<T> {
  return fail<T>("bad_gateway", `Cannot exchange token: cannot fetch the signing keys of issuer ${issuer}: ${why}`);
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * `jwks_uri` from `<issuer>/.well-known/openid-configuration` (OpenID Connect
 * Discovery): the document must name this very issuer, and the URI must be
 * https unless plain http is allowed. Redirects are not followed.
 */
export async function discoverJwksUri(deps: DiscoveryDeps, issuer: string): Promise<Result<string>> {
  const url = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  let doc: unknown;
  try {
    const response = await deps.fetch(url, {
      headers: { accept: "application/json" },
      redirect: "manual",
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (response.status !== 200) return unreachable(issuer, `discovery answered ${response.status}`);
    doc = await response.json();
  } catch (err) {
    return unreachable(issuer, `discovery failed: ${message(err)}`);
  }
  if (typeof doc !== "object" || doc === null) return unreachable(issuer, "discovery document is not a JSON object");
  const { issuer: named, jwks_uri: jwksUri } = doc as Record<string, unknown>;
  if (named !== issuer) return unreachable(issuer, `discovery document names issuer ${JSON.stringify(named)}`);
  if (typeof jwksUri !== "string") return unreachable(issuer, "discovery document has no jwks_uri");
  let parsed: URL;
  try {
    parsed = new URL(jwksUri);
  } catch {
    return unreachable(issuer, "jwks_uri is not a URL");
  }
  if (parsed.protocol !== "https:" && !(deps.allowHttp && parsed.protocol === "http:")) {
    return unreachable(issuer, "jwks_uri is not https");
  }
  return ok(parsed.href);
}
