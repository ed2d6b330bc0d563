/**
 * Proves the mock provider's Anthropic Files API, Message Batches and token
 * counting satisfy `@anthropic-ai/sdk`, its Azure OpenAI deployment paths
 * satisfy `AzureOpenAI`, and that it decodes compressed request bodies as a
 * server would. The SDKs talk to the mock directly (no keyward).
 */
import Anthropic, { toFile as anthropicFile } from "@anthropic-ai/sdk";
import OpenAI, { AzureOpenAI, toFile } from "openai";
import { brotliCompressSync, deflateRawSync, deflateSync } from "node:zlib";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { MOCK_TEXT, startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";

let mock: MockProvider;
let anthropic: Anthropic;

beforeAll(async () => {
  mock = await startMockProvider();
  anthropic = new Anthropic({ apiKey: "sk-ant-test", baseURL: mock.url, maxRetries: 0 });
});
afterAll(() => mock.stop());
beforeEach(() => mock.reset());

const params = (text: string): Anthropic.MessageCreateParamsNonStreaming => ({
  model: "claude-sonnet-4-6",
  max_tokens: 100,
  messages: [{ role: "user", content: text }],
});

describe("Anthropic Files API", () => {
  test("beta.files upload, list, retrieveMetadata, download, delete; OpenAI's /v1/files stays apart", async () => {
    const file = await anthropicFile(Buffer.from("hello, claude"), "notes.txt", { type: "text/plain" });
    const uploaded = await anthropic.beta.files.upload({ file, betas: ["files-api-2025-04-14"] });
    expect(uploaded).toMatchObject({ type: "file", filename: "notes.txt", mime_type: "text/plain", size_bytes: 13 });
    expect(uploaded.id).toStartWith("file_");
    const rec = mock.requests[0];
    expect(rec?.path).toBe("/v1/files");
    expect(rec?.headers["anthropic-beta"]).toBe("files-api-2025-04-14");
    expect(rec?.route).toBe("POST /v1/files");
    expect(mock.store.anthropicFiles.has(uploaded.id)).toBe(true);

    const second = await anthropic.beta.files.upload({ file: await anthropicFile(Buffer.from("2"), "two.txt"), betas: ["files-api-2025-04-14"] });
    const ids: string[] = [];
    for await (const f of anthropic.beta.files.list({ limit: 1, betas: ["files-api-2025-04-14"] })) ids.push(f.id);
    expect(ids).toEqual([second.id, uploaded.id]);
    expect(await anthropic.beta.files.retrieveMetadata(uploaded.id)).toEqual(uploaded);
    expect(await (await anthropic.beta.files.download(uploaded.id)).text()).toBe("hello, claude");
    expect(await anthropic.beta.files.delete(uploaded.id)).toEqual({ id: uploaded.id, type: "file_deleted" });
    const gone = await anthropic.beta.files.retrieveMetadata(uploaded.id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(Anthropic.NotFoundError);

    const openai = new OpenAI({ apiKey: "sk-test", baseURL: mock.baseUrl, maxRetries: 0 });
    expect((await openai.files.list()).data).toEqual([]);
    expect(mock.store.files.size).toBe(0);
  });
});

describe("Anthropic Message Batches and count_tokens", () => {
  test("create, retrieve, list; endMessageBatch answers each request; results() reads the JSONL", async () => {
    const batch = await anthropic.messages.batches.create({
      requests: [
        { custom_id: "a", params: params("one") },
        { custom_id: "b", params: params("two") },
      ],
    });
    expect(batch).toMatchObject({
      type: "message_batch",
      processing_status: "in_progress",
      results_url: null,
      request_counts: { processing: 2, succeeded: 0 },
    });
    expect(batch.id).toStartWith("msgbatch_");
    expect((await anthropic.messages.batches.list()).data.map((b) => b.id)).toEqual([batch.id]);

    mock.set({ usage: { input: 21, output: 4 } });
    mock.endMessageBatch(batch.id);
    const ended = await anthropic.messages.batches.retrieve(batch.id);
    expect(ended).toMatchObject({ processing_status: "ended", request_counts: { processing: 0, succeeded: 2 } });
    expect(ended.results_url).toBe(`${mock.url}/v1/messages/batches/${batch.id}/results`);
    const results: Anthropic.Messages.MessageBatchIndividualResponse[] = [];
    for await (const line of await anthropic.messages.batches.results(batch.id)) results.push(line);
    expect(results.map((r) => r.custom_id)).toEqual(["a", "b"]);
    const first = results[0]?.result;
    expect(first?.type).toBe("succeeded");
    if (first?.type === "succeeded") {
      expect(first.message.content[0]).toMatchObject({ type: "text", text: MOCK_TEXT });
      expect(first.message.usage).toMatchObject({ input_tokens: 21, output_tokens: 4 });
    }
    expect(await anthropic.messages.batches.delete(batch.id)).toEqual({ id: batch.id, type: "message_batch_deleted" });
    expect(mock.billed()).toEqual([]);
  });

  test("cancel answers canceling, then the batch has ended with canceled results; results before the end are 404", async () => {
    const batch = await anthropic.messages.batches.create({ requests: [{ custom_id: "a", params: params("one") }] });
    const early = await fetch(`${mock.url}/v1/messages/batches/${batch.id}/results`, { headers: { "anthropic-version": "2023-06-01" } });
    expect(early.status).toBe(404);
    expect(((await early.json()) as { error: { type: string } }).error.type).toBe("not_found_error");
    const canceling = await anthropic.messages.batches.cancel(batch.id);
    expect(canceling.processing_status).toBe("canceling");
    const ended = await anthropic.messages.batches.retrieve(batch.id);
    expect(ended).toMatchObject({ processing_status: "ended", request_counts: { canceled: 1, processing: 0 } });
    const results = [];
    for await (const line of await anthropic.messages.batches.results(batch.id)) results.push(line.result.type);
    expect(results).toEqual(["canceled"]);
  });

  test("messages.countTokens answers input_tokens (permissive: from the body's size), not billed", async () => {
    mock.set({ usage: { input: 33 } });
    expect(await anthropic.messages.countTokens({ model: "claude-sonnet-4-6", messages: [{ role: "user", content: "hi" }] })).toEqual({ input_tokens: 33 });
    expect(mock.requests[0]?.route).toBe("POST /v1/messages/count_tokens");
    mock.set({ permissive: true });
    const counted = await anthropic.messages.countTokens({ model: "claude-sonnet-4-6", messages: [{ role: "user", content: "hi" }] });
    expect(counted.input_tokens).toBe(Math.ceil((mock.requests[1]?.body.length ?? 0) / 4));
    expect(mock.billed()).toEqual([]);
  });
});

describe("Azure OpenAI deployment paths", () => {
  test("AzureOpenAI chat and embeddings go to /openai/deployments/{deployment}/…; the deployment is recorded", async () => {
    const azure = new AzureOpenAI({ apiKey: "azure-key", endpoint: mock.url, apiVersion: "2024-10-21", deployment: "my-gpt", maxRetries: 0 });
    const completion = await azure.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    expect(completion.choices[0]?.message.content).toBe(MOCK_TEXT);
    const rec = mock.requests[0];
    expect(rec?.path).toBe("/openai/deployments/my-gpt/chat/completions");
    expect(rec?.query).toEqual({ "api-version": "2024-10-21" });
    expect(rec?.headers["api-key"]).toBe("azure-key");
    expect(rec?.deployment).toBe("my-gpt");
    expect(rec?.route).toBe("POST /v1/chat/completions");
    const embedded = await azure.embeddings.create({ model: "text-embedding-3-small", input: "a" });
    expect(embedded.data).toHaveLength(1);
    expect(mock.requests[1]?.path).toBe("/openai/deployments/my-gpt/embeddings");
    expect(mock.billed().map((b) => [b.path, b.model])).toEqual([
      ["/openai/deployments/my-gpt/chat/completions", "gpt-4o"],
      ["/openai/deployments/my-gpt/embeddings", "text-embedding-3-small"],
    ]);
  });

  test("a base URL ending in /deployments/{d} (no /openai): the model defaults to the deployment; permissive caps apply", async () => {
    mock.set({ permissive: true });
    const azure = new AzureOpenAI({ apiKey: "azure-key", baseURL: `${mock.url}/deployments/dep-2`, apiVersion: "2024-10-21", maxRetries: 0 });
    const completion = await azure.chat.completions.create({
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 12,
    } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(completion.usage?.completion_tokens).toBe(12);
    expect(completion.model).toBe("dep-2");
    expect(mock.requests[0]?.path).toBe("/deployments/dep-2/chat/completions");
    expect(mock.billed()[0]).toMatchObject({ path: "/deployments/dep-2/chat/completions", model: "dep-2", output: 12 });
    const transcript = await azure.audio.transcriptions.create({ file: await toFile(Buffer.from("x"), "a.wav"), model: "whisper-1" });
    expect(transcript.text).toBe(MOCK_TEXT);
    expect(mock.requests[1]?.path).toBe("/deployments/dep-2/audio/transcriptions");
  });
});

describe("compressed request bodies", () => {
  const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi ".repeat(200) }] });
  const send = (bytes: Uint8Array, encoding: string) =>
    fetch(`${mock.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": encoding },
      body: Uint8Array.from(bytes),
    });

  test("gzip, deflate (zlib or raw) and br bodies are decoded before parsing; the encoding and wire size are recorded", async () => {
    const encoded: [string, Uint8Array][] = [
      ["gzip", Bun.gzipSync(body)],
      ["deflate", deflateSync(body)],
      ["deflate", deflateRawSync(body)],
      ["br", brotliCompressSync(body)],
    ];
    for (const [encoding, bytes] of encoded) expect((await send(bytes, encoding)).status).toBe(200);
    for (const [i, rec] of mock.requests.entries()) {
      expect(rec.contentEncoding).toBe(encoded[i]?.[0]);
      expect(rec.bodyBytes).toBe(encoded[i]?.[1].byteLength ?? -1);
      expect(rec.body).toBe(body);
      expect(rec.json?.model).toBe("gpt-4o-mini");
    }
    expect(mock.requests[0]?.bodyBytes).toBeLessThan(body.length);
  });

  test("a corrupt body is a 400, an unknown encoding a 415; a plain body records no encoding", async () => {
    expect((await send(new TextEncoder().encode(body), "gzip")).status).toBe(400);
    expect((await send(new TextEncoder().encode(body), "snappy")).status).toBe(415);
    expect(mock.billed()).toEqual([]);
    await fetch(`${mock.baseUrl}/chat/completions`, { method: "POST", body });
    expect(mock.requests[2]?.contentEncoding).toBeUndefined();
    expect(mock.requests[2]?.bodyBytes).toBe(body.length);
  });

  test("permissive input counts the decoded body", async () => {
    mock.set({ permissive: true });
    const answer = (await (await send(Bun.gzipSync(body), "gzip")).json()) as { usage: { prompt_tokens: number } };
    expect(answer.usage.prompt_tokens).toBe(Math.ceil(body.length / 4));
  });
});
