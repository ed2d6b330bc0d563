/**
 * What each provider endpoint costs and where its cost is written: the one
 * place the proxy asks. An endpoint missing here is forwarded for keys without
 * limits and refused for keys whose limits read the body, since keyward could
 * neither price it nor bound it. Adding an endpoint is adding a record (and
 * its test). The records are kept one file per API: openai-endpoints.ts (also
 * Azure's v1 API and deployment paths, Gemini's compatible API and compatible
 * servers), anthropic-endpoints.ts and gemini-endpoints.ts.
 */

/**
 * `tokens`: priced by model and token usage, bounded before forwarding.
 * `units`: priced per image, second of audio or character, which keyward has
 * no table for: a budgeted key reserves its `unbounded_reservation_usd` (or is
 * refused) and is charged reported token usage where there is one.
 * `free`: never charged (listings, stored objects read back, token counts).
 */
export type Billing = "tokens" | "units" | "free";

/** Where a token-billed endpoint keeps its model and the fields that bound its output, in the JSON body. */
export interface BodyFields {
  /** Absent where the URL names the model (Gemini) or a deployment does (Azure). */
  readonly model?: "model";
  /** Every field the provider honours as an output bound; keyward sets each one it finds to the value it reserved for. */
  readonly outputCaps: readonly string[];
  /** Fields that multiply the output (choices generated). */
  readonly outputMultipliers: readonly string[];
  /** The cap written when the client set none; absent for endpoints with no output (embeddings). */
  readonly defaultCap?: string;
  /** The object the caps live in, when not the body itself. */
  readonly container?: string;
}

/** Objects a provider stores on behalf of whoever created them; keyward records which proxy key that was. */
export type ObjectKind = "file" | "upload" | "batch" | "response" | "vector_store" | "message_batch" | "cached_content";

export interface Stores {
  readonly kind: ObjectKind;
  /** `create` records the answer's `id` as the caller's; the others need the `id` path group to be the caller's. `list` filters the answer. */
  readonly action: "create" | "read" | "update" | "delete" | "list";
  /** Where a created object's id is in the answer, when not at `id` (Gemini: `name`; a finished upload: `file.name`). */
  readonly createdId?: readonly string[];
  /** How a list's pages read; OpenAI's cursor list when absent. */
  readonly list?: ListShape;
  /**
   * A resumable upload: the start's answer names the session in `header` (a
   * URL whose `param` is its id), which becomes the caller's; every later
   * request names it in `param` and must be the caller's.
   */
  readonly session?: { readonly header: string; readonly param: string };
}

/** A provider's list page: where its objects are, and how the next page is asked for. */
export interface ListShape {
  /** The answer's array of objects (`data`; Gemini: `files`, `cachedContents`). */
  readonly items: string;
  /** Each object's id (`id`; Gemini: `name`). */
  readonly id: string;
  /** Cursors, tried in order: the answer's `field` holds the value the query's `param` takes for the next page. */
  readonly next: readonly { readonly field: string; readonly param: string }[];
  /** The answer's flag that more follow; absent where a cursor's presence says so (Gemini's `nextPageToken`). */
  readonly more?: string;
  /** The field naming the page's first object (kept from the first page keyward read). */
  readonly first?: string;
  /** A query parameter that pages backwards: such a page is filtered, never read on from. */
  readonly backwards?: string;
  /**
   * Its SDK's pager takes an empty page reached by a cursor for one holding a
   * missing item (`@google/genai`'s): a cursor is answered only towards more
   * of the caller's objects, which keyward reads ahead to find.
   */
  readonly lookahead?: true;
}

/** OpenAI's cursor lists (`after`, or `before` for some, `has_more`, `first_id`, `last_id`). */
export const OPENAI_LIST: ListShape = {
  items: "data",
  id: "id",
  next: [{ field: "last_id", param: "after" }],
  more: "has_more",
  first: "first_id",
  backwards: "before",
};

export interface Endpoint {
  /** For messages and logs, e.g. `chat.completions`. */
  readonly name: string;
  readonly method: "GET" | "POST" | "PATCH" | "DELETE";
  /** Matches the path after `/v1`, without the query. Named groups: `model`, `deployment`, `id`. */
  readonly path: RegExp;
  readonly billing: Billing;
  /** JSON token-billed endpoints. */
  readonly body?: BodyFields;
  /** Multipart endpoints: the form field naming the model, if any. */
  readonly form?: { readonly model?: string };
  /** Streams carry usage only when asked (`stream_options.include_usage`), so keyward asks. */
  readonly streamUsage?: boolean;
  /** The model is the `model` group of the path, or the provider key's mapping of its `deployment` group. */
  readonly modelFrom?: "path" | "deployment";
  /**
   * `origin`: the path carries its own version (`/v1beta/…`) and goes to the
   * base URL's origin. `dated`: Azure's dated API (`?api-version=2024-10-21`),
   * which lives beside the v1 API: the base URL without its `/v1`.
   */
  readonly upstream?: "origin" | "dated";
  /** How the provider key is sent, where the endpoint differs from its provider's default. */
  readonly credential?: "x-goog-api-key";
  readonly stores?: Stores;
  /**
   * A unit-priced request that names no model: `storage` is billed by size and
   * time. A key with `allowed_models` cannot call it; a budgeted key reserves
   * its `unbounded_reservation_usd`.
   */
  readonly namesNoModel?: "storage";
  /** Keys with limits may not call it at all, for this reason (a credential that bypasses keyward, a cost keyward cannot meter). */
  readonly refuseLimited?: string;
  /** Bodies larger than the proxy's JSON cap are allowed up to this size and streamed through, never held whole. */
  readonly maxBodyBytes?: number;
  /**
   * An upload that may be a batch's input file: a key with limits has it read
   * line by line as it streams through, each line checked as the request it
   * describes, and its worst case recorded for the batch created from it.
   */
  readonly batchInput?: BatchPricing;
  /**
   * Runs a batch whose requests keyward checks: `file`, from an input file
   * read at upload (`batchInput`); `inline`, listed in the body, billed at
   * `pricePercent` of the standard price.
   */
  readonly batch?: { readonly requests: "file" } | ({ readonly requests: "inline" } & BatchPricing);
  /** Its answer says whether a batch has ended, which settles what its creation charged. */
  readonly settlesBatch?: true;
}

/** What a provider bills a batch's requests, as a share of the same requests' standard price. */
export interface BatchPricing {
  readonly pricePercent: number;
}

/** OpenAI's Batch API (and Azure OpenAI's global batch) bills each request at half the standard price. */
export const OPENAI_BATCH_PRICE_PERCENT = 50;
/** Anthropic's Message Batches API too. */
export const ANTHROPIC_BATCH_PRICE_PERCENT = 50;
/** A server whose batch discount keyward does not know is priced as if it gave none: never less than it bills. */
export const UNKNOWN_BATCH_PRICE_PERCENT = 100;

export const CREDENTIAL = "it hands out a provider credential that would bypass this key's limits";
export const ID = "(?<id>[A-Za-z0-9_.:-]+)";
export const MODEL = "(?<model>[A-Za-z0-9_.-]+)";
/** OpenAI takes files up to 512 MB. */
export const UPLOAD_BYTES = 512 * 1024 * 1024;
/** Audio for transcription is at most 25 MB. */
export const AUDIO_BYTES = 25 * 1024 * 1024;

/** Create, list, retrieve and delete of a collection of stored objects. */
export const stored = (kind: ObjectKind, base: string, name: string): Endpoint[] => [
  { name: `${name}.create`, method: "POST", path: new RegExp(`^/${base}$`), billing: "free", stores: { kind, action: "create" } },
  { name: `${name}.list`, method: "GET", path: new RegExp(`^/${base}$`), billing: "free", stores: { kind, action: "list" } },
  { name: `${name}.retrieve`, method: "GET", path: new RegExp(`^/${base}/${ID}$`), billing: "free", stores: { kind, action: "read" } },
  { name: `${name}.delete`, method: "DELETE", path: new RegExp(`^/${base}/${ID}$`), billing: "free", stores: { kind, action: "delete" } },
];

/** The endpoint a request calls, with its path groups, if the provider's registry knows it. */
export function findEndpoint(endpoints: readonly Endpoint[], method: string, path: string): { endpoint: Endpoint; groups: Record<string, string> } | undefined {
  for (const endpoint of endpoints) {
    if (endpoint.method !== method) continue;
    const match = endpoint.path.exec(path);
    if (match) return { endpoint, groups: match.groups ?? NO_GROUPS };
  }
  return undefined;
}

const NO_GROUPS: Record<string, string> = Object.freeze({});
