import type { ProviderKeyRow, Store } from "../../db/store.ts";
import { fail, type Result } from "../../errors.ts";
import { applyIssuerPolicy, issuerQuota, readIssuerPolicy, type IssueRequest } from "../../vault/issuer-policy.ts";
import type { CreatedProxyKey, CreateProxyKeyInput, ProxyKeyService } from "../../vault/proxy-keys.ts";
import type { AdminActor } from "../auth.ts";

/** The body of `POST /api/proxy-keys`, as both kinds of caller send it. */
export type MintRequest = IssueRequest & Omit<CreateProxyKeyInput, "name" | "provider_key_id">;

/**
 * `POST /api/proxy-keys` for either caller: an admin token mints what it
 * asks for (name and provider key required, as always); a `keys:issue` token
 * mints only inside its policy (see issuer-policy.ts).
 */
export async function mintProxyKey(
  store: Store,
  service: ProxyKeyService,
  actor: AdminActor,
  body: MintRequest,
  now: number,
): Promise<Result<CreatedProxyKey>> {
  if (actor.scopes.includes("admin")) return mintAsAdmin(store, service, actor, body);
  const policy = readIssuerPolicy(actor.policy);
  if (!policy) return fail("forbidden", "Cannot issue proxy key: this keys:issue token has no policy; ask an admin for a new token");
  // Issuer policies set no bound for it, so issued keys refuse unbounded requests; dropping the field silently would hide that.
  if (body.unbounded_reservation_usd !== undefined && body.unbounded_reservation_usd !== null) {
    return fail(
      "forbidden",
      "Cannot issue proxy key: unbounded_reservation_usd is for admin tokens; keys issued by keys:issue tokens refuse requests whose cost cannot be bounded",
      "unbounded_reservation_usd",
    );
  }
  const decision = applyIssuerPolicy(policy, body, (id) => store.providerKeys.byId(id), now);
  if (!decision.ok) return decision;
  const { input } = decision.value;
  return service.create(actor.id, input, { issuer_token_id: actor.id }, issuerQuota(policy, actor.id, input));
}

async function mintAsAdmin(store: Store, service: ProxyKeyService, actor: AdminActor, body: MintRequest): Promise<Result<CreatedProxyKey>> {
  const { name, provider_key, provider_key_id, ...rest } = body;
  if (name === undefined) return fail("validation_failed", "Invalid field name: is required", "name");
  if (provider_key !== undefined && provider_key_id !== undefined) {
    return fail("validation_failed", "Cannot create proxy key: give provider_key or provider_key_id, not both", "provider_key");
  }
  let providerKeyId = provider_key_id;
  if (provider_key !== undefined) {
    const row: ProviderKeyRow | undefined = store.providerKeys.byId(provider_key) ?? store.providerKeys.byName(provider_key);
    if (!row) {
      return fail("not_found", `Cannot create proxy key: no provider key has id or name ${JSON.stringify(provider_key)}`, "provider_key");
    }
    providerKeyId = row.id;
  }
  if (providerKeyId === undefined) {
    return fail("validation_failed", "Invalid field provider_key_id: is required (or give provider_key)", "provider_key_id");
  }
  return service.create(actor.id, { ...rest, name, provider_key_id: providerKeyId });
}
