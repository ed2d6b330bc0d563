import { t } from "elysia";
import type { AdminTokenRow } from "../../db/store.ts";
import { MAX_USD } from "../../limits/money.ts";
import { adminTokenStatus } from "../../vault/admin-tokens.ts";
import { SCOPES } from "../../vault/scopes.ts";
import { MAX_KEYS_PER_HOUR, readIssuerPolicy } from "../../vault/issuer-policy.ts";
import { MAX_TTL_SECONDS } from "../../vault/proxy-keys.ts";
import { iso, NO_CONTROL_CHARS, pageModel } from "../pagination.ts";

const ModelName = t.String({ minLength: 1, maxLength: 200, pattern: NO_CONTROL_CHARS });

/** The bounds of a `keys:issue` token; every key it mints stays inside them. */
export const IssuerPolicyModel = t.Object(
  {
    provider_key_ids: t.Array(t.String({ maxLength: 64 }), {
      minItems: 1,
      maxItems: 100,
      description: "Provider keys the token may mint keys on (by id; issuers may then name them by id or name)",
      examples: [["pk_3kTMd9QzA1bc"]],
    }),
    max_ttl_seconds: t.Integer({ minimum: 1, maximum: MAX_TTL_SECONDS, description: "Longest lifetime of a minted key; also the default", examples: [3600] }),
    max_budget_usd: t.Number({ minimum: 0, maximum: MAX_USD, description: "Largest total budget of a minted key; also the default", examples: [2] }),
    allowed_models: t.Optional(
      t.Array(ModelName, { minItems: 1, maxItems: 200, description: "Minted keys may use only these models (the default list)", examples: [["gpt-4o-mini"]] }),
    ),
    name_prefix: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 100,
        pattern: NO_CONTROL_CHARS,
        description: "Minted keys' names start with this; generated as <prefix>-<random> when absent",
        examples: ["ci-"],
      }),
    ),
    max_keys_per_hour: t.Optional(
      t.Integer({
        minimum: 1,
        maximum: MAX_KEYS_PER_HOUR,
        description: "Keys the token may mint in any hour (sliding); more answer 403. Checked in the transaction that inserts the key",
        examples: [20],
      }),
    ),
    max_outstanding_budget_usd: t.Optional(
      t.Number({
        minimum: 0,
        maximum: MAX_USD,
        description:
          "The most the budgets of the token's live keys (neither revoked nor expired) may add up to, the new key's included; at least max_budget_usd. Checked in the transaction that inserts the key",
        examples: [20],
      }),
    ),
    team_id: t.Optional(
      t.String({
        maxLength: 64,
        description: "Every minted key goes into this team (whose limits and budget then apply too); issuers cannot choose another",
        examples: ["tm_4fJ2q0sLxkT9"],
      }),
    ),
  },
  { additionalProperties: false, title: "IssuerPolicy" },
);

export const CreateAdminTokenBody = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 100, pattern: NO_CONTROL_CHARS, examples: ["ci-issuer"] }),
    scopes: t.Array(t.UnionEnum(SCOPES), {
      minItems: 1,
      maxItems: SCOPES.length,
      description: "`admin` does everything, `read` lists and reads, `keys:issue` mints proxy keys within a policy",
      examples: [["read"]],
    }),
    expires_at: t.Optional(t.String({ format: "date-time", examples: ["2027-01-01T00:00:00Z"] })),
    policy: t.Optional(IssuerPolicyModel),
  },
  { additionalProperties: false, title: "CreateAdminToken" },
);

const AdminTokenFields = {
  id: t.String({ examples: ["Qm3xT0aB7cD9"] }),
  name: t.String(),
  scopes: t.Array(t.String()),
  key_hint: t.String({ examples: ["kwa_Qm3xT0aB7cD9_…x2Lp"] }),
  status: t.UnionEnum(["active", "expired", "revoked"]),
  expires_at: t.Union([t.String({ format: "date-time" }), t.Null()]),
  revoked_at: t.Union([t.String({ format: "date-time" }), t.Null()]),
  created_by: t.Union([t.String(), t.Null()]),
  created_at: t.String({ format: "date-time" }),
  policy: t.Union([IssuerPolicyModel, t.Null()], { description: "The minting bounds of a keys:issue token; null for others" }),
};

export const AdminTokenView = t.Object(AdminTokenFields, { title: "AdminToken" });
export const CreatedAdminTokenView = t.Object(
  { ...AdminTokenFields, token: t.String({ description: "The full admin token. Shown only in this response." }) },
  { title: "CreatedAdminToken" },
);
export const AdminTokenPage = pageModel(AdminTokenView, "AdminTokenPage");

export function adminTokenView(row: AdminTokenRow, now: number) {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    key_hint: row.keyHint,
    status: adminTokenStatus(row, now),
    expires_at: iso(row.expiresAt),
    revoked_at: iso(row.revokedAt),
    created_by: row.createdBy,
    created_at: iso(row.createdAt) as string,
    policy: readIssuerPolicy(row.policy ?? null) ?? null,
  };
}
