/**
 * A budget is a ceiling against a hostile key holder. For every request keyward
 * admits on a key with a budget:
 *   (1) what the provider can bill ≤ keyward's reservation for it (given the
 *       provider honours the caps keyward sends), and
 *   (2) what keyward charges ≥ what the provider billed (the reservation when the
 *       real cost is unknown),
 * so settled spend ≤ budget. The provider here is the mock in permissive mode: a
 * lenient OpenAI-compatible server (last duplicate key wins, numeric strings
 * coerced, output as long as the caps allow), which also lists what it billed
 * (`mock.billed()`); the tests price that with the built-in price table and
 * compare it with the key's spend.
 *
 * Names of admin fields, log fields, metrics, audit actions and error codes this
 * file assumes are in ASSUMED below, in one place.
 */
import { describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import OpenAI from "openai";
import { BUILTIN_PRICES } from "../../src/limits/prices-builtin.ts";
import { allLogs, getKey, micros, waitFor, waitSettled, type LogEntry } from "../helpers/limits.ts";
import type { Billed, JsonObject } from "../helpers/mock-provider.ts";
import { createKeyPair, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

/** What this file assumes of names keyward exposes; align them here if the implementation chose others. */
const ASSUMED = {
  /** Proxy-key field (create, PATCH, views): what a request whose cost cannot be bounded reserves. */
  unboundedReservationField: "unbounded_reservation_usd",
  /** Request-log field (`GET /api/logs`): cost above the request's reservation. */
  overrunLogField: "overrun_usd",
  /** Request-log field: how many refusals one folded row stands for (absent or 1 for a plain row). */
  foldedCountField: "count",
  /** Counter of settled requests that cost more than their reservation. */
  overrunMetric: "keyward_budget_overruns_total",
  /** Audit action written when a request overran its reservation. */
  overrunAuditAction: "proxy_key.overrun",
  /** Error code (403) for a request whose cost keyward cannot bound (stateful references). */
  costNotBoundedCode: "cost_not_bounded",
  /** Error code (400) for a body keyward refuses to read (missing model, repeated keys, wrong types). */
  invalidRequestCode: "invalid_request",
  /** The header OpenAI's SDKs obey over their own retry rules. */
  shouldRetryHeader: "x-should-retry",
  /** Longest model name a request-log row keeps. */
  maxStoredModelChars: 256,
} as const;

const BUDGET_USD = 0.01;
const MODEL = "gpt-4o-mini";

const h = useProxyHarness({ mock: { permissive: true }, config: { maxBodyBytes: 4 * 1024 * 1024 } });

// ---------- helpers ----------

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

interface OpenAiError {
  error: { message: string; type: string; code: string | null; param?: string | null };
}

type Row = LogEntry & Record<string, unknown>;

/** A provider key on the mock and a proxy key on it with these limits (a small budget unless told). */
function key(proxy: Record<string, unknown> = { budget_usd: BUDGET_USD }, provider = "openai"): Promise<KeyPair> {
  return createKeyPair(h.t, { base_url: h.mock.baseUrl, provider, proxy });
}

/** POSTs raw text to keyward's /v1 over real HTTP, so the bytes are exactly the test's. */
async function postRaw(proxyKey: string, path: string, raw: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(`${h.baseUrl}${path}`, {
    method: "POST",
    ...init,
    headers: { authorization: `Bearer ${proxyKey}`, "content-type": "application/json" },
    body: raw,
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const post = (proxyKey: string, path: string, body: unknown, init: RequestInit = {}): Promise<Answer> => postRaw(proxyKey, path, JSON.stringify(body), init);

const chat = (extra: Record<string, unknown> = {}, prompt = "Say hello."): Record<string, unknown> => ({
  model: MODEL,
  messages: [{ role: "user", content: prompt }],
  ...extra,
});

/** Exact micro-dollars the mock billed, at the built-in list price (USD per million tokens = µ$ per token), unrounded. */
function billedMicros(entries: readonly Billed[]): number {
  let total = 0;
  for (const entry of entries) {
    const rates = BUILTIN_PRICES[entry.model];
    if (!rates) throw new Error(`no built-in price for ${entry.model}`);
    const cached = Math.min(entry.cached, entry.input);
    total += (entry.input - cached) * rates.input + cached * (rates.cachedInput ?? rates.input) + entry.output * rates.output;
  }
  return total;
}

async function spendMicros(id: string): Promise<number> {
  return micros((await getKey(h.t, id)).spend_usd);
}

/** The invariant: spend within the budget and at least what the provider billed; nothing held any more. */
async function expectCeilingHeld(keys: KeyPair, budgetUsd: number): Promise<{ spend: number; billed: number }> {
  await waitSettled(h.t);
  const money = await getKey(h.t, keys.proxyKeyId);
  const spend = micros(money.spend_usd);
  const billed = billedMicros(h.mock.billed());
  expect(money.reserved_usd).toBe(0);
  expect(spend).toBeLessThanOrEqual(micros(budgetUsd));
  // Keyward rounds each part up, so its charge is at least the exact sum; floor() only absorbs float noise.
  expect(spend).toBeGreaterThanOrEqual(Math.floor(billed));
  return { spend, billed };
}

/** Parses keyward's own error answer and checks OpenAI's shape. */
function errorOf(answer: Answer, status: number): OpenAiError["error"] {
  if (answer.status !== status) throw new Error(`expected ${status}, got ${answer.status}: ${answer.text.slice(0, 500)}`);
  expect(answer.headers.get("content-type") ?? "").toContain("application/json");
  const body = JSON.parse(answer.text) as OpenAiError;
  expect(Object.keys(body)).toEqual(["error"]);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(typeof body.error.type).toBe("string");
  return body.error;
}

/** Whether an error names `field`: as OpenAI's `param`, quoted in the message, or (for names of 3+ characters) as a word in it. */
function expectNames(error: OpenAiError["error"], field: string): void {
  const named =
    error.param === field ||
    error.message.includes(JSON.stringify(field)) ||
    (field.length > 2 && new RegExp(`(^|[^A-Za-z0-9_])${field}([^A-Za-z0-9_]|$)`).test(error.message));
  if (!named) throw new Error(`the answer does not name ${field}: ${JSON.stringify(error)}`);
}

/** A 400 that names `field` and was never forwarded. */
function expectBadRequest(answer: Answer, field: string): void {
  const error = errorOf(answer, 400);
  expect(error.type).toBe("invalid_request_error");
  expect(error.code).toBe(ASSUMED.invalidRequestCode);
  expectNames(error, field);
  expect(h.mock.requests).toHaveLength(0);
}

/**
 * The money a request holds while in flight: sends it with the mock holding its
 * answer back for `holdMs`, reads `reserved_usd` while the mock has it, then
 * waits for the answer. Returns both.
 */
async function reservedWhileInFlight(keys: KeyPair, send: () => Promise<Answer>, holdMs = 400): Promise<{ reserved: number; answer: Answer }> {
  h.mock.next({ headersDelayMs: holdMs });
  const pending = send();
  await waitFor("the request to reach the provider", () => h.mock.requests.length > 0 || h.mock.billed().length > 0);
  const reserved = micros((await getKey(h.t, keys.proxyKeyId)).reserved_usd);
  const answer = await pending;
  await waitSettled(h.t);
  return { reserved, answer };
}

/** A key whose total budget is spent: one request, then the budget lowered to exactly what it spent. */
async function exhaustedKey(extra: Record<string, unknown> = {}): Promise<KeyPair> {
  const keys = await key({ budget_usd: 1, ...extra });
  expect((await post(keys.proxyKey, "/chat/completions", chat({ max_tokens: 20 }))).status).toBe(200);
  await waitSettled(h.t);
  const spent = (await getKey(h.t, keys.proxyKeyId)).spend_usd;
  expect(spent).toBeGreaterThan(0);
  const patched = await h.t.call("PATCH", `/api/proxy-keys/${keys.proxyKeyId}`, { budget_usd: spent });
  expect(patched.status).toBe(200);
  h.mock.reset();
  return keys;
}

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Reads SSE from a response until `events` blank-line-separated events arrived; false if it ended first. */
async function readEvents(response: Response, events: number): Promise<boolean> {
  const reader = response.body?.getReader();
  if (!reader) return false;
  const decoder = new TextDecoder();
  let seen = "";
  while ((seen.match(/\n\n/g) ?? []).length < events) {
    const chunk = await reader.read();
    if (chunk.done) return false;
    seen += decoder.decode(chunk.value, { stream: true });
  }
  return true;
}

const outcome = (err: unknown): string => (err instanceof OpenAI.APIError ? `${err.status} ${err.code}` : `thrown ${String(err)}`);

async function metricTotal(name: string): Promise<number> {
  const res = await h.t.call("GET", "/metrics");
  expect(res.status).toBe(200);
  let total = 0;
  let found = false;
  for (const line of res.text.split("\n")) {
    if (line.startsWith("#")) continue;
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      found = true;
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  if (!found) throw new Error(`no ${name} in /metrics`);
  return total;
}

const countOf = (row: Row): number => {
  const count = row[ASSUMED.foldedCountField];
  return typeof count === "number" ? count : 1;
};

// ---------- races ----------

describe("concurrent requests at the budget edge", () => {
  test("60 at once, clients without max_tokens: spend ≤ budget, charged ≥ billed, every forwarded request capped", async () => {
    const keys = await key();
    const client = new OpenAI({ apiKey: keys.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });
    const messages = [{ role: "user" as const, content: "Write as much as you can. ".repeat(10) }];
    const one = async (i: number): Promise<string> => {
      try {
        if (i % 2 === 0) {
          const stream = await client.chat.completions.create({ model: MODEL, messages, stream: true });
          for await (const chunk of stream) expect(chunk.object).toBe("chat.completion.chunk");
        } else {
          await client.chat.completions.create({ model: MODEL, messages });
        }
        return "ok";
      } catch (err) {
        return outcome(err);
      }
    };
    const outcomes = await Promise.all(Array.from({ length: 60 }, (_, i) => one(i)));
    const ok = outcomes.filter((o) => o === "ok").length;
    expect(outcomes.filter((o) => o !== "ok" && o !== "429 insufficient_quota")).toEqual([]);
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(ok).toBeLessThan(60);
    expect(h.mock.requests).toHaveLength(ok);
    // Every forwarded request carried a cap the provider honoured.
    for (const rec of h.mock.requests) expect(rec.reading?.cap).toBeGreaterThan(0);
    const { spend } = await expectCeilingHeld(keys, BUDGET_USD);
    expect(spend).toBeGreaterThan(0);
  });

  test("40 streams whose usage is the last event (chat and Responses): spend ≤ budget, charged ≥ billed", async () => {
    const budget = 0.02;
    const keys = await key({ budget_usd: budget });
    h.mock.set({ chunks: 10, chunkDelayMs: 5 });
    const one = async (i: number): Promise<number> => {
      const body =
        i % 2 === 0 ? chat({ stream: true }, "Tell me a long story. ".repeat(5)) : { model: MODEL, input: "Tell me a long story. ".repeat(5), stream: true };
      const answer = await post(keys.proxyKey, i % 2 === 0 ? "/chat/completions" : "/responses", body);
      return answer.status;
    };
    const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => one(i)));
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
    expect(h.mock.billed().every((b) => b.usageSent && !b.cut)).toBe(true);
    await expectCeilingHeld(keys, budget);
  });

  test("40 clients that leave at random points (mid-stream, before headers, during a JSON answer): charged ≥ billed", async () => {
    const budget = 0.05;
    const keys = await key({ budget_usd: budget });
    const random = prng(20_260_115);
    // The provider's pace, per request in arrival order: some answer at once, some after keyward's
    // 250 ms client watch has started; streams long enough to be left in the middle.
    for (let i = 0; i < 40; i++) h.mock.next({ headersDelayMs: [0, 100, 400][Math.floor(random() * 3)], chunks: 30, chunkDelayMs: 10 });
    const kinds = ["mid-stream", "before-headers", "during-json", "complete"] as const;
    // Drawn up front, so each client's plan does not depend on the order the requests finish in.
    const plans = Array.from({ length: 40 }, () => ({ abortAfterMs: Math.floor(random() * 500), events: 1 + Math.floor(random() * 5) }));
    const one = async (i: number): Promise<string> => {
      const kind = kinds[i % kinds.length] as (typeof kinds)[number];
      const plan = plans[i] as (typeof plans)[number];
      const controller = new AbortController();
      const stream = kind === "mid-stream" || (kind === "complete" && i % 8 === 3);
      const request = fetch(`${h.baseUrl}/chat/completions`, {
        method: "POST",
        signal: controller.signal,
        headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json" },
        body: JSON.stringify(chat({ stream }, "Keep going. ".repeat(20))),
      });
      try {
        // Before headers: within the slowest provider answer; during a JSON answer: anywhere around it.
        if (kind === "before-headers") setTimeout(() => controller.abort(), Math.floor(plan.abortAfterMs * 0.7));
        if (kind === "during-json") setTimeout(() => controller.abort(), plan.abortAfterMs);
        const response = await request;
        if (response.status !== 200) return `${response.status} ${await response.text()}`;
        if (kind === "mid-stream") {
          await readEvents(response, plan.events);
          controller.abort();
          return "left";
        }
        await response.text();
        return kind === "complete" ? "ok" : "left late";
      } catch {
        return "left";
      }
    };
    const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => one(i)));
    expect(outcomes.filter((o) => o.startsWith("429")).every((o) => o.includes("insufficient_quota"))).toBe(true);
    expect(outcomes.filter((o) => !o.startsWith("429") && !["ok", "left", "left late"].includes(o))).toEqual([]);
    await waitSettled(h.t);
    // Not vacuous: some requests were left while the provider was generating.
    expect(h.mock.billed().filter((b) => b.cut).length).toBeGreaterThan(0);
    await expectCeilingHeld(keys, budget);
  });
});

// ---------- the model ----------

describe("no model", () => {
  test("a body without model on a budgeted key → 400 naming model, nothing forwarded", async () => {
    const keys = await key();
    expectBadRequest(await post(keys.proxyKey, "/chat/completions", { messages: [{ role: "user", content: "hi" }] }), "model");
    expect((await getKey(h.t, keys.proxyKeyId)).spend_usd).toBe(0);
  });

  test("…and on a key limited to some models", async () => {
    const keys = await key({ allowed_models: [MODEL] });
    expectBadRequest(await post(keys.proxyKey, "/chat/completions", { messages: [{ role: "user", content: "hi" }] }), "model");
  });
});

describe("a model hidden where keyward does not look", () => {
  const messages = '"messages":[{"role":"user","content":"hi"}]';
  const cases: Array<[string, string, string]> = [
    ["another case only", `{"Model":"gpt-4o",${messages}}`, "Model"],
    ["next to the real one", `{"model":"gpt-4o-mini","Model":"gpt-4o",${messages}}`, "Model"],
    ["a duplicate (the last wins at the provider)", `{"model":"gpt-4o-mini","model":"gpt-5-pro",${messages}}`, "model"],
    ["an escaped duplicate", `{"model":"gpt-4o-mini","mod\\u0065l":"o1",${messages}}`, "model"],
  ];
  for (const [name, raw, field] of cases) {
    test(`${name}: ${raw.slice(0, 60)}… → 400 naming ${field}, nothing forwarded`, async () => {
      const keys = await key();
      expectBadRequest(await postRaw(keys.proxyKey, "/chat/completions", raw), field);
    });
  }
});

// ---------- output caps and multipliers ----------

describe("caps and multipliers written so that two parsers could read them differently", () => {
  const cases: Array<[string, string]> = [
    ['{"max_tokens":10,"max_tokens":100000}', "max_tokens"],
    ['{"max_tokens":10,"max_tok\\u0065ns":100000}', "max_tokens"],
    ['{"max_tokens":"100000"}', "max_tokens"],
    ['{"n":"5"}', "n"],
    ['{"stream":"true"}', "stream"],
  ];
  for (const [fields, field] of cases) {
    test(`${fields} → 400 naming ${field}, nothing forwarded`, async () => {
      const keys = await key({ budget_usd: 0.05 });
      const raw = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],${fields.slice(1)}`;
      expectBadRequest(await postRaw(keys.proxyKey, "/chat/completions", raw), field);
    });
  }
});

describe("caps that bind", () => {
  test("no cap from the client: the provider receives one (openai: max_completion_tokens), and the reservation covers it", async () => {
    const keys = await key();
    const { reserved, answer } = await reservedWhileInFlight(keys, () => post(keys.proxyKey, "/chat/completions", chat()));
    expect(answer.status).toBe(200);
    const cap = h.mock.requests[0]?.json?.max_completion_tokens;
    expect(Number.isInteger(cap)).toBe(true);
    expect(cap as number).toBeGreaterThan(0);
    expect(h.mock.requests[0]?.reading?.cap).toBe(cap as number);
    expect(h.mock.billed()[0]?.output).toBe(cap as number);
    expect(reserved).toBeGreaterThanOrEqual(Math.ceil(billedMicros(h.mock.billed())));
    await expectCeilingHeld(keys, BUDGET_USD);
  });

  test("no cap from the client, openai-compatible provider: the provider receives max_tokens", async () => {
    const keys = await key({ budget_usd: BUDGET_USD }, "openai-compatible");
    expect((await post(keys.proxyKey, "/chat/completions", chat())).status).toBe(200);
    const cap = h.mock.requests[0]?.json?.max_tokens;
    expect(Number.isInteger(cap)).toBe(true);
    expect(cap as number).toBeGreaterThan(0);
    // Whichever cap field this server honours, it is bound.
    expect(h.mock.requests[0]?.reading?.cap).toBe(cap as number);
    await expectCeilingHeld(keys, BUDGET_USD);
  });

  test("max_tokens 50 and max_completion_tokens 5000: every cap field forwarded as 50, the value reserved for", async () => {
    const keys = await key();
    const answer = await post(keys.proxyKey, "/chat/completions", chat({ max_tokens: 50, max_completion_tokens: 5_000 }));
    expect(answer.status).toBe(200);
    const json = h.mock.requests[0]?.json;
    expect(json?.max_tokens).toBe(50);
    expect(json?.max_completion_tokens).toBe(50);
    expect(h.mock.billed()[0]?.output).toBe(50);
    await expectCeilingHeld(keys, BUDGET_USD);
  });

  test("n: 3 → the reservation covers three choices (the provider produces 3 × the cap)", async () => {
    const keys = await key({ budget_usd: 0.05 });
    const { reserved, answer } = await reservedWhileInFlight(keys, () => post(keys.proxyKey, "/chat/completions", chat({ n: 3, max_tokens: 1_000 })));
    expect(answer.status).toBe(200);
    expect(h.mock.requests[0]?.reading?.n).toBe(3);
    expect(h.mock.billed()[0]?.output).toBe(3_000);
    expect(reserved).toBeGreaterThanOrEqual(Math.ceil(billedMicros(h.mock.billed())));
    await expectCeilingHeld(keys, 0.05);
  });
});

// ---------- what is forwarded ----------

/** Fields keyward may set or change on a limited key: the output caps and the stream-usage option. */
const GOVERNED = new Set(["max_tokens", "max_completion_tokens", "max_output_tokens", "stream_options"]);

const withoutGoverned = (json: JsonObject | undefined): Record<string, unknown> =>
  Object.fromEntries(Object.entries(json ?? {}).filter(([k]) => !GOVERNED.has(k)));

describe("the forwarded body is what keyward parsed", () => {
  test('limited key, a cap key spelt with an escape ("max_completion_t\\u006fkens": null): no duplicate upstream, the cap binds', async () => {
    const keys = await key();
    const raw = `{ "messages" : [ {"content":"hi" ,"role":"user"} ],\n\t"max_completion_t\\u006fkens" : null , "model":"gpt-4o-mini" }`;
    const answer = await postRaw(keys.proxyKey, "/chat/completions", raw);
    expect(answer.status).toBe(200);
    const rec = h.mock.requests[0];
    expect(rec?.duplicateKeys).toEqual([]);
    // The provider read the same object keyward read, plus the cap keyward set.
    expect(withoutGoverned(rec?.json)).toEqual(withoutGoverned(JSON.parse(raw) as JsonObject));
    expect(rec?.reading?.cap).toBeGreaterThan(0);
    await expectCeilingHeld(keys, BUDGET_USD);
  });

  test("limited key, stream_options spelt with an escape and include_usage false: usage still reaches keyward, no duplicate", async () => {
    const keys = await key();
    const raw = `{"model":"gpt-4o-mini","stream":true,"max_tokens":100,"stream_opti\\u006fns":{"include_usage":false},"messages":[{"role":"user","content":"hi"}]}`;
    const answer = await postRaw(keys.proxyKey, "/chat/completions", raw);
    expect(answer.status).toBe(200);
    const rec = h.mock.requests[0];
    expect(rec?.duplicateKeys).toEqual([]);
    expect(withoutGoverned(rec?.json)).toEqual(withoutGoverned(JSON.parse(raw) as JsonObject));
    expect(rec?.reading?.includeUsage).toBe(true);
    expect(h.mock.billed()[0]?.usageSent).toBe(true);
    // The client did not ask for usage and gets none.
    expect(answer.text).not.toContain('"usage":{');
    await expectCeilingHeld(keys, BUDGET_USD);
  });

  test("key with no limits: the client's bytes exactly (odd whitespace, key order, escapes)", async () => {
    const keys = await key({});
    const raw = `\n {  "messages":[{"role" : "user","content":"caf\\u00e9 \\"quoted\\""}] ,\r\n "temperature":0.50, "model" :"gpt-4o-mini"  }  \n`;
    const answer = await postRaw(keys.proxyKey, "/chat/completions", raw);
    expect(answer.status).toBe(200);
    expect(h.mock.requests[0]?.body).toBe(raw);
  });
});

// ---------- stateful references ----------

describe("stateful references on a budgeted key", () => {
  const references: Array<[string, Record<string, unknown>]> = [
    ["previous_response_id", { previous_response_id: "resp_abc123" }],
    ["conversation", { conversation: "conv_abc123" }],
    ["prompt", { prompt: { id: "pmpt_abc123", version: "2" } }],
    ["background", { background: true }],
  ];
  for (const [field, extra] of references) {
    test(`POST /v1/responses with ${field} → 403 ${ASSUMED.costNotBoundedCode} naming ${field}, nothing forwarded`, async () => {
      const keys = await key({ budget_usd: 0.05 });
      const answer = await post(keys.proxyKey, "/responses", { model: MODEL, input: "hi", max_output_tokens: 100, ...extra });
      const error = errorOf(answer, 403);
      expect(error.code).toBe(ASSUMED.costNotBoundedCode);
      expectNames(error, field);
      expect(h.mock.requests).toHaveLength(0);
    });
  }

  test(`with ${ASSUMED.unboundedReservationField} set, admitted and holding that amount; more than the budget left → 429`, async () => {
    const keys = await key({ budget_usd: 0.05 });
    const patched = await h.t.call("PATCH", `/api/proxy-keys/${keys.proxyKeyId}`, { [ASSUMED.unboundedReservationField]: 0.02 });
    expect(patched.status).toBe(200);
    expect(patched.json[ASSUMED.unboundedReservationField]).toBe(0.02);
    // A response of its own to continue: another key's, or one keyward never saw, would be 404.
    const first = await post(keys.proxyKey, "/responses", { model: MODEL, input: "hi", max_output_tokens: 16 });
    expect(first.status).toBe(200);
    await waitSettled(h.t);
    const body = { model: MODEL, input: "hi", max_output_tokens: 100, previous_response_id: (JSON.parse(first.text) as { id: string }).id };
    h.mock.reset();
    const { reserved, answer } = await reservedWhileInFlight(keys, () => post(keys.proxyKey, "/responses", body));
    expect(answer.status).toBe(200);
    expect(reserved).toBeGreaterThanOrEqual(micros(0.02));
    await expectCeilingHeld(keys, 0.05);

    const small = await key({ budget_usd: BUDGET_USD, [ASSUMED.unboundedReservationField]: 0.02 });
    expect(errorOf(await post(small.proxyKey, "/responses", { ...body, previous_response_id: undefined, background: true }), 429).code).toBe(
      "insufficient_quota",
    );
  });
});

// ---------- charges ----------

describe("charges never undercount", () => {
  test("a 2xx JSON answer without usage is charged its reservation", async () => {
    const keys = await key();
    h.mock.next({ omitUsage: true, headersDelayMs: 400 });
    const pending = post(keys.proxyKey, "/chat/completions", chat({ max_tokens: 500 }));
    await waitFor("the request to reach the provider", () => h.mock.requests.length === 1);
    const reserved = micros((await getKey(h.t, keys.proxyKeyId)).reserved_usd);
    expect((await pending).status).toBe(200);
    await waitSettled(h.t);
    expect(reserved).toBeGreaterThan(0);
    expect(await spendMicros(keys.proxyKeyId)).toBe(reserved);
    await expectCeilingHeld(keys, BUDGET_USD);
  });

  for (const dropUsage of [true, "error"] as const) {
    test(`a stream cut before its usage chunk (${dropUsage === true ? "ended" : "broken"}) is charged its reservation`, async () => {
      const keys = await key();
      h.mock.next({ dropUsage, headersDelayMs: 400, chunks: 5 });
      const pending = post(keys.proxyKey, "/chat/completions", chat({ max_tokens: 500, stream: true })).catch((e: unknown) => e);
      await waitFor("the request to reach the provider", () => h.mock.requests.length === 1);
      const reserved = micros((await getKey(h.t, keys.proxyKeyId)).reserved_usd);
      await pending;
      await waitSettled(h.t);
      expect(h.mock.billed()[0]).toMatchObject({ cut: true, usageSent: false });
      expect(reserved).toBeGreaterThan(0);
      expect(await spendMicros(keys.proxyKeyId)).toBe(reserved);
      await expectCeilingHeld(keys, BUDGET_USD);
    });
  }

  test("a client that leaves mid-stream is charged at least what the provider billed", async () => {
    const keys = await key();
    h.mock.next({ chunks: 50, chunkDelayMs: 20 });
    const controller = new AbortController();
    const response = await fetch(`${h.baseUrl}/chat/completions`, {
      method: "POST",
      signal: controller.signal,
      headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json" },
      body: JSON.stringify(chat({ stream: true, max_tokens: 2_000 })),
    });
    expect(response.status).toBe(200);
    expect(await readEvents(response, 3)).toBe(true);
    controller.abort();
    await h.mock.waitForCancellation(5_000);
    await waitSettled(h.t);
    expect(h.mock.billed()[0]).toMatchObject({ output: 2_000, cut: true });
    const { spend, billed } = await expectCeilingHeld(keys, BUDGET_USD);
    expect(spend).toBeGreaterThanOrEqual(Math.floor(billed));
  });
});

describe("an upstream that ignores the cap (overrun)", () => {
  test("charged in full, logged as an overrun, audited, counted, and the key refused once spent", async () => {
    const keys = await key();
    const before = await metricTotal(ASSUMED.overrunMetric).catch(() => 0);
    h.mock.next({ overrunFactor: 10 });
    const answer = await post(keys.proxyKey, "/chat/completions", chat({ max_tokens: 2_000 }));
    expect(answer.status).toBe(200);
    await waitSettled(h.t);
    const billed = h.mock.billed();
    expect(billed[0]?.output).toBe(20_000);
    const spend = await spendMicros(keys.proxyKeyId);
    expect(spend).toBeGreaterThanOrEqual(Math.floor(billedMicros(billed)));
    expect(spend).toBeGreaterThanOrEqual(micros(BUDGET_USD));

    const [row] = (await allLogs(h.t, `proxy_key_id=${keys.proxyKeyId}`)) as Row[];
    expect(row?.status).toBe(200);
    expect(row?.output_tokens).toBe(20_000);
    const overrun = row?.[ASSUMED.overrunLogField];
    expect(typeof overrun).toBe("number");
    expect(overrun as number).toBeGreaterThan(0);
    expect(micros(overrun as number)).toBeLessThanOrEqual(spend);

    const audit = await h.t.call("GET", "/api/audit?limit=200");
    expect(audit.status).toBe(200);
    const entries = audit.json.data as Array<{ action: string; target_id: string | null }>;
    expect(entries.some((e) => e.action === ASSUMED.overrunAuditAction && e.target_id === keys.proxyKeyId)).toBe(true);

    expect(await metricTotal(ASSUMED.overrunMetric)).toBeGreaterThanOrEqual(before + 1);

    h.mock.reset();
    const next = await post(keys.proxyKey, "/chat/completions", chat({ max_tokens: 10 }));
    expect(errorOf(next, 429).code).toBe("insufficient_quota");
    expect(h.mock.requests).toHaveLength(0);
  });
});

describe("stored object reads", () => {
  test("GET /v1/responses/{id} is not charged and logs no tokens, though the object carries usage", async () => {
    const keys = await key({ budget_usd: 0.05 });
    // Created through this key, so it may read it back.
    const created = await post(keys.proxyKey, "/responses", { model: "gpt-4o-mini", input: "hi", max_output_tokens: 16 });
    expect(created.status).toBe(200);
    const id = (JSON.parse(created.text) as { id: string }).id;
    await waitSettled(h.t);
    const spentOnCreate = await spendMicros(keys.proxyKeyId);
    expect(spentOnCreate).toBeGreaterThan(0);
    const billedOnCreate = h.mock.billed().length;
    const response = await fetch(`${h.baseUrl}/responses/${id}`, { headers: { authorization: `Bearer ${keys.proxyKey}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id, usage: { input_tokens: expect.any(Number), output_tokens: expect.any(Number) } });
    await waitSettled(h.t);
    expect(h.mock.billed()).toHaveLength(billedOnCreate);
    expect(await spendMicros(keys.proxyKeyId)).toBe(spentOnCreate);
    const [row] = await allLogs(h.t, `proxy_key_id=${keys.proxyKeyId}`);
    expect(row).toMatchObject({ status: 200, path: `/responses/${id}`, input_tokens: 0, output_tokens: 0, cost_usd: 0 });
  });
});

// ---------- rate limits and retries ----------

describe("tpm reserved like money", () => {
  test("tpm 1000, 30 concurrent requests with max_tokens 500: at most 2 admitted, the rest 429 with Retry-After", async () => {
    const keys = await key({ tpm: 1_000 });
    h.mock.set({ headersDelayMs: 300 });
    const answers = await Promise.all(Array.from({ length: 30 }, () => post(keys.proxyKey, "/chat/completions", chat({ max_tokens: 500 }))));
    const admitted = answers.filter((a) => a.status === 200);
    expect(admitted.length).toBeGreaterThanOrEqual(1);
    expect(admitted.length).toBeLessThanOrEqual(2);
    for (const refused of answers.filter((a) => a.status !== 200)) {
      expect(errorOf(refused, 429).code).toBe("rate_limit_exceeded");
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    }
    expect(h.mock.requests).toHaveLength(admitted.length);
  });

  test("a request whose own bound exceeds tpm → 429 that says not to retry, without Retry-After", async () => {
    const keys = await key({ tpm: 1_000 });
    const answer = await post(keys.proxyKey, "/chat/completions", chat({ max_tokens: 5_000 }));
    expect(errorOf(answer, 429).code).toBe("rate_limit_exceeded");
    expect(answer.headers.get(ASSUMED.shouldRetryHeader)).toBe("false");
    expect(answer.headers.get("retry-after")).toBeNull();
    expect(h.mock.requests).toHaveLength(0);
  });
});

describe("refusals tell clients whether to retry", () => {
  test("an exhausted total budget: 429 insufficient_quota with x-should-retry: false", async () => {
    const keys = await exhaustedKey();
    const answer = await post(keys.proxyKey, "/chat/completions", chat({ max_tokens: 10 }));
    expect(errorOf(answer, 429).code).toBe("insufficient_quota");
    expect(answer.headers.get(ASSUMED.shouldRetryHeader)).toBe("false");
  });

  test("an rpm refusal: Retry-After, and no x-should-retry: false", async () => {
    const keys = await key({ rpm: 1 });
    expect((await post(keys.proxyKey, "/chat/completions", chat({ max_tokens: 10 }))).status).toBe(200);
    const answer = await post(keys.proxyKey, "/chat/completions", chat({ max_tokens: 10 }));
    expect(errorOf(answer, 429).code).toBe("rate_limit_exceeded");
    expect(Number(answer.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(answer.headers.get(ASSUMED.shouldRetryHeader)).not.toBe("false");
  });

  test("model_not_allowed: 403 with x-should-retry: false", async () => {
    const keys = await key({ allowed_models: [MODEL] });
    const answer = await post(keys.proxyKey, "/chat/completions", { ...chat({ max_tokens: 10 }), model: "gpt-4o" });
    expect(errorOf(answer, 403).code).toBe("model_not_allowed");
    expect(answer.headers.get(ASSUMED.shouldRetryHeader)).toBe("false");
  });

  test("the openai SDK with maxRetries 2 sends an exhausted key's request once, not three times", async () => {
    const keys = await exhaustedKey();
    let sent = 0;
    const counting = Object.assign(
      async (input: string | URL | Request, init?: RequestInit) => {
        sent++;
        return fetch(input, init);
      },
      { preconnect: fetch.preconnect },
    );
    const client = new OpenAI({ apiKey: keys.proxyKey, baseURL: h.baseUrl, maxRetries: 2, fetch: counting });
    const error = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 10 }).catch((e: unknown) => e);
    expect(outcome(error)).toBe("429 insufficient_quota");
    expect(sent).toBe(1);
    const refusals = ((await allLogs(h.t, `proxy_key_id=${keys.proxyKeyId}`)) as Row[]).filter((r) => r.status === 429);
    expect(refusals.reduce((sum, r) => sum + countOf(r), 0)).toBe(1);
    expect(h.mock.requests).toHaveLength(0);
  });
});

// ---------- refusals that would amplify ----------

describe("refusals don't amplify", () => {
  test("500 refused requests in a tight loop fold into a handful of log rows whose counts sum to 500", async () => {
    const keys = await exhaustedKey();
    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => post(keys.proxyKey, "/chat/completions", chat({ max_tokens: 10 }))));
      for (const answer of answers) expect(answer.status).toBe(429);
    }
    const rows = (await allLogs(h.t, `proxy_key_id=${keys.proxyKeyId}`)) as Row[];
    const refusals = rows.filter((r) => r.status === 429);
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    expect(refusals.length).toBeLessThanOrEqual(3);
    for (const row of refusals) expect(row.error_code).toBe("insufficient_quota");
    expect(refusals.reduce((sum, r) => sum + countOf(r), 0)).toBe(500);
    expect(h.mock.requests).toHaveLength(0);
  });

  test("30 refused requests naming a 2 MB model: the database grows < 1 MB, the stored model is cut, the answer is short", async () => {
    const exhausted = await exhaustedKey();
    const limited = await key({ allowed_models: [MODEL] });
    const huge = "m".repeat(2 * 1024 * 1024);
    const size = (): number => [h.t.dbPath, `${h.t.dbPath}-wal`].reduce((sum, p) => sum + (statSync(p, { throwIfNoEntry: false })?.size ?? 0), 0);
    await h.t.flushLog();
    const before = size();
    for (let i = 0; i < 30; i++) {
      const keys = i % 2 === 0 ? exhausted : limited;
      const answer = await post(keys.proxyKey, "/chat/completions", chat({ model: huge, max_tokens: 10 }));
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      expect(answer.text.length).toBeLessThan(2_048);
      expect(JSON.parse(answer.text).error.message.length).toBeLessThan(1_024);
    }
    await h.t.flushLog();
    expect(size() - before).toBeLessThan(1024 * 1024);
    for (const keys of [exhausted, limited]) {
      const rows = await allLogs(h.t, `proxy_key_id=${keys.proxyKeyId}`);
      for (const row of rows) expect((row.model ?? "").length).toBeLessThanOrEqual(ASSUMED.maxStoredModelChars);
    }
    expect(h.mock.requests).toHaveLength(0);
  });
});
