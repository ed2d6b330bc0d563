/**
 * OpenAI batches for keys with limits: the input file is checked line by line
 * as it is uploaded through keyward (with the official SDK), creating a batch
 * from it charges its worst case at the batch price, and the batch's end
 * settles spend to what its output reports, exactly once: when a client
 * retrieves it, or when the background check asks the provider itself, and
 * after a restart too. Anthropic's message batches, whose requests are in the
 * body, are checked at creation and settled the same way.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI, { toFile } from "openai";
import { beforeEach, describe, expect, test } from "bun:test";
import { batchPrice } from "../../src/limits/batch-lines.ts";
import { worstCaseCost } from "../../src/limits/cost.ts";
import { OPENAI_BATCH_PRICE_PERCENT } from "../../src/providers/endpoints.ts";
import { createTestApp } from "../helpers/app.ts";
import { getKey, micros, waitSettled } from "../helpers/limits.ts";
import { startMockProvider } from "../helpers/mock-provider.ts";
import { createKeyPair, expectProxyError, fetchText, useProxyHarness, type KeyPair, type ProxySuite } from "../helpers/proxy.ts";

/** 1 µ$ per input token, 2 µ$ per output token: costs are easy to follow. */
const PRICE = { inputMicros: 1_000_000, cachedInputMicros: null, outputMicros: 2_000_000 };
/** What each request of a batch reports: 100 in, 50 out = 200 µ$ standard, 100 µ$ at the batch price. */
const USAGE = { input: 100, output: 50 };
const LINE_COST = 100;
const CAP = 1_000;

const encoder = new TextEncoder();

function line(id: string, body: Record<string, unknown> = {}, url = "/v1/chat/completions"): string {
  return JSON.stringify({
    custom_id: id,
    method: "POST",
    url,
    body: { model: "gpt-4o-mini", messages: [{ role: "user", content: `question ${id}` }], max_completion_tokens: CAP, ...body },
  });
}

/** The worst case keyward charges for these lines: each line's bytes bound its prompt, its cap its output, at half price. */
function worstOf(lines: string[]): number {
  return lines.reduce(
    (sum, l) => sum + batchPrice(worstCaseCost(PRICE, { promptTokens: encoder.encode(l).byteLength, outputTokens: CAP }), OPENAI_BATCH_PRICE_PERCENT),
    0,
  );
}

const client = (h: ProxySuite, keys: KeyPair) => new OpenAI({ apiKey: keys.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });

async function upload(h: ProxySuite, keys: KeyPair, lines: string[], purpose = "batch") {
  return fetchText(`${h.baseUrl}/files`, {
    method: "POST",
    headers: { authorization: `Bearer ${keys.proxyKey}` },
    body: form(lines, purpose),
  });
}

function form(lines: string[], purpose: string): FormData {
  const data = new FormData();
  data.append("file", new File([lines.map((l) => `${l}\n`).join("")], "in.jsonl", { type: "application/jsonl" }));
  data.append("purpose", purpose);
  return data;
}

async function spend(h: ProxySuite, keys: KeyPair): Promise<number> {
  await waitSettled(h.t);
  return micros((await getKey(h.t, keys.proxyKeyId)).spend_usd);
}

function suite(config: { batchSettleIntervalMs: number }): ProxySuite {
  const h = useProxyHarness({ config });
  beforeEach(async () => {
    h.mock.set({ usage: USAGE });
    const priced = await h.t.call("PUT", "/api/prices/gpt-4o-mini", { input_per_million_usd: 1, output_per_million_usd: 2 });
    expect(priced.status).toBe(200);
  });
  return h;
}

describe("with no background check", () => {
  const h = suite({ batchSettleIntervalMs: 0 });
  const budgeted = (budget = 1, extra: Record<string, unknown> = {}) =>
    createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: budget, ...extra } });

  test("a batch input file uploaded with the SDK is read as it passes, forwarded as written, and recorded with its worst case", async () => {
    const keys = await budgeted();
    const lines = ["a", "b", "c"].map((id) => line(id));
    const file = await client(h, keys).files.create({ file: await toFile(encoder.encode(`${lines.join("\n")}\n`), "in.jsonl"), purpose: "batch" });
    const stored = h.mock.store.files.get(file.id);
    expect(new TextDecoder().decode(stored?.bytes)).toBe(`${lines.join("\n")}\n`);
    expect(stored?.object.purpose).toBe("batch");
    expect(h.t.store.batches.file(keys.providerKeyId, file.id)).toMatchObject({
      proxyKeyId: keys.proxyKeyId,
      url: "/v1/chat/completions",
      model: "gpt-4o-mini",
      lines: 3,
      worstMicros: worstOf(lines),
      pricePercent: 50,
    });
    // Uploading costs nothing.
    expect(await spend(h, keys)).toBe(0);
  });

  test("files of other purposes pass unchecked, and a key without limits' uploads are not read", async () => {
    const keys = await budgeted();
    const res = await upload(h, keys, ["not json at all"], "user_data");
    expect(res.status).toBe(200);
    expect(h.t.store.batches.file(keys.providerKeyId, JSON.parse(res.text).id)).toBeUndefined();
    const open = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
    const unchecked = await upload(h, open, ["not json at all"]);
    expect(unchecked.status).toBe(200);
    expect(h.t.store.batches.file(open.providerKeyId, JSON.parse(unchecked.text).id)).toBeUndefined();
  });

  test("a line that cannot be bounded or is not allowed refuses the upload with 400 naming the line and field; the provider stores nothing", async () => {
    const keys = await budgeted(1, { allowed_models: ["gpt-4o-mini"] });
    const cases: Array<{ lines: string[]; line: number; field: string; says: string }> = [
      { lines: [line("a"), line("b", { model: "gpt-4o" })], line: 2, field: "body.model", says: "allows gpt-4o-mini" },
      { lines: [line("a", { max_completion_tokens: undefined })], line: 1, field: "body.max_completion_tokens", says: "no output cap" },
      { lines: [line("a"), "", line("c", {}, "/v1/images/generations")], line: 3, field: "url", says: "cannot meter" },
      { lines: [line("a"), '{"custom_id":"b","custom_id":"c"}'], line: 2, field: "custom_id", says: "" },
      { lines: [line("a", { stream: true })], line: 1, field: "body.stream", says: "stream" },
      { lines: [line("a"), line("b", { model: "gpt-4o-mini-2024-07-18" })], line: 2, field: "body.model", says: "allows gpt-4o-mini" },
      { lines: [line("a", { service_tier: "priority" })], line: 1, field: "body.service_tier", says: "batch price" },
      { lines: [line("a"), line("b", { input: "x" }, "/v1/embeddings")], line: 2, field: "url", says: "same url" },
    ];
    for (const c of cases) {
      const res = await upload(h, keys, c.lines);
      const body = expectProxyError(res, 400, "invalid_request");
      expect(body.error.message).toContain(`line ${c.line}, ${c.field}`);
      expect(body.error.message).toContain(c.says);
      expect(body.error.param).toBe(`line ${c.line}: ${c.field}`);
    }
    expect(h.mock.store.files.size).toBe(0);
    expect(await spend(h, keys)).toBe(0);
  });

  test("creating a batch charges the file's worst case; a batch over budget is refused and never reaches the provider", async () => {
    const lines = ["a", "b"].map((id) => line(id));
    const worst = worstOf(lines);
    const keys = await budgeted((worst + worst / 2) / 1_000_000);
    const sdk = client(h, keys);
    const file = await sdk.files.create({ file: await toFile(encoder.encode(lines.join("\n")), "in.jsonl"), purpose: "batch" });
    const batch = await sdk.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    expect(await spend(h, keys)).toBe(worst);
    expect(h.t.store.batches.charge(keys.providerKeyId, batch.id)).toMatchObject({ chargedMicros: worst, settledAt: null, model: "gpt-4o-mini" });

    const before = h.mock.requests.filter((r) => r.path === "/v1/batches").length;
    const over = await fetchText(`${h.baseUrl}/batches`, {
      method: "POST",
      headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json" },
      body: JSON.stringify({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" }),
    });
    expectProxyError(over, 429, "insufficient_quota");
    expect(h.mock.requests.filter((r) => r.path === "/v1/batches").length).toBe(before);
    expect(await spend(h, keys)).toBe(worst);
  });

  test("a file uploaded by another key, or directly at the provider, or for another endpoint cannot make a batch", async () => {
    const keys = await budgeted();
    const other = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: 1 } });
    const theirs = JSON.parse((await upload(h, other, [line("a")])).text).id as string;
    const mine = JSON.parse((await upload(h, keys, [line("a")])).text).id as string;
    const direct = await fetch(`${h.mock.baseUrl}/files`, { method: "POST", body: form([line("a")], "batch") });
    const create = (file: string, endpoint = "/v1/chat/completions") =>
      fetchText(`${h.baseUrl}/batches`, {
        method: "POST",
        headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json" },
        body: JSON.stringify({ input_file_id: file, endpoint, completion_window: "24h" }),
      });
    for (const file of [theirs, ((await direct.json()) as { id: string }).id]) {
      const refused = expectProxyError(await create(file), 403, "endpoint_not_allowed");
      expect(refused.error.message).toContain("uploaded through keyward");
    }
    expectProxyError(await create(mine, "/v1/embeddings"), 400, "invalid_request");
    expect(h.mock.requests.filter((r) => r.path === "/v1/batches")).toEqual([]);
    expect(await spend(h, keys)).toBe(0);
  });

  test("retrieving a completed batch settles spend to the real cost, once", async () => {
    const keys = await budgeted();
    const sdk = client(h, keys);
    const lines = ["a", "b", "c"].map((id) => line(id));
    const file = await sdk.files.create({ file: await toFile(encoder.encode(lines.join("\n")), "in.jsonl"), purpose: "batch" });
    const batch = await sdk.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    expect((await sdk.batches.retrieve(batch.id)).status).toBe("validating");
    expect(await spend(h, keys)).toBe(worstOf(lines));

    h.mock.completeBatch(batch.id);
    expect((await sdk.batches.retrieve(batch.id)).status).toBe("completed");
    expect(await spend(h, keys)).toBe(3 * LINE_COST);
    expect(h.t.store.batches.charge(keys.providerKeyId, batch.id)).toMatchObject({ costMicros: 3 * LINE_COST });
    await sdk.batches.retrieve(batch.id);
    expect(await spend(h, keys)).toBe(3 * LINE_COST);
  });

  test("failed requests cost nothing; a cancelled batch settles from what its files report", async () => {
    const keys = await budgeted();
    const sdk = client(h, keys);
    const file = await sdk.files.create({ file: await toFile(encoder.encode([line("a"), line("b")].join("\n")), "in.jsonl"), purpose: "batch" });
    const batch = await sdk.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    h.mock.completeBatch(batch.id, [
      { custom_id: "a", response: { status_code: 200, body: { model: "gpt-4o-mini", usage: { prompt_tokens: 10, completion_tokens: 5 } } } },
      { custom_id: "b", response: { status_code: 500, body: { error: { message: "oops" } } }, error: null },
    ]);
    await sdk.batches.retrieve(batch.id);
    // 10 + 10 = 20 µ$ standard, 10 at the batch price.
    expect(await spend(h, keys)).toBe(10);

    const cancelled = await sdk.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    await sdk.batches.cancel(cancelled.id);
    expect((await sdk.batches.retrieve(cancelled.id)).status).toBe("cancelled");
    // Nothing ran: no output file, nothing charged.
    expect(await spend(h, keys)).toBe(10);
  });

  test("an output that cannot be read keeps the worst case charged and the charge open; a later read settles it", async () => {
    const keys = await budgeted();
    const sdk = client(h, keys);
    const lines = [line("a")];
    const file = await sdk.files.create({ file: await toFile(encoder.encode(lines.join("\n")), "in.jsonl"), purpose: "batch" });
    const batch = await sdk.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const done = h.mock.completeBatch(batch.id);
    const output = typeof done.output_file_id === "string" ? h.mock.store.files.get(done.output_file_id) : undefined;
    if (!output) throw new Error("no output file");
    const good = output.bytes;
    output.bytes = encoder.encode("{not json\n");
    expect((await sdk.batches.retrieve(batch.id)).status).toBe("completed");
    expect(await spend(h, keys)).toBe(worstOf(lines));
    expect(h.t.store.batches.charge(keys.providerKeyId, batch.id)?.settledAt).toBeNull();
    output.bytes = good;
    await sdk.batches.retrieve(batch.id);
    expect(await spend(h, keys)).toBe(LINE_COST);
  });

  test("an output reporting more than the worst case (an upstream that ignored caps) is charged in full, as an overrun", async () => {
    const keys = await budgeted();
    const sdk = client(h, keys);
    const lines = [line("a")];
    const file = await sdk.files.create({ file: await toFile(encoder.encode(lines.join("\n")), "in.jsonl"), purpose: "batch" });
    const batch = await sdk.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    h.mock.completeBatch(batch.id, [
      { custom_id: "a", response: { status_code: 200, body: { usage: { prompt_tokens: 100, completion_tokens: 10 * CAP } } }, error: null },
    ]);
    await sdk.batches.retrieve(batch.id);
    const real = batchPrice(100 + 2 * 10 * CAP, OPENAI_BATCH_PRICE_PERCENT);
    expect(real).toBeGreaterThan(worstOf(lines));
    expect(await spend(h, keys)).toBe(real);
  });
});

describe("Anthropic message batches", () => {
  const h = suite({ batchSettleIntervalMs: 0 });
  const params = (extra: Record<string, unknown> = {}) => ({
    model: "claude-haiku-4-5",
    max_tokens: CAP,
    messages: [{ role: "user" as const, content: "hi" }],
    ...extra,
  });
  /** Each request's serialised params bound its prompt; its max_tokens its output. */
  const worst = (all: Record<string, unknown>[]) =>
    all.reduce((sum, p) => sum + batchPrice(worstCaseCost(PRICE, { promptTokens: encoder.encode(JSON.stringify(p)).byteLength, outputTokens: CAP }), 50), 0);

  test("each request is checked at creation, its worst case charged, and the batch's results settle spend once", async () => {
    expect((await h.t.call("PUT", "/api/prices/claude-haiku-4-5", { input_per_million_usd: 1, output_per_million_usd: 2 })).status).toBe(200);
    const keys = await createKeyPair(h.t, {
      provider: "anthropic",
      base_url: h.mock.baseUrl,
      proxy: { budget_usd: 1, allowed_models: ["claude-haiku-4-5"] },
    });
    const sdk = new Anthropic({ apiKey: keys.proxyKey, baseURL: h.url, maxRetries: 0 });
    const refused = await fetchText(`${h.url}/v1/messages/batches`, {
      method: "POST",
      headers: { "x-api-key": keys.proxyKey, "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({
        requests: [
          { custom_id: "a", params: params() },
          { custom_id: "b", params: params({ model: "claude-opus-4-5" }) },
        ],
      }),
    });
    const body = expectProxyError(refused, 400, "invalid_request");
    expect(body.error.param).toBe("requests[1].params.model");
    expect(body.error.message).toContain("allows claude-haiku-4-5");
    expect(h.mock.store.messageBatches.size).toBe(0);

    const requests = [params(), params({ system: "be brief" })];
    const batch = await sdk.messages.batches.create({ requests: requests.map((p, i) => ({ custom_id: String(i), params: p })) });
    expect(await spend(h, keys)).toBe(worst(requests));
    h.mock.endMessageBatch(batch.id);
    expect((await sdk.messages.batches.retrieve(batch.id)).processing_status).toBe("ended");
    expect(await spend(h, keys)).toBe(2 * LINE_COST);
    await sdk.messages.batches.retrieve(batch.id);
    expect(await spend(h, keys)).toBe(2 * LINE_COST);
  });
});

describe("with the background check", () => {
  const h = suite({ batchSettleIntervalMs: 50 });

  test("a batch nobody retrieves is settled by keyward asking the provider", async () => {
    const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: 1 } });
    const sdk = client(h, keys);
    const file = await sdk.files.create({ file: await toFile(encoder.encode([line("a"), line("b")].join("\n")), "in.jsonl"), purpose: "batch" });
    const batch = await sdk.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    h.mock.completeBatch(batch.id);
    const asked = () => h.mock.requests.filter((r) => r.path === `/v1/batches/${batch.id}`);
    for (let i = 0; i < 200 && h.t.store.batches.charge(keys.providerKeyId, batch.id)?.settledAt === null; i++) await Bun.sleep(20);
    expect(await spend(h, keys)).toBe(2 * LINE_COST);
    // The provider was asked with the provider key, never a proxy key.
    expect(asked()[0]?.headers.authorization).toBe(`Bearer ${keys.providerSecret}`);
  });
});

test("a restart between creation and settlement keeps the charge, and the batch settles after it", async () => {
  const mock = await startMockProvider({ usage: USAGE });
  const first = await createTestApp({ config: { batchSettleIntervalMs: 0 } });
  try {
    expect((await first.call("PUT", "/api/prices/gpt-4o-mini", { input_per_million_usd: 1, output_per_million_usd: 2 })).status).toBe(200);
    const keys = await createKeyPair(first, { base_url: mock.baseUrl, proxy: { budget_usd: 1 } });
    const lines = [line("a"), line("b")];
    const proxied = (t: typeof first, path: string, init: { method: string; body?: BodyInit; headers?: Record<string, string> }) =>
      t.app.handle(new Request(`http://localhost/v1${path}`, { ...init, headers: { authorization: `Bearer ${keys.proxyKey}`, ...init.headers } }));
    const file = (await (await proxied(first, "/files", { method: "POST", body: form(lines, "batch") })).json()) as { id: string };
    const created = await proxied(first, "/batches", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" }),
    });
    const batch = (await created.json()) as { id: string };
    await waitSettled(first);
    await new Promise((resolve) => setImmediate(resolve));
    expect(micros((await getKey(first, keys.proxyKeyId)).spend_usd)).toBe(worstOf(lines));
    await first.close();

    const second = await createTestApp({
      config: { batchSettleIntervalMs: 0 },
      dataDir: first.dataDir,
      masterKey: first.masterKey,
      rootToken: first.rootToken,
    });
    try {
      expect(micros((await getKey(second, keys.proxyKeyId)).spend_usd)).toBe(worstOf(lines));
      mock.completeBatch(batch.id);
      expect((await proxied(second, `/batches/${batch.id}`, { method: "GET" })).status).toBe(200);
      expect(micros((await getKey(second, keys.proxyKeyId)).spend_usd)).toBe(2 * LINE_COST);
    } finally {
      await second.cleanup();
    }
  } finally {
    await mock.stop();
  }
});
