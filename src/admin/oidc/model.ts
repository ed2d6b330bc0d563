import { t } from "elysia";
import type { TrustPolicyRow } from "../../db/store.ts";
import { MAX_USD, microsToUsd } from "../../limits/money.ts";
import { MAX_EXCHANGE_TTL_SECONDS, policyClaims, policyJwksHosts, policyTeamId } from "../../vault/oidc/trust-policies.ts";
import { iso, NO_CONTROL_CHARS, pageModel } from "../pagination.ts";

export const CreateTrustPolicyBody = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 100, pattern: NO_CONTROL_CHARS, description: "Also the prefix of minted keys' names", examples: ["ci-main"] }),
    issuer: t.String({
      minLength: 1,
      maxLength: 500,
      description: "The OIDC issuer exactly as tokens carry it in `iss` (https)",
      examples: ["https://token.actions.githubusercontent.com"],
    }),
    audience: t.String({ minLength: 1, maxLength: 500, pattern: NO_CONTROL_CHARS, description: "The `aud` tokens must carry", examples: ["keyward"] }),
    claims: t.Record(
      t.String({ description: "A claim name (letters, digits, _ . : -)" }),
      t.Array(t.Union([t.String({ maxLength: 1000 }), t.Number(), t.Boolean()]), { minItems: 1, maxItems: 100 }),
      {
        minProperties: 1,
        maxProperties: 20,
        description: 'Every listed claim must equal one of its values exactly (compared as strings, so 4242 matches "4242"); no wildcards',
        examples: [{ repository: ["acme/api"], ref: ["refs/heads/main"] }],
      },
    ),
    provider_key_id: t.String({ maxLength: 64, examples: ["pk_3kTMd9QzA1bc"] }),
    ttl_seconds: t.Integer({ minimum: 1, maximum: MAX_EXCHANGE_TTL_SECONDS, description: "Lifetime of each minted key", examples: [3600] }),
    budget_usd: t.Number({ minimum: 0, maximum: MAX_USD, description: "Total budget of each minted key", examples: [2] }),
    allowed_models: t.Optional(
      t.Array(t.String({ minLength: 1, maxLength: 200, pattern: NO_CONTROL_CHARS }), {
        minItems: 1,
        maxItems: 200,
        description: "Minted keys may use only these models",
        examples: [["gpt-4o-mini"]],
      }),
    ),
    jwks_hosts: t.Optional(
      t.Array(t.String({ minLength: 1, maxLength: 260 }), {
        minItems: 1,
        maxItems: 10,
        description:
          "Hosts (`name` or `name:port`) besides the issuer's own that its discovery document may point `jwks_uri` at; a JWKS elsewhere is refused. GitHub and GitLab need none; Google serves its keys from www.googleapis.com",
        examples: [["www.googleapis.com"]],
      }),
    ),
    team_id: t.Optional(
      t.String({
        maxLength: 64,
        description: "Every minted key joins this team, whose limits and budget apply too",
        examples: ["tm_4fJ2q0sLxkT9"],
      }),
    ),
  },
  { additionalProperties: false, title: "CreateTrustPolicy" },
);

export const TrustPolicyView = t.Object(
  {
    id: t.String({ examples: ["tp_Qm3xT0aB7cD9"] }),
    name: t.String(),
    issuer: t.String(),
    audience: t.String(),
    claims: t.Record(t.String(), t.Array(t.String())),
    provider_key_id: t.String(),
    ttl_seconds: t.Integer(),
    budget_usd: t.Number(),
    allowed_models: t.Union([t.Array(t.String()), t.Null()]),
    jwks_hosts: t.Array(t.String(), { description: "Hosts besides the issuer's own its JWKS may come from; empty: the issuer's only" }),
    team_id: t.Union([t.String(), t.Null()], { description: "The team minted keys join; null for none" }),
    created_by: t.Union([t.String(), t.Null()]),
    created_at: t.String({ format: "date-time" }),
  },
  { title: "TrustPolicy" },
);

export const TrustPolicyPage = pageModel(TrustPolicyView, "TrustPolicyPage");

export function trustPolicyView(row: TrustPolicyRow) {
  return {
    id: row.id,
    name: row.name,
    issuer: row.issuer,
    audience: row.audience,
    claims: policyClaims(row),
    provider_key_id: row.providerKeyId,
    ttl_seconds: row.ttlSeconds,
    budget_usd: microsToUsd(row.budgetMicros),
    allowed_models: row.allowedModels,
    jwks_hosts: policyJwksHosts(row),
    team_id: policyTeamId(row) ?? null,
    created_by: row.createdBy,
    created_at: iso(row.createdAt) as string,
  };
}
