/**
 * A local OIDC issuer for tests: a real HTTP server on 127.0.0.1 serving
 * `/.well-known/openid-configuration` and a JWKS with one RS256 and one ES256
 * key, plus helpers that sign ID tokens with them (via jose) and craft the
 * malicious ones by hand (`alg: none`, HS256 keyed with the RSA public key).
 */
import { createHmac } from "node:crypto";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from "jose";

export type SigningAlg = "RS256" | "ES256";

export interface TokenOptions {
  /** Seconds since the epoch the token is made at (the app's clock in tests). */
  now: number;
  alg?: SigningAlg;
  /** Defaults to the kid of the key for `alg`. */
  kid?: string;
  /** Sign with this key instead of the published one (an unknown key). */
  key?: CryptoKey;
  /** Overrides of iss, aud, sub, jti, iat, exp, nbf; `undefined` removes the claim. */
  claims?: Record<string, unknown>;
  /** Overrides of the protected header (`typ`, `crit`…); `undefined` removes the field. */
  header?: Record<string, unknown>;
}

export interface OidcIssuerOptions {
  /** Serve the JWKS from a second server on 127.0.0.2 (another host), and name it in the discovery document. */
  jwksElsewhere?: boolean;
}

export interface OidcIssuer {
  /** `http://127.0.0.1:PORT` (tests run keyward with http issuers allowed). */
  issuer: string;
  /** The host (`host:port`) of the `jwks_uri` the discovery document names. */
  jwksHost: string;
  /** Requests this issuer has served, by kind. */
  served: { discovery: number; jwks: number };
  /** A signed ID token shaped like GitHub Actions' (repository, ref, run_id…). */
  token(options: TokenOptions): Promise<string>;
  /** `alg: none`, no signature. */
  unsignedToken(options: TokenOptions): string;
  /** HS256 with the RSA public key (PEM) as HMAC secret: the classic key-confusion attack. */
  hmacWithPublicKey(options: TokenOptions): Promise<string>;
  stop(): Promise<void>;
}

let jtiCounter = 0;

const b64url = (data: string | Buffer) => Buffer.from(data).toString("base64url");

export async function startOidcIssuer(options: OidcIssuerOptions = {}): Promise<OidcIssuer> {
  const rsa = await generateKeyPair("RS256", { extractable: true });
  const ec = await generateKeyPair("ES256", { extractable: true });
  const jwks = {
    keys: [
      { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" },
      { ...(await exportJWK(ec.publicKey)), kid: "ec-1", alg: "ES256", use: "sig" },
    ],
  };
  const served = { discovery: 0, jwks: 0 };
  let issuer = "";
  let jwksBase = "";
  const fetchHandler = (request: Request) => {
    const path = new URL(request.url).pathname;
    if (path === "/.well-known/openid-configuration") {
      served.discovery++;
      return Response.json({ issuer, jwks_uri: `${jwksBase}/.well-known/jwks`, id_token_signing_alg_values_supported: ["RS256", "ES256"] });
    }
    if (path === "/.well-known/jwks") {
      served.jwks++;
      return Response.json(jwks);
    }
    return new Response("not found", { status: 404 });
  };
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: fetchHandler });
  // All of 127/8 is loopback on Linux: a second address is another host on the same machine.
  const keyServer = options.jwksElsewhere ? Bun.serve({ port: 0, hostname: "127.0.0.2", fetch: fetchHandler }) : undefined;
  issuer = `http://127.0.0.1:${server.port}`;
  jwksBase = keyServer ? `http://127.0.0.2:${keyServer.port}` : issuer;

  /** GitHub-like claims at `now`, valid five minutes, with overrides applied. */
  function claimsFor(options: TokenOptions): JWTPayload {
    const base: Record<string, unknown> = {
      iss: issuer,
      aud: "keyward-test",
      sub: "repo:acme/api:ref:refs/heads/main",
      jti: `jti-${++jtiCounter}-${crypto.randomUUID()}`,
      iat: options.now,
      nbf: options.now - 5,
      exp: options.now + 300,
      repository: "acme/api",
      repository_id: "4242",
      repository_owner: "acme",
      ref: "refs/heads/main",
      run_id: "987654321",
      workflow: "ci",
    };
    for (const [name, value] of Object.entries(options.claims ?? {})) {
      if (value === undefined) delete base[name];
      else base[name] = value;
    }
    return base;
  }

  return {
    issuer,
    jwksHost: new URL(jwksBase).host,
    served,
    async token(options) {
      const alg = options.alg ?? "RS256";
      const key = options.key ?? (alg === "RS256" ? rsa.privateKey : ec.privateKey);
      const header: Record<string, unknown> = { alg, typ: "JWT", kid: options.kid ?? (alg === "RS256" ? "rsa-1" : "ec-1") };
      for (const [name, value] of Object.entries(options.header ?? {})) {
        if (value === undefined) delete header[name];
        else header[name] = value;
      }
      // jose refuses to sign with a critical extension it is not told it understands.
      const crit = Array.isArray(header.crit) ? Object.fromEntries(header.crit.map((name) => [String(name), true])) : undefined;
      return new SignJWT(claimsFor(options)).setProtectedHeader({ ...header, alg }).sign(key, crit ? { crit } : undefined);
    },
    unsignedToken(options) {
      return `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${b64url(JSON.stringify(claimsFor(options)))}.`;
    },
    async hmacWithPublicKey(options) {
      const pem = await exportSPKI(rsa.publicKey);
      const signingInput = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT", kid: "rsa-1" }))}.${b64url(JSON.stringify(claimsFor(options)))}`;
      return `${signingInput}.${createHmac("sha256", pem).update(signingInput).digest("base64url")}`;
    },
    async stop() {
      await server.stop(true);
      await keyServer?.stop(true);
    },
  };
}
