import { t } from "elysia";
import type { ProxyKeyRow } from "../../db/store.ts";
import { PROXY_KEY_STATUSES, type ProxyKeyStatus } from "../../vault/proxy-keys.ts";
import { iso, NO_CONTROL_CHARS, pageModel } from "../pagination.ts";

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

export const CreateProxyKeyBody = t.Object(
  {
    name: Name,
    provider_key_id: t.String({ maxLength: 64, examples: ["pk_3kTMd9QzA1bc"] }),
    expires_at: t.Optional(ExpiresAt),
    ttl_seconds: t.Optional(TtlSeconds),
    metadata: t.Optional(Metadata),
  },
  { additionalProperties: false, title: "CreateProxyKey" },
);

export const UpdateProxyKeyBody = t.Object(
  {
    name: t.Optional(Name),
    expires_at: t.Optional(t.Union([ExpiresAt, t.Null()], { description: "New expiry, or null for none" })),
    ttl_seconds: t.Optional(TtlSeconds),
    metadata: t.Optional(t.Union([Metadata, t.Null()])),
  },
  { additionalProperties: false, minProperties: 1, title: "UpdateProxyKey" },
);

const ProxyKeyFields = {
  id: t.String({ description: "Public key id, the part after kwp_", examples: ["Zk3a9QmP0xYb"] }),
  name: t.String(),
  provider_key_id: t.String(),
  key_hint: t.String({ examples: ["kwp_Zk3a9QmP0xYb_…8f2K"] }),
  status: t.UnionEnum(PROXY_KEY_STATUSES, { description: "Derived: revoked, expired, provider-disabled or active" }),
  expires_at: t.Union([t.String({ format: "date-time" }), t.Null()]),
  revoked_at: t.Union([t.String({ format: "date-time" }), t.Null()]),
  metadata: t.Union([t.Record(t.String(), t.Unknown()), t.Null()]),
  created_by: t.Union([t.String(), t.Null()], { description: "Admin token id (or cli/bootstrap) that created the key" }),
  created_at: t.String({ format: "date-time" }),
  updated_at: t.String({ format: "date-time" }),
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

export function proxyKeyView(row: ProxyKeyRow, status: ProxyKeyStatus) {
  return {
    id: row.id,
    name: row.name,
    provider_key_id: row.providerKeyId,
    key_hint: row.keyHint,
    status,
    expires_at: iso(row.expiresAt),
    revoked_at: iso(row.revokedAt),
    metadata: row.metadata ?? null,
    created_by: row.createdBy,
    created_at: iso(row.createdAt) as string,
    updated_at: iso(row.updatedAt) as string,
  };
}
