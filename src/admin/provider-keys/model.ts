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

const Deployments = t.Record(t.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$" }), t.String({ minLength: 1, maxLength: 256, pattern: NO_CONTROL_CHARS }), {
  maxProperties: 500,
  description:
    "Azure OpenAI: each deployment name mapped to the model it runs. Allow-lists and prices apply to the mapped model; a key with limits calling an unmapped deployment is refused",
  examples: [{ "prod-4o": "gpt-4o", "cheap-mini": "gpt-4o-mini" }],
});

/** What OpenAI accepts in these headers (`org-…`, `proj_…`): kept to header-safe characters. */
const OPENAI_ID = "^[A-Za-z0-9_-]{1,128}$";

const OpenaiOrganization = t.String({
  pattern: OPENAI_ID,
  description:
    "OpenAI only: the organization every request is sent with (openai-organization). A client's own openai-organization header is never forwarded, pinned or not",
  examples: ["org-3kTMd9QzA1bcXy7PqR2sLm0N"],
});

const OpenaiProject = t.String({
  pattern: OPENAI_ID,
  description: "OpenAI only: the project every request is sent with (openai-project). A client's own openai-project header is never forwarded, pinned or not",
  examples: ["proj_3kTMd9QzA1bcXy7PqR2sLm0N"],
});

export const CreateProviderKeyBody = t.Object(
  {
    name: Name,
    provider: Provider,
    key: Secret,
    base_url: t.Optional(BaseUrl),
    disabled: t.Optional(t.Boolean({ default: false })),
    inject_stream_usage: t.Optional(InjectStreamUsage),
    deployments: t.Optional(Deployments),
    openai_organization: t.Optional(OpenaiOrganization),
    openai_project: t.Optional(OpenaiProject),
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
    deployments: t.Optional(t.Union([Deployments, t.Null()], { description: "Replaces the whole mapping; null removes it" })),
    openai_organization: t.Optional(t.Union([OpenaiOrganization, t.Null()], { description: `${OpenaiOrganization.description}. null unpins it` })),
    openai_project: t.Optional(t.Union([OpenaiProject, t.Null()], { description: `${OpenaiProject.description}. null unpins it` })),
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
    deployments: t.Union([t.Record(t.String(), t.String()), t.Null()], { description: Deployments.description }),
    openai_organization: t.Union([t.String(), t.Null()], { description: OpenaiOrganization.description }),
    openai_project: t.Union([t.String(), t.Null()], { description: OpenaiProject.description }),
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
    deployments: row.deployments ?? null,
    openai_organization: row.openaiOrganization,
    openai_project: row.openaiProject,
    created_at: iso(row.createdAt) as string,
    updated_at: iso(row.updatedAt) as string,
  };
}
