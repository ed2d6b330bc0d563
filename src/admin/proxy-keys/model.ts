import { t } from "elysia";
import { MAX_USD } from "../../limits/money.ts";
import { BUDGET_PERIODS } from "../../limits/period.ts";
import { PROXY_KEY_STATUSES } from "../../vault/proxy-key-status.ts";
import { NO_CONTROL_CHARS, pageModel } from "../pagination.ts";

const Name = t.String({ minLength: 1, maxLength: 200, pattern: NO_CONTROL_CHARS, examples: ["alice-laptop"] });
const ExpiresAt = t.String({
  format: "date-time",
  description: "When the key stops working (ISO 8601, UTC)",
  examples: ["2026-12-31T23:59:59Z"],
});
const TtlSeconds = t.Integer({ minimum: 1, maximum: 315_360_000, description: "Lifetime in seconds from now; alternative to expires_at", examples: [3600] });
const Metadata = t.Record(t.String({ maxLength: 100 }), t.Union([t.String({ maxLength: 1000 }), t.Number(), t.Boolean(), t.Null()]), {
  maxProperties: 50,
  description: "Free-form labels (owner, team, ticket…); never secrets",
  examples: [{ team: "search", owner: "alice@example.com" }],
});

const ModelName = t.String({ minLength: 1, maxLength: 200, pattern: NO_CONTROL_CHARS });
const TEAM_DESCRIPTION = "The team whose limits apply too (a key belongs to at most one): each request must fit the key's limits and the team's";
const TeamId = t.String({ maxLength: 64, description: TEAM_DESCRIPTION, examples: ["tm_4fJ2q0sLxkT9"] });
const PositiveLimit = (description: string, example: number) => t.Integer({ minimum: 1, maximum: 1_000_000_000, description, examples: [example] });
const BudgetUsd = t.Number({
  minimum: 0,
  maximum: MAX_USD,
  description: "Spending cap in USD per budget_period; enforced by reserving each request's worst-case cost",
  examples: [5],
});

const UNBOUNDED_DESCRIPTION =
  "What a budgeted key reserves, in USD per request, for a request whose cost keyward cannot bound in advance (a stored response or conversation, an uploaded file, a background run); the real cost is charged when known. Absent or null: such requests are refused. Has no effect without budget_usd";
const UnboundedReservationUsd = t.Number({ minimum: 0, maximum: MAX_USD, description: UNBOUNDED_DESCRIPTION, examples: [0.5] });

/** Limit fields as accepted on create (a value) and update (a value, or null to remove the limit). */
export const LimitFields = {
  allowed_models: t.Optional(t.Array(ModelName, { maxItems: 200, description: "Only these models (exact names); absent: any", examples: [["gpt-4o-mini"]] })),
  rpm: t.Optional(PositiveLimit("Requests per minute", 60)),
  tpm: t.Optional(PositiveLimit("Tokens (input + output) per minute", 100_000)),
  max_concurrency: t.Optional(PositiveLimit("Requests in flight at once", 4)),
  budget_usd: t.Optional(BudgetUsd),
  budget_period: t.Optional(t.UnionEnum(BUDGET_PERIODS, { default: "total", description: "When spend resets (UTC; weeks start Monday)" })),
  unbounded_reservation_usd: t.Optional(UnboundedReservationUsd),
};

const nullable = <T extends ReturnType<typeof t.Integer> | ReturnType<typeof t.Number> | ReturnType<typeof t.Array>>(schema: T) =>
  t.Optional(t.Union([schema, t.Null()], { description: `${schema.description ?? ""}; null removes the limit` }));

const LimitUpdates = {
  allowed_models: nullable(t.Array(ModelName, { maxItems: 200, description: "Only these models" })),
  rpm: nullable(PositiveLimit("Requests per minute", 60)),
  tpm: nullable(PositiveLimit("Tokens per minute", 100_000)),
  max_concurrency: nullable(PositiveLimit("Requests in flight at once", 4)),
  budget_usd: nullable(BudgetUsd),
  unbounded_reservation_usd: t.Optional(t.Union([UnboundedReservationUsd, t.Null()], { description: UNBOUNDED_DESCRIPTION, examples: [0.5] })),
  // Neither a `default` nor t.UnionEnum on update: Elysia fills both into an absent
  // optional field, so every PATCH (a rename, say) would reset the period to "total".
  budget_period: t.Optional(
    t.Union(
      BUDGET_PERIODS.map((p) => t.Literal(p)),
      { description: "When spend resets (UTC; weeks start Monday)" },
    ),
  ),
};

export const CreateProxyKeyBody = t.Object(
  {
    name: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 200,
        pattern: NO_CONTROL_CHARS,
        description: "Required for admin tokens. keys:issue tokens may omit it (a name with their policy's prefix is generated)",
        examples: ["alice-laptop"],
      }),
    ),
    provider_key_id: t.Optional(
      t.String({ maxLength: 64, description: "Required for admin tokens unless provider_key is given", examples: ["pk_3kTMd9QzA1bc"] }),
    ),
    provider_key: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 200,
        description: "A provider key id or name, instead of provider_key_id; keys:issue tokens resolve it within their policy only",
        examples: ["openai-ci"],
      }),
    ),
    expires_at: t.Optional(ExpiresAt),
    ttl_seconds: t.Optional(TtlSeconds),
    metadata: t.Optional(Metadata),
    team_id: t.Optional(TeamId),
    ...LimitFields,
  },
  { additionalProperties: false, title: "CreateProxyKey" },
);

export const UpdateProxyKeyBody = t.Object(
  {
    name: t.Optional(Name),
    expires_at: t.Optional(t.Union([ExpiresAt, t.Null()], { description: "New expiry, or null for none" })),
    ttl_seconds: t.Optional(TtlSeconds),
    metadata: t.Optional(t.Union([Metadata, t.Null()])),
    team_id: t.Optional(
      t.Union([TeamId, t.Null()], {
        description:
          "Moves the key to this team (null: to none). The key keeps its own spend; the new team counts the key's spend from the move on, the old one keeps what was spent while the key was in it",
      }),
    ),
    ...LimitUpdates,
  },
  { additionalProperties: false, minProperties: 1, title: "UpdateProxyKey" },
);

export const BatchCreateBody = t.Object(
  {
    count: t.Integer({ minimum: 1, maximum: 1000, description: "How many keys (up to 1000)", examples: [200] }),
    name_prefix: t.String({
      minLength: 1,
      maxLength: 100,
      pattern: NO_CONTROL_CHARS,
      description: "Keys are named <prefix>-001, <prefix>-002, …",
      examples: ["hackathon"],
    }),
    provider_key_id: t.String({ maxLength: 64, examples: ["pk_3kTMd9QzA1bc"] }),
    expires_at: t.Optional(ExpiresAt),
    ttl_seconds: t.Optional(TtlSeconds),
    metadata: t.Optional(Metadata),
    team_id: t.Optional(TeamId),
    ...LimitFields,
  },
  { additionalProperties: false, title: "BatchCreateProxyKeys" },
);

const ProxyKeyFields = {
  id: t.String({ description: "Public key id, the part after kwp_", examples: ["Zk3a9QmP0xYb"] }),
  name: t.String(),
  provider_key_id: t.String(),
  provider: t.String({
    description: "The provider behind the key (openai, anthropic, …), so a client knows which SDK settings to use",
    examples: ["openai"],
  }),
  key_hint: t.String({ examples: ["kwp_Zk3a9QmP0xYb_…8f2K"] }),
  status: t.UnionEnum(PROXY_KEY_STATUSES, { description: "Derived: revoked, expired, provider-disabled or active" }),
  expires_at: t.Union([t.String({ format: "date-time" }), t.Null()]),
  revoked_at: t.Union([t.String({ format: "date-time" }), t.Null()]),
  metadata: t.Union([t.Record(t.String(), t.Unknown()), t.Null()]),
  created_by: t.Union([t.String(), t.Null()], { description: "Admin token id (or cli/bootstrap) that created the key" }),
  created_at: t.String({ format: "date-time" }),
  updated_at: t.String({ format: "date-time" }),
  allowed_models: t.Union([t.Array(t.String()), t.Null()]),
  rpm: t.Union([t.Integer(), t.Null()]),
  tpm: t.Union([t.Integer(), t.Null()]),
  max_concurrency: t.Union([t.Integer(), t.Null()]),
  budget_usd: t.Union([t.Number(), t.Null()]),
  budget_period: t.UnionEnum(BUDGET_PERIODS),
  team_id: t.Union([t.String(), t.Null()], { description: "The key's team, whose limits apply too; null for none" }),
  unbounded_reservation_usd: t.Union([t.Number(), t.Null()], {
    description: "Reserved per request whose cost keyward cannot bound; null: such requests are refused",
    examples: [0.5],
  }),
  spend_usd: t.Number({ description: "Settled spend in the current period" }),
  reserved_usd: t.Number({ description: "Held for requests in flight" }),
  budget_remaining_usd: t.Union([t.Number(), t.Null()], { description: "budget_usd − spend_usd; null without a budget" }),
  period_started_at: t.String({ format: "date-time", description: "Start of the current budget period (the key's creation for total)" }),
  previous_secret_expires_at: t.Union([t.String({ format: "date-time" }), t.Null()], {
    description:
      "When the secret replaced by the last rotation stops (or stopped) being accepted; null when that rotation kept no grace or the key was never rotated",
  }),
};

export const ProxyKeyView = t.Object(ProxyKeyFields, { title: "ProxyKey" });

export const CreatedProxyKeyView = t.Object(
  {
    ...ProxyKeyFields,
    key: t.String({
      description: "The full proxy key. Shown only in this response; store it now.",
      examples: ["kwp_Zk3a9QmP0xYb_4fJ2q0sLxkT9bV7cW1nE8rM3yP6aD5hG0u1iK2"],
    }),
  },
  { title: "CreatedProxyKey" },
);

export const ProxyKeyPage = pageModel(ProxyKeyView, "ProxyKeyPage");

export const ProxyKeyListQuery = t.Object({
  provider_key_id: t.Optional(t.String({ maxLength: 64, description: "Only keys of this provider key" })),
  // A union of literals, not t.UnionEnum: Elysia 1.4 fills an absent optional UnionEnum query
  // value with its first member, which turned "list all" into "list active only".
  status: t.Optional(
    t.Union(
      PROXY_KEY_STATUSES.map((s) => t.Literal(s)),
      { description: "Only keys with this derived status" },
    ),
  ),
});
