import { Elysia } from "elysia";
import type { Clock } from "../clock.ts";
import type { Store } from "../db/store.ts";
import { adminTokenStatus } from "../vault/admin-tokens.ts";
import type { Scope } from "../vault/scopes.ts";
import { parseKey } from "../vault/key-format.ts";
import { requestContext, setRequestKeyId } from "../telemetry/request-context.ts";
import type { SecretVerifier } from "../vault/verifier.ts";
import { bodyDepthError } from "./body-depth.ts";
import { ApiError } from "./errors.ts";

export interface AdminActor {
  /** Admin token id; also the actor recorded in the audit log. */
  id: string;
  scopes: readonly Scope[];
  /** The stored minting policy of a `keys:issue` token; null for other tokens. */
  policy: Record<string, unknown> | null;
}

export interface AdminAuthDeps {
  store: Store;
  clock: Clock;
  verifier: SecretVerifier;
}

/** Which scopes satisfy a route's requirement: `admin` does everything, `read` only reads. */
function allows(held: readonly Scope[], required: Scope): boolean {
  if (held.includes("admin")) return true;
  return held.includes(required);
}

const unauthorized = (message: string) => new ApiError({ code: "unauthorized", message });

/** The token of an `Authorization: Bearer <token>` header (scheme name case-insensitive). */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * Authenticates an admin token from `Authorization: Bearer` (never from the
 * query string). The token row is read on every call, so a revoke applies to
 * the very next request; only the argon2 check is cached. `client` is the
 * caller's address: wrong secrets throttle their sender, not the token.
 */
export async function authenticateAdmin(deps: AdminAuthDeps, header: string | undefined, client?: string): Promise<AdminActor> {
  const token = bearerToken(header);
  if (!token) throw unauthorized("Cannot authenticate: send an admin token as Authorization: Bearer kwa_…");
  if (token.startsWith("kwp_")) {
    throw unauthorized("Cannot authenticate: proxy keys (kwp_) cannot call the admin API; use an admin token (kwa_)");
  }
  const parsed = parseKey("admin", token);
  if (!parsed) throw unauthorized("Cannot authenticate: admin token is malformed");
  const row = deps.store.adminTokens.byId(parsed.id);
  if (!row) throw unauthorized("Cannot authenticate: admin token is invalid");
  const outcome = await deps.verifier.verify({ id: parsed.id, token: parsed.token, secret: parsed.secret, phc: row.secretHash, client });
  if (outcome !== "valid") throw unauthorized("Cannot authenticate: admin token is invalid");
  const status = adminTokenStatus(row, deps.clock.now());
  if (status !== "active") throw unauthorized(`Cannot authenticate: admin token is ${status}`);
  return { id: row.id, scopes: row.scopes as Scope[], policy: row.policy ?? null };
}

/** "the admin scope", or "the admin scope (or keys:issue)" for a route several scopes may call. */
function needs(required: readonly Scope[]): string {
  const [first, ...rest] = required;
  return rest.length === 0 ? `the ${first} scope` : `the ${first} scope (or ${rest.join(", ")})`;
}

/**
 * The `scope` macro: `{ scope: "read" }` on a route resolves `actor` or
 * answers 401/403 before the handler runs. Authentication happens in
 * `transform`, which Elysia runs before body/query/params validation, so a
 * caller without a valid token gets 401 and never a validation report.
 * `{ scope: ["admin", "keys:issue"] }` lets any of the listed scopes in; the
 * handler then tells them apart through `actor.scopes`.
 */
export function adminAuth(deps: AdminAuthDeps) {
  const actors = new WeakMap<Request, AdminActor>();
  return new Elysia({ name: "admin.auth" }).macro({
    scope: (required: Scope | readonly Scope[]) => ({
      async transform({ request, body }) {
        const actor = await authenticateAdmin(deps, request.headers.get("authorization") ?? undefined, requestContext(request).client);
        // The access line names the authenticated token (its id, never the token), refused scope included.
        setRequestKeyId(request, actor.id);
        const anyOf: readonly Scope[] = typeof required === "string" ? [required] : required;
        if (!anyOf.some((scope) => allows(actor.scopes, scope))) {
          throw new ApiError({
            code: "forbidden",
            message: `Cannot perform this operation: it needs ${needs(anyOf)}, the token has ${actor.scopes.join(", ")}`,
          });
        }
        // Also before validation, and only for authenticated callers: see body-depth.ts.
        const tooDeep = bodyDepthError(body);
        if (tooDeep) throw new ApiError(tooDeep);
        actors.set(request, actor);
      },
      resolve({ request }) {
        const actor = actors.get(request);
        if (!actor) throw unauthorized("Cannot authenticate: send an admin token as Authorization: Bearer kwa_…");
        return { actor };
      },
      detail: { security: [{ bearerAuth: [] }] },
    }),
  });
}
