/**
 * Lists filtered to the caller's objects, paged through with the official
 * SDKs' auto-pagination. Those stop at an empty page whatever its cursor says
 * (`openai`'s CursorPage and Anthropic's Page: no items, no next page), so a
 * provider page holding only other keys' objects would hide the caller's
 * later ones. keyward reads on from the provider's cursor until a page holds
 * some of the caller's objects (at most MAX_LIST_PAGES pages per request),
 * and answers with the cursor where it stopped reading. Two proxy keys share
 * one provider key throughout: A creates 3 objects, B creates 5, and each
 * key's auto-pagination with a page size of 2 yields exactly its own.
 */
import Anthropic, { toFile as anthropicFile } from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI, { toFile } from "openai";
import { describe, expect, test } from "bun:test";
import { MAX_LIST_PAGES } from "../../src/proxy/list-pages.ts";
import { createKeyPair, fetchText, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

const h = useProxyHarness();

async function twoKeys(provider: string, baseUrl: string): Promise<{ a: KeyPair; b: KeyPair }> {
  const a = await createKeyPair(h.t, { provider, base_url: baseUrl });
  const minted = await h.t.call("POST", "/api/proxy-keys", { name: "second", provider_key_id: a.providerKeyId });
  expect(minted.status).toBe(201);
  return { a, b: { ...a, proxyKey: minted.json.key, proxyKeyId: minted.json.id } };
}

const openai = (keys: KeyPair) => new OpenAI({ apiKey: keys.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });
const anthropic = (keys: KeyPair) => new Anthropic({ apiKey: keys.proxyKey, baseURL: h.url, maxRetries: 0 });

async function collect(pages: AsyncIterable<{ id?: string | null; name?: string }>): Promise<string[]> {
  const ids: string[] = [];
  for await (const item of pages) ids.push(item.id ?? item.name ?? "");
  return ids;
}

/** Each key's objects, newest first as the providers list them, made in `order` (`a`, `b`). */
async function made(order: string, make: (keys: KeyPair) => Promise<string>, keys: { a: KeyPair; b: KeyPair }): Promise<{ a: string[]; b: string[] }> {
  const ids = { a: [] as string[], b: [] as string[] };
  for (const who of order) {
    const key = who === "a" ? "a" : "b";
    ids[key].unshift(await make(keys[key]));
  }
  return ids;
}

/** The SDK asks the provider for pages of two through keyward: without reading on, A's iteration would stop at B's first page. */
const ORDERS = { "A's first, then B's": "aaabbbbb", interleaved: "abbabbab" };

describe("openai: CursorPage (`after` = the last item's id)", () => {
  const file = (keys: KeyPair) => async () =>
    (await openai(keys).files.create({ file: await toFile(new TextEncoder().encode("x"), "x.txt"), purpose: "user_data" })).id;
  const collections = {
    files: {
      make: (keys: KeyPair) => file(keys)(),
      list: (keys: KeyPair) => openai(keys).files.list({ limit: 2 }),
    },
    "vector stores": {
      make: async (keys: KeyPair) => (await openai(keys).vectorStores.create({ name: "docs" })).id,
      list: (keys: KeyPair) => openai(keys).vectorStores.list({ limit: 2 }),
    },
    batches: {
      make: async (keys: KeyPair) =>
        (await openai(keys).batches.create({ input_file_id: await file(keys)(), endpoint: "/v1/chat/completions", completion_window: "24h" })).id,
      list: (keys: KeyPair) => openai(keys).batches.list({ limit: 2 }),
    },
  };
  for (const [collection, { make, list }] of Object.entries(collections)) {
    for (const [label, order] of Object.entries(ORDERS)) {
      test(`${collection}, ${label}: each key's auto-pagination (limit 2) yields exactly its own`, async () => {
        const keys = await twoKeys("openai", h.mock.baseUrl);
        const ids = await made(order, make, keys);
        expect(await collect(list(keys.a))).toEqual(ids.a);
        expect(await collect(list(keys.b))).toEqual(ids.b);
      });
    }
  }

  test(`a run of other keys' objects longer than ${MAX_LIST_PAGES} pages: an empty page with has_more and the cursor where keyward stopped, which leads on`, async () => {
    const keys = await twoKeys("openai", h.mock.baseUrl);
    const make = (k: KeyPair) => collections.files.make(k);
    const ids = await made(`a${"b".repeat(MAX_LIST_PAGES + 1)}`, make, keys);
    const list = async (query: string) => {
      const before = h.mock.requests.length;
      const res = await fetchText(`${h.baseUrl}/files?${query}`, { headers: { authorization: `Bearer ${keys.a.proxyKey}` } });
      expect(res.status).toBe(200);
      return {
        body: JSON.parse(res.text) as { data: { id: string }[]; has_more: boolean; first_id: string; last_id: string },
        read: h.mock.requests.length - before,
      };
    };
    const first = await list("limit=1");
    expect(first.read).toBe(MAX_LIST_PAGES);
    expect(first.body).toMatchObject({ data: [], has_more: true, first_id: ids.b[0], last_id: ids.b[MAX_LIST_PAGES - 1] });
    const next = await list(`limit=1&after=${first.body.last_id}`);
    expect(next.read).toBe(2);
    expect(next.body).toMatchObject({ has_more: false, first_id: ids.b[MAX_LIST_PAGES], last_id: ids.a[0] });
    expect(next.body.data.map((f) => f.id)).toEqual(ids.a);
  });
});

describe("anthropic", () => {
  test("message batches (Page: `after_id` = the page's last_id): each key's auto-pagination yields exactly its own", async () => {
    const keys = await twoKeys("anthropic", h.mock.baseUrl);
    const make = async (k: KeyPair) =>
      (
        await anthropic(k).messages.batches.create({
          requests: [{ custom_id: "a", params: { model: "claude-haiku-4-5", max_tokens: 20, messages: [{ role: "user", content: "hi" }] } }],
        })
      ).id;
    const ids = await made(ORDERS["A's first, then B's"], make, keys);
    expect(await collect(anthropic(keys.a).messages.batches.list({ limit: 2 }))).toEqual(ids.a);
    expect(await collect(anthropic(keys.b).messages.batches.list({ limit: 2 }))).toEqual(ids.b);
  });

  test("files (PageCursor: `page` = next_page): each key's auto-pagination yields exactly its own", async () => {
    const keys = await twoKeys("anthropic", h.mock.baseUrl);
    const make = async (k: KeyPair) => (await anthropic(k).beta.files.upload({ file: await anthropicFile(new TextEncoder().encode("x"), "x.txt") })).id;
    const ids = await made(ORDERS.interleaved, make, keys);
    expect(await collect(anthropic(keys.a).beta.files.list({ limit: 2 }))).toEqual(ids.a);
    expect(await collect(anthropic(keys.b).beta.files.list({ limit: 2 }))).toEqual(ids.b);
  });
});

describe("gemini: Pager (`pageToken` = nextPageToken)", () => {
  test("files: each key's auto-pagination (pageSize 2) yields exactly its own", async () => {
    const keys = await twoKeys("gemini", `${h.mock.url}/v1beta/openai`);
    const genai = (k: KeyPair) => new GoogleGenAI({ apiKey: k.proxyKey, httpOptions: { baseUrl: h.baseUrl, apiVersion: "v1beta" } });
    const make = async (k: KeyPair) => (await genai(k).files.upload({ file: new Blob(["x"], { type: "text/plain" }) })).name ?? "";
    // Google lists oldest first: B's come first.
    const ids = await made("bbbbbaaa", make, keys);
    expect(await collect(await genai(keys.a).files.list({ config: { pageSize: 2 } }))).toEqual(ids.a.toReversed());
    expect(await collect(await genai(keys.b).files.list({ config: { pageSize: 2 } }))).toEqual(ids.b.toReversed());
  });
});
