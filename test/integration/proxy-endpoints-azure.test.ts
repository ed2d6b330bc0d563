/**
 * Azure OpenAI through keyward with the official `AzureOpenAI` client, past
 * chat: every path the client puts under a deployment (completions,
 * embeddings, images generations and edits, audio speech, transcriptions and
 * translations, batches) goes to `…/openai/deployments/{name}/…?api-version=`,
 * and the model the provider key maps the deployment to, never the body's, is
 * what the allow-list checks and the spend is priced at; a key with limits
 * calling an unmapped deployment is refused. Files and batches go to Azure's
 * dated API (`…/openai/files?api-version=`) from `AzureOpenAI` and to its v1
 * API (`…/openai/v1/files`) from a plain OpenAI client; they belong to the
 * proxy key that created them, and a key with limits has its batch metered.
 */
import OpenAI, { AzureOpenAI, toFile } from "openai";
import { beforeAll, describe, expect, test } from "bun:test";
import { allLogs, getKey, micros, waitSettled } from "../helpers/limits.ts";
import { MOCK_TEXT } from "../helpers/mock-provider.ts";
import { createKeyPair, expectProxyKeyNeverUpstream, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

const h = useProxyHarness();

const API_VERSION = "2024-10-21";
const DEPLOYMENTS = {
  chat: "gpt-4o-mini",
  instruct: "gpt-3.5-turbo-instruct",
  emb: "text-embedding-3-small",
  img: "dall-e-2",
  "img-edit": "gpt-image-1",
  tts: "tts-1",
  whisper: "whisper-1",
};
const RESERVATION_USD = 0.25;
const LIMITS = { budget_usd: 5, unbounded_reservation_usd: RESERVATION_USD, allowed_models: Object.values(DEPLOYMENTS) };
const PNG = Uint8Array.from(atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="), (c) => c.charCodeAt(0));
const WAV = new Uint8Array(4_096).map((_, i) => (i < 4 ? (0x52494646 >> (8 * (3 - i))) & 0xff : 0));

beforeAll(async () => {
  // Legacy completions' model is not in the built-in table: an admin prices it.
  expect((await h.t.call("PUT", "/api/prices/gpt-3.5-turbo-instruct", { input_per_million_usd: 1.5, output_per_million_usd: 2 })).status).toBe(200);
});

/** An Azure provider key (base URL …/openai/v1) with DEPLOYMENTS mapped, and a second proxy key on it. */
async function azureKeys(proxy: Record<string, unknown> = {}): Promise<{ a: KeyPair; b: KeyPair }> {
  const a = await createKeyPair(h.t, { provider: "azure-openai", base_url: `${h.mock.url}/openai/v1`, proxy });
  expect((await h.t.call("PATCH", `/api/provider-keys/${a.providerKeyId}`, { deployments: DEPLOYMENTS })).status).toBe(200);
  const minted = await h.t.call("POST", "/api/proxy-keys", { name: "second", provider_key_id: a.providerKeyId, ...proxy });
  expect(minted.status).toBe(201);
  return { a, b: { ...a, proxyKey: minted.json.key, proxyKeyId: minted.json.id } };
}

const azure = (keys: KeyPair, deployment?: string): AzureOpenAI =>
  new AzureOpenAI({ baseURL: h.baseUrl, apiKey: keys.proxyKey, apiVersion: API_VERSION, maxRetries: 0, ...(deployment ? { deployment } : {}) });

/** The SDK call's error status, or 0 when it succeeded. */
async function statusOf(call: () => Promise<unknown>): Promise<{ status: number; code?: string | null; message: string }> {
  try {
    await call();
    return { status: 0, message: "" };
  } catch (err) {
    if (err instanceof OpenAI.APIError) return { status: err.status ?? 0, code: err.code, message: err.message };
    throw err;
  }
}

async function money(keys: KeyPair): Promise<{ spent: number; reserved: number }> {
  await waitSettled(h.t);
  const key = await getKey(h.t, keys.proxyKeyId);
  return { spent: micros(key.spend_usd), reserved: micros(key.reserved_usd) };
}

describe("deployment paths beyond chat", () => {
  for (const limited of [false, true]) {
    test(`${limited ? "limited key" : "key without limits"}: each goes to its deployment with api-version, logged (and priced) as the mapped model`, async () => {
      h.mock.set({ usage: { input: 100, output: 40 } });
      const { a } = await azureKeys(limited ? LIMITS : {});
      const completion = await azure(a, "instruct").completions.create({ model: "x", prompt: "hi" });
      expect(completion.choices[0]?.text).toBe(MOCK_TEXT);
      const embedded = await azure(a, "emb").embeddings.create({ model: "x", input: ["a", "b"], encoding_format: "float", dimensions: 4 });
      expect(embedded.data).toHaveLength(2);
      // The body's model (what the SDK makes callers write) is not what runs.
      const image = await azure(a, "img").images.generate({ model: "dall-e-3", prompt: "a cat" });
      expect(image.data?.length).toBe(1);
      const edited = await azure(a, "img-edit").images.edit({
        model: "gpt-image-1",
        prompt: "a hat",
        image: await toFile(PNG, "cat.png", { type: "image/png" }),
      });
      expect(edited.data?.[0]?.b64_json).toBeDefined();
      const speech = await azure(a, "tts").audio.speech.create({ model: "tts-1", input: "hi", voice: "alloy" });
      expect((await speech.arrayBuffer()).byteLength).toBeGreaterThan(0);
      const wav = () => toFile(WAV, "a.wav", { type: "audio/wav" });
      expect((await azure(a, "whisper").audio.transcriptions.create({ model: "whisper-1", file: await wav() })).text).toBe(MOCK_TEXT);
      expect((await azure(a, "whisper").audio.translations.create({ model: "whisper-1", file: await wav() })).text).toBe(MOCK_TEXT);

      const deployments = ["instruct", "emb", "img", "img-edit", "tts", "whisper", "whisper"];
      const kinds = ["completions", "embeddings", "images/generations", "images/edits", "audio/speech", "audio/transcriptions", "audio/translations"];
      expect(h.mock.requests.map((r) => r.path)).toEqual(kinds.map((kind, i) => `/openai/deployments/${deployments[i]}/${kind}`));
      for (const rec of h.mock.requests) {
        expect(rec.query).toEqual({ "api-version": API_VERSION });
        expect(rec.headers["api-key"]).toBe(a.providerSecret);
        expect(rec.headers.authorization).toBeUndefined();
      }
      expectProxyKeyNeverUpstream(h.mock, a.proxyKey);
      await waitSettled(h.t);
      const rows = (await allLogs(h.t, `proxy_key_id=${a.proxyKeyId}`)).toReversed();
      expect(rows.map((r) => r.status)).toEqual(kinds.map(() => 200));
      expect(rows.map((r) => r.model)).toEqual(deployments.map((d) => DEPLOYMENTS[d as keyof typeof DEPLOYMENTS]));
      if (limited) {
        const { spent, reserved } = await money(a);
        expect(reserved).toBe(0);
        // dall-e-2, tts-1 and whisper-1 report no tokens: each is charged the key's reservation.
        expect(spent).toBeGreaterThanOrEqual(3 * micros(RESERVATION_USD));
      }
    });
  }

  test("the deployment's model is what the allow-list sees; an unmapped deployment is refused to a key with limits; nothing refused is forwarded", async () => {
    const { a } = await azureKeys({ budget_usd: 5, unbounded_reservation_usd: RESERVATION_USD, allowed_models: ["dall-e-2"] });
    // Allowed: deployment img runs dall-e-2, whatever the body names.
    await azure(a, "img").images.generate({ model: "dall-e-3", prompt: "a cat" });
    expect(h.mock.requests).toHaveLength(1);
    const notAllowed = await statusOf(() => azure(a, "img-edit").images.generate({ model: "dall-e-2", prompt: "a cat" }));
    expect(notAllowed).toMatchObject({ status: 403, code: "model_not_allowed" });
    expect(notAllowed.message).toContain("gpt-image-1");
    const unmapped = await statusOf(() => azure(a, "nope").audio.speech.create({ model: "dall-e-2", input: "hi", voice: "alloy" }));
    expect(unmapped).toMatchObject({ status: 403, code: "endpoint_not_allowed" });
    expect(unmapped.message).toContain("nope");
    expect(h.mock.requests).toHaveLength(1);
  });
});

describe("files and batches", () => {
  const line = (id: string) =>
    JSON.stringify({
      custom_id: id,
      method: "POST",
      url: "/v1/chat/completions",
      body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 20 },
    });
  const batchFile = () => toFile(new TextEncoder().encode(`${line("a")}\n${line("b")}\n`), "in.jsonl");

  for (const limited of [false, true]) {
    test(`${limited ? "limited key (its batch metered)" : "key without limits"}: dated API from AzureOpenAI, v1 API from OpenAI; the creator's alone`, async () => {
      // Within each line's bounds (its bytes, max_tokens 20): the batch settles below its worst case.
      h.mock.set({ usage: { input: 10, output: 5 } });
      const { a, b } = await azureKeys(limited ? LIMITS : {});
      const file = await azure(a).files.create({ file: await batchFile(), purpose: "batch" });
      // With a deployment the client creates its batch under it; without one, at the dated API's root.
      const created = await azure(a, "chat").batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
      const second = await azure(a).batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
      expect(h.mock.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        "POST /openai/files",
        "POST /openai/deployments/chat/batches",
        "POST /openai/batches",
      ]);
      for (const rec of h.mock.requests) expect(rec.query).toEqual({ "api-version": API_VERSION });
      const worst = await money(a);
      if (limited) expect(worst.spent).toBeGreaterThan(0);

      // The creator lists and reads both ways: AzureOpenAI (dated) and OpenAI on the v1 API.
      const viaV1 = new OpenAI({ baseURL: h.baseUrl, apiKey: a.proxyKey, maxRetries: 0 });
      const files: string[] = [];
      for await (const f of viaV1.files.list()) files.push(f.id);
      expect(files).toEqual([file.id]);
      expect(h.mock.requests.at(-1)?.path).toBe("/openai/v1/files");
      const batches: string[] = [];
      for await (const batch of azure(a).batches.list()) batches.push(batch.id);
      expect(batches.toSorted()).toEqual([created.id, second.id].toSorted());
      expect(h.mock.requests.at(-1)?.path).toBe("/openai/batches");

      // The other key is told none exists, and lists nothing, in either API.
      const other = azure(b);
      const before = h.mock.requests.length;
      expect((await statusOf(() => other.files.retrieve(file.id))).status).toBe(404);
      expect((await statusOf(() => other.batches.retrieve(created.id))).status).toBe(404);
      expect((await statusOf(() => other.batches.cancel(second.id))).status).toBe(404);
      expect(h.mock.requests.length).toBe(before);
      const theirs: string[] = [];
      for await (const f of other.files.list()) theirs.push(f.id);
      for await (const batch of new OpenAI({ baseURL: h.baseUrl, apiKey: b.proxyKey, maxRetries: 0 }).batches.list()) theirs.push(batch.id);
      expect(theirs).toEqual([]);

      // The batch's end settles what its creation charged (a limited key), read through the dated API.
      h.mock.completeBatch(created.id);
      const read = h.mock.requests.length;
      expect((await azure(a).batches.retrieve(created.id)).status).toBe("completed");
      expect(h.mock.requests[read]).toMatchObject({ path: `/openai/batches/${created.id}`, query: { "api-version": API_VERSION } });
      const settled = await money(a);
      expect(settled.reserved).toBe(0);
      if (limited) expect(settled.spent).toBeLessThan(worst.spent);
    });
  }
});
