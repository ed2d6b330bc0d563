/**
 * Stored Responses API objects: `POST /v1/responses` keeps what it answered
 * (unless `store: false`), and these routes read it back. Part of
 * test/helpers/mock-provider.ts.
 *
 * - `GET    /v1/responses/{id}`              the stored object (not billed again); an id the mock never
 *                                            issued gets a made-up completed one unless `strictStore`
 * - `GET    /v1/responses/{id}/input_items`  the request's input as items (`order`, `after`, `limit`)
 * - `POST   /v1/responses/{id}/cancel`       a background response still queued becomes `cancelled`;
 *                                            400 for one created without `background: true`
 * - `DELETE /v1/responses/{id}`              `{id, object: "response", deleted: true}`
 *
 * A `background: true` request is answered `queued` (no output, `usage: null`) and stays so until
 * `MockProvider.completeResponse(id)`; it is billed on receipt like any generation.
 */
import { asText, isObject, lenientBool, type JsonObject, type JsonValue } from "./mock-json.ts";
import { listPage, type MockStore } from "./mock-stored-objects.ts";
import { json, openaiError, route, type Ctx, type RouteResult, type RouteSpec } from "./mock-types.ts";

/** A request's `input` as `input_items` lists it: a string is one user message; messages get ids and content parts. */
function inputItemsOf(store: MockStore, input: JsonValue | undefined): JsonObject[] {
  const message = (role: JsonValue, content: JsonValue): JsonObject => ({ id: store.newId("msg_"), type: "message", role, status: "completed", content });
  if (typeof input === "string") return [message("user", [{ type: "input_text", text: input }])];
  if (!Array.isArray(input)) return [];
  return input.filter(isObject).map((item) => {
    if (item.type !== undefined && item.type !== "message") return { id: store.newId("item_"), ...item };
    const role = item.role ?? "user";
    const content =
      typeof item.content === "string" ? [{ type: role === "assistant" ? "output_text" : "input_text", text: item.content }] : (item.content ?? []);
    return message(role, content);
  });
}

/** Called by `POST /v1/responses` with what it answered and what the response ends as (the same object unless it runs in the background). */
export function saveResponse(ctx: Ctx, answered: JsonObject, final: JsonObject): void {
  const id = asText(answered.id);
  ctx.store.issuedResponses.add(id);
  if (lenientBool(ctx.json?.store) === false) return;
  ctx.store.responses.set(id, { object: answered, final, inputItems: inputItemsOf(ctx.store, ctx.json?.input) });
}

/** Turns a queued background response into its completed self (`MockProvider.completeResponse`). */
export function finishResponse(store: MockStore, id: string): JsonObject {
  const stored = store.responses.get(id);
  if (!stored) throw new Error(`completeResponse: no stored response ${id}`);
  stored.object = stored.final;
  return stored.object;
}

const noResponse = (id: string): RouteResult => openaiError(404, `Response with id '${id}' not found.`);

/** A response for an id the mock never issued: made up, completed, with the configured usage (the mock's original behaviour). */
function madeUpResponse(ctx: Ctx, id: string): RouteResult {
  const { b } = ctx;
  const output = [
    {
      id: `msg_${id}`,
      type: "message",
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: b.text, annotations: [], logprobs: [] }],
    },
  ];
  return json({
    id,
    object: "response",
    created_at: ctx.created,
    status: "completed",
    error: null,
    incomplete_details: null,
    model: "gpt-4o-mini",
    output,
    usage: {
      input_tokens: b.usage.input,
      input_tokens_details: { cached_tokens: b.usage.cached },
      output_tokens: b.usage.output,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: b.usage.input + b.usage.output,
    },
  });
}

function getResponse(ctx: Ctx): RouteResult {
  const id = ctx.params.id ?? "";
  const stored = ctx.store.responses.get(id);
  if (stored) return json(stored.object);
  if (ctx.b.strictStore || ctx.store.issuedResponses.has(id)) return noResponse(id);
  return madeUpResponse(ctx, id);
}

function inputItems(ctx: Ctx): RouteResult {
  const id = ctx.params.id ?? "";
  const stored = ctx.store.responses.get(id);
  return stored ? json(listPage(stored.inputItems, ctx.rec.query, 20)) : noResponse(id);
}

function cancelResponse(ctx: Ctx): RouteResult {
  const id = ctx.params.id ?? "";
  const stored = ctx.store.responses.get(id);
  if (!stored) return noResponse(id);
  if (stored.object.background !== true) return openaiError(400, "Only responses created with background=true can be cancelled.");
  if (stored.object.status === "queued" || stored.object.status === "in_progress") stored.object = { ...stored.object, status: "cancelled" };
  return json(stored.object);
}

function deleteResponse(ctx: Ctx): RouteResult {
  const id = ctx.params.id ?? "";
  if (!ctx.store.responses.delete(id)) return noResponse(id);
  return json({ id, object: "response", deleted: true });
}

export const STORED_RESPONSE_ROUTES: RouteSpec[] = [
  route("GET", "/v1/responses/{id}", "openai", getResponse, { configuredUsage: true }),
  route("GET", "/v1/responses/{id}/input_items", "openai", inputItems, { configuredUsage: true }),
  route("POST", "/v1/responses/{id}/cancel", "openai", cancelResponse, { configuredUsage: true }),
  route("DELETE", "/v1/responses/{id}", "openai", deleteResponse, { configuredUsage: true }),
];
