/**
 * Issue 18, "Every endpoint known": the official SDKs work unchanged through
 * keyward on the endpoints the registry added (Gemini's native API as
 * `@google/genai` calls it, Azure deployment paths as `AzureOpenAI` calls
 * them, Anthropic's Files API through `beta.files`), with a key without
 * limits and with a key whose limits read the body (budget + allowed_models).
 * For the limited key the model comes from where the endpoint keeps it (the
 * URL for Gemini, the provider key's deployment mapping for Azure), and that
 * model is both what the allow-list checks and what the spend is priced at.
 */
import Anthropic, { toFile } from "@anthropic-ai/sdk";
import { ApiError, GoogleGenAI } from "@google/genai";
import OpenAI, { AzureOpenAI } from "openai";
import { describe, expect, test } from "bun:test";
import { BUILTIN_PRICES } from "../../src/limits/prices-builtin.ts";
import { allLogs, getKey, micros, waitSettled, type LogEntry } from "../helpers/limits.ts";
import { MOCK_TEXT, type RecordedRequest } from "../helpers/mock-provider.ts";
import { createKeyPair, expectProxyError, expectProxyKeyNeverUpstream, fetchText, secretOf, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

const h = useProxyHarness();

/** Token counts the mock reports on every answer here; chosen so each price below gives whole micro-dollars. */
const USAGE = { input: 100, output: 40 };
/** What a key with limits may spend here: far more than any test needs. */
const BUDGET = { budget_usd: 5 };

/** USD per million tokens is µ$ per token: the exact cost of USAGE at a built-in price. */
function costMicros(model: string, usage = USAGE): number {
  const price = BUILTIN_PRICES[model];
  if (!price) throw new Error(`the built-in price table has no ${model}`);
  return usage.input * price.input + usage.output * price.output;
}

async function spendMicros(keys: KeyPair): Promise<number> {
  await waitSettled(h.t);
  const key = await getKey(h.t, keys.proxyKeyId);
  expect(key.reserved_usd).toBe(0);
  return micros(key.spend_usd);
}

async function logsOf(keys: KeyPair): Promise<LogEntry[]> {
  await waitSettled(h.t);
  return allLogs(h.t, `proxy_key_id=${keys.proxyKeyId}`);
}

/** The upstream requests carried the provider key in this header and no other credential, and never the proxy key. */
function expectCredentialUpstream(keys: KeyPair, header: "x-goog-api-key" | "api-key" | "x-api-key"): void {
  expectProxyKeyNeverUpstream(h.mock, keys.proxyKey);
  for (const rec of h.mock.requests) {
    expect(rec.headers[header]).toBe(keys.providerSecret);
    for (const other of ["authorization", "x-goog-api-key", "api-key", "x-api-key"].filter((name) => name !== header)) {
      expect(rec.headers[other]).toBeUndefined();
    }
    expect(rec.query.key).toBeUndefined();
  }
}

const only = (): RecordedRequest => {
  expect(h.mock.requests).toHaveLength(1);
  return h.mock.requests[0] as RecordedRequest;
};

// ---------- Gemini native ----------

describe("@google/genai → keyward /v1 → Gemini's native API", () => {
  const ALLOWED = ["gemini-2.5-flash", "text-embedding-004"];

  test("the price table prices the Gemini models used here", () => {
    for (const model of ALLOWED) expect(BUILTIN_PRICES[model]).toBeDefined();
    expect(costMicros("gemini-2.5-flash")).toBe(130);
  });

  /** A provider key whose base URL is Gemini's OpenAI-compatible one, as in production; native paths go to its origin. */
  const geminiKey = (proxy: Record<string, unknown> = {}): Promise<KeyPair> =>
    createKeyPair(h.t, { provider: "gemini", base_url: `${h.mock.url}/v1beta/openai`, proxy });

  const client = (keys: KeyPair, apiVersion: string): GoogleGenAI =>
    new GoogleGenAI({ apiKey: keys.proxyKey, httpOptions: { baseUrl: h.baseUrl, apiVersion } });

  for (const apiVersion of ["v1beta", "v1"]) {
    for (const limited of [false, true]) {
      const label = `${apiVersion}, ${limited ? "limited key (budget + allowed_models)" : "key without limits"}`;

      test(`${label}: generateContent → origin + /${apiVersion}/models/{model}:generateContent, usageMetadata charged at the model's price`, async () => {
        h.mock.set({ usage: USAGE });
        const keys = await geminiKey(limited ? { ...BUDGET, allowed_models: ALLOWED } : {});
        const response = await client(keys, apiVersion).models.generateContent({ model: "gemini-2.5-flash", contents: "Say hi" });
        expect(response.text).toBe(MOCK_TEXT);
        expect(response.usageMetadata).toMatchObject({ promptTokenCount: 100, candidatesTokenCount: 40, totalTokenCount: 140 });
        const rec = only();
        expect(rec.path).toBe(`/${apiVersion}/models/gemini-2.5-flash:generateContent`);
        expect(rec.route).toBe("POST /{version}/models/{model}:generateContent");
        expectCredentialUpstream(keys, "x-goog-api-key");
        expect(rec.json?.contents).toEqual([{ role: "user", parts: [{ text: "Say hi" }] }]);
        // A limited key's bound is written where Gemini reads it; a key without limits is forwarded as sent.
        if (limited) expect(rec.json?.generationConfig).toEqual({ maxOutputTokens: 4096 });
        else expect(rec.json?.generationConfig).toBeUndefined();
        const [row] = await logsOf(keys);
        expect(row).toMatchObject({ model: "gemini-2.5-flash", status: 200, streamed: false, input_tokens: 100, output_tokens: 40 });
        expect(row?.path).toBe(`/${apiVersion}/models/gemini-2.5-flash:generateContent`);
        if (limited) {
          expect(await spendMicros(keys)).toBe(costMicros("gemini-2.5-flash"));
          expect(micros(row?.cost_usd ?? 0)).toBe(costMicros("gemini-2.5-flash"));
        }
      });

      test(`${label}: generateContentStream (SSE, CRLF events): text whole, usage from the last usageMetadata`, async () => {
        h.mock.set({ usage: USAGE, chunks: 4 });
        const keys = await geminiKey(limited ? { ...BUDGET, allowed_models: ALLOWED } : {});
        const stream = await client(keys, apiVersion).models.generateContentStream({ model: "gemini-2.5-flash", contents: "Say hi" });
        let text = "";
        const counts: (number | undefined)[] = [];
        for await (const chunk of stream) {
          text += chunk.text ?? "";
          counts.push(chunk.usageMetadata?.candidatesTokenCount);
        }
        expect(text).toBe(MOCK_TEXT);
        // The chunks reach the client as the provider sent them: running totals, the full count last.
        expect(counts).toEqual([10, 20, 30, 40]);
        const rec = only();
        expect(rec.path).toBe(`/${apiVersion}/models/gemini-2.5-flash:streamGenerateContent`);
        expect(rec.query).toEqual({ alt: "sse" });
        expect(rec.streamed).toBe(true);
        expectCredentialUpstream(keys, "x-goog-api-key");
        if (limited) expect(rec.json?.generationConfig).toEqual({ maxOutputTokens: 4096 });
        const [row] = await logsOf(keys);
        // The last chunk's running total counts once, not the sum of the four.
        expect(row).toMatchObject({ model: "gemini-2.5-flash", status: 200, streamed: true, input_tokens: 100, output_tokens: 40 });
        if (limited) expect(await spendMicros(keys)).toBe(costMicros("gemini-2.5-flash"));
      });

      test(`${label}: countTokens is forwarded and never charged`, async () => {
        h.mock.set({ usage: USAGE });
        const keys = await geminiKey(limited ? { ...BUDGET, allowed_models: ALLOWED } : {});
        const counted = await client(keys, apiVersion).models.countTokens({ model: "gemini-2.5-flash", contents: "Say hi" });
        expect(counted.totalTokens).toBe(100);
        const rec = only();
        expect(rec.path).toBe(`/${apiVersion}/models/gemini-2.5-flash:countTokens`);
        expectCredentialUpstream(keys, "x-goog-api-key");
        const [row] = await logsOf(keys);
        expect(row).toMatchObject({ model: "gemini-2.5-flash", status: 200, cost_usd: 0 });
        if (limited) expect(await spendMicros(keys)).toBe(0);
      });

      test(`${label}: embedContent (the SDK calls :batchEmbedContents), priced at the embedding model's price`, async () => {
        h.mock.set({ usage: USAGE });
        const keys = await geminiKey(limited ? { ...BUDGET, allowed_models: ALLOWED } : {});
        const result = await client(keys, apiVersion).models.embedContent({
          model: "text-embedding-004",
          contents: ["a", "b"],
          config: { outputDimensionality: 4 },
        });
        expect(result.embeddings).toHaveLength(2);
        expect(result.embeddings?.[0]?.values).toHaveLength(4);
        const rec = only();
        expect(rec.path).toBe(`/${apiVersion}/models/text-embedding-004:batchEmbedContents`);
        expectCredentialUpstream(keys, "x-goog-api-key");
        const [row] = await logsOf(keys);
        expect(row).toMatchObject({ model: "text-embedding-004", status: 200, input_tokens: 100, output_tokens: 0 });
        if (limited) expect(await spendMicros(keys)).toBe(costMicros("text-embedding-004", { input: 100, output: 0 }));
      });

      test(`${label}: models.list is Gemini's list, not the OpenAI-compatible one`, async () => {
        h.mock.set({ models: ["gemini-2.5-flash", "gemini-2.5-pro"] });
        const keys = await geminiKey(limited ? { ...BUDGET, allowed_models: ALLOWED } : {});
        const names: (string | undefined)[] = [];
        for await (const model of await client(keys, apiVersion).models.list()) names.push(model.name);
        expect(names).toEqual(["models/gemini-2.5-flash", "models/gemini-2.5-pro"]);
        const rec = only();
        expect(rec.method).toBe("GET");
        expect(rec.path).toBe(`/${apiVersion}/models`);
        expect(rec.route).toBe("GET /{version}/models");
        expectCredentialUpstream(keys, "x-goog-api-key");
        if (limited) expect(await spendMicros(keys)).toBe(0);
      });
    }
  }

  for (const limited of [false, true]) {
    test(`${limited ? "limited key" : "key without limits"}: streamGenerateContent without alt=sse (one JSON array): usage from the last chunk`, async () => {
      h.mock.set({ usage: USAGE, chunks: 3 });
      const keys = await geminiKey(limited ? { ...BUDGET, allowed_models: ALLOWED } : {});
      const res = await fetchText(`${h.baseUrl}/v1beta/models/gemini-2.5-flash:streamGenerateContent`, {
        method: "POST",
        headers: { "x-goog-api-key": keys.proxyKey, "content-type": "application/json" },
        body: JSON.stringify({ contents: [{ parts: [{ text: "hi" }] }] }),
      });
      expect(res.status).toBe(200);
      const chunks = JSON.parse(res.text) as { usageMetadata: { candidatesTokenCount: number } }[];
      expect(chunks.map((c) => c.usageMetadata.candidatesTokenCount)).toEqual([13, 26, 40]);
      const [row] = await logsOf(keys);
      // The running totals are not summed, and a budgeted key is not charged its whole reservation.
      expect(row).toMatchObject({ model: "gemini-2.5-flash", status: 200, streamed: true, input_tokens: 100, output_tokens: 40 });
      expect(micros(row?.cost_usd ?? 0)).toBe(costMicros("gemini-2.5-flash"));
      if (limited) expect(await spendMicros(keys)).toBe(costMicros("gemini-2.5-flash"));
    });
  }

  test("a limited key's bounds are written where Gemini reads them; snake_case spellings Gemini also accepts are refused", async () => {
    const keys = await geminiKey({ ...BUDGET, allowed_models: ALLOWED });
    const gemini = client(keys, "v1beta");
    await gemini.models.generateContent({ model: "gemini-2.5-flash", contents: "hi", config: { maxOutputTokens: 100, candidateCount: 2 } });
    expect(only().json?.generationConfig).toEqual({ maxOutputTokens: 100, candidateCount: 2 });
    for (const [body, param] of [
      [{ generationConfig: { max_output_tokens: 100_000 } }, "generationConfig.max_output_tokens"],
      [{ generation_config: { maxOutputTokens: 100_000 } }, "generation_config"],
      [{ generationConfig: { maxOutputTokens: 100, candidate_count: 8 } }, "generationConfig.candidate_count"],
    ] as const) {
      const res = await fetchText(`${h.baseUrl}/v1beta/models/gemini-2.5-flash:generateContent`, {
        method: "POST",
        headers: { "x-goog-api-key": keys.proxyKey, "content-type": "application/json" },
        body: JSON.stringify({ contents: [{ parts: [{ text: "hi" }] }], ...body }),
      });
      expect(expectProxyError(res, 400, "invalid_request").error.param).toBe(param);
    }
    expect(h.mock.requests).toHaveLength(1);
  });

  test("the URL's model is what the allow-list checks: gemini-2.5-pro on a key allowed gemini-2.5-flash → 403, nothing forwarded", async () => {
    const keys = await geminiKey({ ...BUDGET, allowed_models: ["gemini-2.5-flash"] });
    const gemini = client(keys, "v1beta");
    for (const call of [
      () => gemini.models.generateContent({ model: "gemini-2.5-pro", contents: "hi" }),
      async () => {
        for await (const chunk of await gemini.models.generateContentStream({ model: "gemini-2.5-pro", contents: "hi" })) expect(chunk).toBeUndefined();
      },
      () => gemini.models.embedContent({ model: "gemini-embedding-001", contents: "hi" }),
    ]) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).status).toBe(403);
      expect((error as ApiError).message).toContain("model_not_allowed");
    }
    expect(h.mock.requests).toHaveLength(0);
    // The same refusal over plain HTTP, in keyward's error shape, naming the model; a body `model` cannot override the URL's.
    const res = await fetchText(`${h.baseUrl}/v1beta/models/gemini-2.5-pro:generateContent`, {
      method: "POST",
      headers: { "x-goog-api-key": keys.proxyKey, "content-type": "application/json" },
      body: JSON.stringify({ model: "gemini-2.5-flash", contents: [{ parts: [{ text: "hi" }] }] }),
    });
    expect(expectProxyError(res, 403, "model_not_allowed").error.message).toContain("gemini-2.5-pro");
    expect(h.mock.requests).toHaveLength(0);
    expect(await spendMicros(keys)).toBe(0);
  });

  test("a limited key's Gemini model must be priced: gemini-2.5-pro is charged at its own (dearer) price", async () => {
    h.mock.set({ usage: USAGE });
    const keys = await geminiKey({ ...BUDGET, allowed_models: ["gemini-2.5-pro"] });
    await client(keys, "v1beta").models.generateContent({ model: "gemini-2.5-pro", contents: "hi" });
    expect(only().path).toBe("/v1beta/models/gemini-2.5-pro:generateContent");
    expect(await spendMicros(keys)).toBe(costMicros("gemini-2.5-pro"));
    expect(costMicros("gemini-2.5-pro")).not.toBe(costMicros("gemini-2.5-flash"));
  });

  test("`?key=` in the query is not a proxy credential: 401, nothing forwarded", async () => {
    const keys = await geminiKey();
    const res = await fetchText(`${h.baseUrl}/v1beta/models/gemini-2.5-flash:generateContent?key=${encodeURIComponent(keys.proxyKey)}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ contents: [{ parts: [{ text: "hi" }] }] }),
    });
    expectProxyError(res, 401, "invalid_api_key");
    const list = await fetchText(`${h.baseUrl}/v1beta/models?key=${encodeURIComponent(keys.proxyKey)}`);
    expectProxyError(list, 401, "invalid_api_key");
    expect(h.mock.requests).toHaveLength(0);
  });

  test("with the proxy key in x-goog-api-key, a client's own `?key=` never carries it upstream", async () => {
    const keys = await geminiKey();
    h.mock.set({ models: ["gemini-2.5-flash", "gemini-2.5-pro"] });
    const res = await fetchText(`${h.baseUrl}/v1beta/models?pageSize=1&key=${secretOf(keys.proxyKey)}`, { headers: { "x-goog-api-key": keys.proxyKey } });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ models: [{ name: "models/gemini-2.5-flash" }], nextPageToken: "1" });
    // The other parameters go on as sent; `key` does not.
    expect(only().query).toEqual({ pageSize: "1" });
    expectCredentialUpstream(keys, "x-goog-api-key");
  });
});

// ---------- Azure deployments ----------

describe("AzureOpenAI → keyward /v1 → Azure deployment paths", () => {
  const API_VERSION = "2024-10-21";
  const DEPLOYMENTS = { "prod-4o": "gpt-4o", "gpt-5-pro-expensive": "gpt-5-pro" };

  /** An Azure provider key (base URL …/openai/v1, as Azure's v1 API) with its deployments mapped by PATCH. */
  async function azureKey(proxy: Record<string, unknown> = {}): Promise<KeyPair> {
    const keys = await createKeyPair(h.t, { provider: "azure-openai", base_url: `${h.mock.url}/openai/v1`, proxy });
    const patched = await h.t.call("PATCH", `/api/provider-keys/${keys.providerKeyId}`, { deployments: DEPLOYMENTS });
    expect(patched.status).toBe(200);
    expect(patched.json.deployments).toEqual(DEPLOYMENTS);
    return keys;
  }

  const azure = (keys: KeyPair, deployment: string): AzureOpenAI =>
    new AzureOpenAI({ baseURL: h.baseUrl, apiKey: keys.proxyKey, apiVersion: API_VERSION, deployment, maxRetries: 0 });

  const chat = (client: OpenAI, model = "gpt-4o-mini") => client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] });

  for (const limited of [false, true]) {
    const label = limited ? "limited key allowed gpt-4o" : "key without limits";

    test(`${label}: deployment prod-4o → <base without /v1>/deployments/prod-4o/chat/completions?api-version, priced as gpt-4o`, async () => {
      h.mock.set({ usage: USAGE });
      const keys = await azureKey(limited ? { ...BUDGET, allowed_models: ["gpt-4o"] } : {});
      const completion = await chat(azure(keys, "prod-4o"));
      expect(completion.choices[0]?.message.content).toBe(MOCK_TEXT);
      const rec = only();
      expect(rec.path).toBe("/openai/deployments/prod-4o/chat/completions");
      expect(rec.query).toEqual({ "api-version": API_VERSION });
      expect(rec.deployment).toBe("prod-4o");
      expectCredentialUpstream(keys, "api-key");
      if (limited) expect(rec.json?.max_tokens).toBe(4096);
      else expect(rec.json?.max_tokens).toBeUndefined();
      const [row] = await logsOf(keys);
      expect(row).toMatchObject({ status: 200, input_tokens: 100, output_tokens: 40 });
      if (limited) {
        // The model the deployment maps to, not the body's `model`, is what was admitted and priced.
        expect(row?.model).toBe("gpt-4o");
        expect(await spendMicros(keys)).toBe(costMicros("gpt-4o"));
      }
    });

    test(`${label}: streamed deployment chat; usage read from the stream`, async () => {
      h.mock.set({ usage: USAGE });
      const keys = await azureKey(limited ? { ...BUDGET, allowed_models: ["gpt-4o"] } : {});
      const stream = await azure(keys, "prod-4o").chat.completions.create({ model: "x", messages: [{ role: "user", content: "hi" }], stream: true });
      let text = "";
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
      expect(text).toBe(MOCK_TEXT);
      const rec = only();
      expect(rec.path).toBe("/openai/deployments/prod-4o/chat/completions");
      expect(rec.json?.stream_options).toEqual({ include_usage: true });
      const [row] = await logsOf(keys);
      expect(row).toMatchObject({ status: 200, streamed: true, input_tokens: 100, output_tokens: 40 });
      if (limited) expect(await spendMicros(keys)).toBe(costMicros("gpt-4o"));
    });
  }

  test("the issue's attack: a key allowed only gpt-4o-mini calls deployment gpt-5-pro-expensive (→ gpt-5-pro) → 403, nothing forwarded", async () => {
    const keys = await azureKey({ ...BUDGET, allowed_models: ["gpt-4o-mini"] });
    const error = await chat(azure(keys, "gpt-5-pro-expensive"), "gpt-4o-mini").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(403);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe("model_not_allowed");
    expect((error as Error).message).toContain("gpt-5-pro");
    expect(h.mock.requests).toHaveLength(0);
    expect(await spendMicros(keys)).toBe(0);
  });

  test("an unmapped deployment: 403 endpoint_not_allowed on a limited key, nothing forwarded; forwarded on a key without limits", async () => {
    const limited = await azureKey({ ...BUDGET, allowed_models: ["gpt-4o-mini"] });
    const error = await chat(azure(limited, "not-mapped")).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(403);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe("endpoint_not_allowed");
    expect(h.mock.requests).toHaveLength(0);

    const open = await azureKey();
    const completion = await chat(azure(open, "not-mapped"));
    expect(completion.choices[0]?.message.content).toBe(MOCK_TEXT);
    const rec = only();
    expect(rec.path).toBe("/openai/deployments/not-mapped/chat/completions");
    expectCredentialUpstream(open, "api-key");
  });

  test("embeddings through a deployment: model from the mapping, budget charged at its price", async () => {
    h.mock.set({ usage: USAGE });
    const keys = await createKeyPair(h.t, {
      provider: "azure-openai",
      base_url: `${h.mock.url}/openai/v1`,
      proxy: { ...BUDGET, allowed_models: ["text-embedding-3-small"] },
    });
    expect((await h.t.call("PATCH", `/api/provider-keys/${keys.providerKeyId}`, { deployments: { emb: "text-embedding-3-small" } })).status).toBe(200);
    const result = await azure(keys, "emb").embeddings.create({ model: "whatever", input: "hi", encoding_format: "float", dimensions: 4 });
    expect(result.data[0]?.embedding).toHaveLength(4);
    expect(only().path).toBe("/openai/deployments/emb/embeddings");
    expect(await spendMicros(keys)).toBe(costMicros("text-embedding-3-small", { input: 100, output: 0 }));
  });

  test("a deployment mapping removed by PATCH null takes effect on the next request", async () => {
    const keys = await azureKey({ ...BUDGET, allowed_models: ["gpt-4o"] });
    await chat(azure(keys, "prod-4o"));
    expect(h.mock.requests).toHaveLength(1);
    expect((await h.t.call("PATCH", `/api/provider-keys/${keys.providerKeyId}`, { deployments: null })).status).toBe(200);
    const error = await chat(azure(keys, "prod-4o")).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe("endpoint_not_allowed");
    expect(h.mock.requests).toHaveLength(1);
  });
});

// ---------- Anthropic Files API ----------

describe("Anthropic SDK beta.files → keyward → Anthropic's Files API", () => {
  for (const limited of [false, true]) {
    test(`${limited ? "limited key" : "key without limits"}: upload, list, retrieve metadata, download, delete`, async () => {
      const keys = await createKeyPair(h.t, {
        provider: "anthropic",
        base_url: h.mock.baseUrl,
        proxy: limited ? { ...BUDGET, allowed_models: ["claude-haiku-4-5"] } : {},
      });
      const client = new Anthropic({ apiKey: keys.proxyKey, baseURL: h.url, maxRetries: 0 });
      const bytes = new TextEncoder().encode("a document for Claude\n".repeat(100));
      const uploaded = await client.beta.files.upload({ file: await toFile(bytes, "doc.txt", { type: "text/plain" }) });
      expect(uploaded).toMatchObject({ type: "file", filename: "doc.txt", mime_type: "text/plain", size_bytes: bytes.byteLength });
      expect(h.mock.store.anthropicFiles.get(uploaded.id)?.bytes).toEqual(bytes);

      const listed = [];
      for await (const file of client.beta.files.list()) listed.push(file.id);
      expect(listed).toEqual([uploaded.id]);
      expect((await client.beta.files.retrieveMetadata(uploaded.id)).id).toBe(uploaded.id);
      const downloaded = new Uint8Array(await (await client.beta.files.download(uploaded.id)).arrayBuffer());
      expect(downloaded).toEqual(bytes);
      expect(await client.beta.files.delete(uploaded.id)).toMatchObject({ id: uploaded.id, type: "file_deleted" });

      expect(h.mock.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        "POST /v1/files",
        "GET /v1/files",
        `GET /v1/files/${uploaded.id}`,
        `GET /v1/files/${uploaded.id}/content`,
        `DELETE /v1/files/${uploaded.id}`,
      ]);
      for (const rec of h.mock.requests) {
        expect(rec.route?.startsWith(`${rec.method} /v1/files`)).toBe(true);
        expect(rec.headers["anthropic-version"]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      }
      expectCredentialUpstream(keys, "x-api-key");
      if (limited) expect(await spendMicros(keys)).toBe(0);
    });
  }
});
