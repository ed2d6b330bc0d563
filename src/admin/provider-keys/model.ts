import { t } from "elysia";
import type { ProviderKeyRow } from "../../db/store.ts";
import { PROVIDER_IDS } from "../../providers/index.ts";
import { iso, NO_CONTROL_CHARS, pageModel } from "../pagination.ts";

const Name = t.String({ minLength: 1, maxLength: 100, pattern: NO_CONTROL_CHARS, examples: ["openai-prod"] });
const Provider = t.Union(
  PROVIDER_IDS.map((p) => t.Literal(p)),
  { description: "Which provider the key belongs to", examples: ["openai"] },
);
const Secret = t.String({ minLength: 1, maxLength: 4096, description: "The provider's API key; stored encrypted, never returned", examples: ["sk-proj-…"] });
const BaseUrl = t.String({
  maxLength: 2048,
  description: "Upstream base URL including the version segment; https only unless --allow-http-upstreams",
  examples: ["https://api.openai.com/v1"],
});

const InjectStreamUsage = t.Boolean({
  default: true,
  description: "Ask OpenAI-style streams for usage (stream_options.include_usage) so streamed requests are metered; switch off for a server that rejects it",
});

export const CreateProviderKeyBody = t.Object(
  {
    name: Name,
    provider: Provider,
    key: Secret,
    base_url: t.Optional(BaseUrl),
    disabled: t.Optional(t.Boolean({ default: false })),
    inject_stream_usage: t.Optional(InjectStreamUsage),
  },
  { additionalProperties: false, title: "CreateProviderKey" },
);

export const UpdateProviderKeyBody = t.Object(
  {
    name: t.Optional(Name),
    key: t.Optional(Secret),
    base_url: t.Optional(BaseUrl),
    disabled: t.Optional(t.Boolean()),
    // No `default` here: Elysia fills defaults into absent optional fields, so every
    // PATCH (a rename, say) would silently switch the injection back on.
    inject_stream_usage: t.Optional(t.Boolean({ description: InjectStreamUsage.description })),
  },
  { additionalProperties: false, minProperties: 1, title: "UpdateProviderKey" },
);

export const ProviderKeyView = t.Object(
  {
    id: t.String({ examples: ["pk_3kTMd9QzA1bc"] }),
    name: t.String(),
    provider: t.String({ examples: ["openai"] }),
    base_url: t.String(),
    key_hint: t.String({ description: "Vendor prefix and last four characters", examples: ["sk-…wxyz"] }),
    disabled: t.Boolean(),
    inject_stream_usage: t.Boolean(),
    created_at: t.String({ format: "date-time" }),
    updated_at: t.String({ format: "date-time" }),
  },
  { title: "ProviderKey" },
);

export const ProviderKeyPage = pageModel(ProviderKeyView, "ProviderKeyPage");

export const DeleteProviderKeyResult = t.Object(
  {
    deleted: t.Literal(true),
    id: t.String(),
    revoked_proxy_key_ids: t.Array(t.String()),
  },
  { title: "DeletedProviderKey" },
);

export function providerKeyView(row: ProviderKeyRow) {
  return {
    id: row.id,
    name: row.name,
    provider: row.provider,
    base_url: row.baseUrl,
    key_hint: row.keyHint,
    disabled: row.disabled,
    inject_stream_usage: row.injectStreamUsage,
    created_at: iso(row.createdAt) as string,
    updated_at: iso(row.updatedAt) as string,
  };
}
