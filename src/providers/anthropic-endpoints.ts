/** Anthropic's Messages API, its message batches, models and Files API. */
import { ANTHROPIC_BATCH_PRICE_PERCENT, ID, MODEL, stored, UPLOAD_BYTES, type Endpoint, type ListShape } from "./endpoints.ts";

/** Anthropic's lists: `after_id` (or `before_id`) and `limit`; `has_more`, `first_id`, `last_id`. */
const LIST: ListShape = {
  items: "data",
  id: "id",
  next: [{ field: "last_id", param: "after_id" }],
  more: "has_more",
  first: "first_id",
  backwards: "before_id",
};
/** Its Files API also answers `next_page`, which its SDK sends back as `page`. */
const FILES_LIST: ListShape = { ...LIST, next: [{ field: "next_page", param: "page" }, ...LIST.next] };

/** Uploads may exceed the JSON cap; the list pages as Anthropic's Files API does. */
function fileEndpoint(e: Endpoint): Endpoint {
  if (e.stores?.action === "create") return { ...e, form: {}, maxBodyBytes: UPLOAD_BYTES };
  if (e.stores?.action === "list") return { ...e, stores: { ...e.stores, list: FILES_LIST } };
  return e;
}

export const ANTHROPIC_ENDPOINTS: readonly Endpoint[] = [
  {
    name: "messages",
    method: "POST",
    path: /^\/messages$/,
    billing: "tokens",
    body: { model: "model", outputCaps: ["max_tokens"], outputMultipliers: [], defaultCap: "max_tokens" },
  },
  { name: "messages.count_tokens", method: "POST", path: /^\/messages\/count_tokens$/, billing: "free" },
  // Like OpenAI's batches, its requests run later: a key with limits has each checked in the body, is charged their
  // worst case at creation, and is refunded to the real cost once the batch ends.
  {
    name: "messages.batches.create",
    method: "POST",
    path: /^\/messages\/batches$/,
    billing: "tokens",
    batch: { requests: "inline", pricePercent: ANTHROPIC_BATCH_PRICE_PERCENT },
    stores: { kind: "message_batch", action: "create" },
  },
  {
    name: "messages.batches.list",
    method: "GET",
    path: /^\/messages\/batches$/,
    billing: "free",
    stores: { kind: "message_batch", action: "list", list: LIST },
  },
  {
    name: "messages.batches.retrieve",
    method: "GET",
    path: new RegExp(`^/messages/batches/${ID}$`),
    billing: "free",
    stores: { kind: "message_batch", action: "read" },
    settlesBatch: true,
  },
  {
    name: "messages.batches.results",
    method: "GET",
    path: new RegExp(`^/messages/batches/${ID}/results$`),
    billing: "free",
    stores: { kind: "message_batch", action: "read" },
  },
  {
    name: "messages.batches.cancel",
    method: "POST",
    path: new RegExp(`^/messages/batches/${ID}/cancel$`),
    billing: "free",
    stores: { kind: "message_batch", action: "update" },
  },
  {
    name: "messages.batches.delete",
    method: "DELETE",
    path: new RegExp(`^/messages/batches/${ID}$`),
    billing: "free",
    stores: { kind: "message_batch", action: "delete" },
  },
  ...stored("file", "files", "files").map(fileEndpoint),
  { name: "files.content", method: "GET", path: new RegExp(`^/files/${ID}/content$`), billing: "free", stores: { kind: "file", action: "read" } },
  { name: "models.list", method: "GET", path: /^\/models$/, billing: "free" },
  { name: "models.retrieve", method: "GET", path: new RegExp(`^/models/${MODEL}$`), billing: "free" },
];
