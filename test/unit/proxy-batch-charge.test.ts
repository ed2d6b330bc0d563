/**
 * What creating a batch is charged (src/proxy/charge.ts): its worst case,
 * even when the created batch object reports `usage` (zero: none of its
 * requests ran yet), nothing when the provider refused it, and the worst case
 * when the answer was cut short (the batch may exist).
 */
import { expect, test } from "bun:test";
import { findEndpoint } from "../../src/providers/endpoints.ts";
import { openaiStyleEndpoints } from "../../src/providers/openai-endpoints.ts";
import { chargeOf } from "../../src/proxy/charge.ts";

const endpoint = findEndpoint(openaiStyleEndpoints({ chatCap: "max_completion_tokens" }), "POST", "/batches")?.endpoint;
const zero = { inputTokens: 0, outputTokens: 0, cachedTokens: 0, cacheWriteTokens: 0 };

test("a created batch is charged its reservation whatever usage its object reports", () => {
  expect(endpoint?.batch).toEqual({ requests: "file" });
  expect(chargeOf({ status: 200, usage: zero, cutShort: false }, { endpoint, bounded: true }).charge).toEqual({ kind: "reservation" });
  expect(chargeOf({ status: 400, cutShort: false }, { endpoint, bounded: true }).charge).toEqual({ kind: "nothing" });
  expect(chargeOf({ status: 0, cutShort: true }, { endpoint, bounded: true }).charge).toEqual({ kind: "reservation" });
});

test("a key without limits is charged what the answer reports, as for any endpoint", () => {
  expect(chargeOf({ status: 200, usage: zero, cutShort: false }, { endpoint, bounded: false }).charge).toEqual({ kind: "usage", usage: zero });
});
