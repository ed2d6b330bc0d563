/**
 * Proves the mock provider's OpenAI stored objects (files, batches, stored
 * responses, vector stores, uploads) and media endpoints (audio, images,
 * moderations, legacy completions, realtime client secrets) satisfy the
 * official `openai` SDK, pointed at the mock directly (no keyward).
 */
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { MOCK_TEXT, startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";

let mock: MockProvider;
let openai: OpenAI;

beforeAll(async () => {
  mock = await startMockProvider();
  openai = new OpenAI({ apiKey: "sk-test-openai", baseURL: mock.baseUrl, maxRetries: 0 });
});
afterAll(() => mock.stop());
beforeEach(() => mock.reset());

const jsonl = (...lines: object[]): string => lines.map((line) => `${JSON.stringify(line)}\n`).join("");
const chatLine = (custom_id: string): object => ({
  custom_id,
  method: "POST",
  url: "/v1/chat/completions",
  body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] },
});
const upload = async (text: string, purpose: "batch" | "assistants" = "batch") =>
  openai.files.create({ file: await toFile(Buffer.from(text), "input.jsonl", { type: "application/jsonl" }), purpose });

describe("files", () => {
  test("create (multipart), retrieve, list, content, delete; the bytes are kept", async () => {
    const text = jsonl(chatLine("a"));
    const file = await upload(text);
    expect(file).toMatchObject({ object: "file", filename: "input.jsonl", purpose: "batch", bytes: text.length, status: "processed" });
    expect(file.id).toStartWith("file-");
    const rec = mock.requests[0];
    expect(rec?.headers["content-type"]).toStartWith("multipart/form-data");
    expect(rec?.form?.purpose).toBe("batch");
    expect(new TextDecoder().decode(mock.store.files.get(file.id)?.bytes)).toBe(text);
    expect(await openai.files.retrieve(file.id)).toEqual(file);
    expect(await (await openai.files.content(file.id)).text()).toBe(text);

    const second = await upload("{}\n", "assistants");
    const page = await openai.files.list({ limit: 1 });
    expect(page.data.map((f) => f.id)).toEqual([second.id]); // newest first
    expect(page.has_more).toBe(true);
    const all: string[] = [];
    for await (const f of openai.files.list({ limit: 1 })) all.push(f.id);
    expect(all).toEqual([second.id, file.id]);
    expect((await openai.files.list({ purpose: "batch" })).data.map((f) => f.id)).toEqual([file.id]);

    expect(await openai.files.delete(file.id)).toEqual({ id: file.id, object: "file", deleted: true });
    const gone = await openai.files.retrieve(file.id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(OpenAI.NotFoundError);
    expect(mock.billed()).toEqual([]);
  });

  test("reset clears the store", async () => {
    const file = await upload("x");
    mock.reset();
    expect(mock.store.files.size).toBe(0);
    expect(await openai.files.retrieve(file.id).catch((e: unknown) => (e as InstanceType<typeof OpenAI.APIError>).status)).toBe(404);
  });
});

describe("batches", () => {
  test("create, retrieve, list; completeBatch answers each input line and sums the usage", async () => {
    const input = await upload(jsonl(chatLine("a"), chatLine("b")));
    const batch = await openai.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    expect(batch).toMatchObject({ object: "batch", status: "validating", input_file_id: input.id, request_counts: { total: 2, completed: 0, failed: 0 } });
    expect(batch.id).toStartWith("batch_");
    expect((await openai.batches.list()).data.map((b) => b.id)).toEqual([batch.id]);

    mock.set({ usage: { input: 5, output: 3 } });
    mock.completeBatch(batch.id);
    const done = await openai.batches.retrieve(batch.id);
    expect(done).toMatchObject({
      status: "completed",
      request_counts: { total: 2, completed: 2, failed: 0 },
      usage: { input_tokens: 10, output_tokens: 6, total_tokens: 16 },
    });
    const lines = (await (await openai.files.content(done.output_file_id ?? "")).text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { custom_id: string; response: { status_code: number; body: OpenAI.ChatCompletion } });
    expect(lines.map((l) => [l.custom_id, l.response.status_code, l.response.body.usage?.prompt_tokens])).toEqual([
      ["a", 200, 5],
      ["b", 200, 5],
    ]);
    expect(lines[0]?.response.body.choices[0]?.message.content).toBe(MOCK_TEXT);
    expect(mock.requests.map((r) => r.path)).toEqual([
      "/v1/files",
      "/v1/batches",
      "/v1/batches",
      `/v1/batches/${batch.id}`,
      `/v1/files/${done.output_file_id}/content`,
    ]);
  });

  test("completeBatch with given lines; cancel answers cancelling, then the batch is cancelled", async () => {
    const input = await upload(jsonl(chatLine("a")));
    const first = await openai.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const line = { id: "batch_req_1", custom_id: "a", response: { status_code: 500, body: { error: { message: "boom" } } }, error: null };
    const completed = mock.completeBatch(first.id, [line]);
    expect(completed).toMatchObject({ request_counts: { total: 1, completed: 0, failed: 1 } });
    expect(await (await openai.files.content(typeof completed.output_file_id === "string" ? completed.output_file_id : "")).text()).toBe(
      `${JSON.stringify(line)}\n`,
    );

    const second = await openai.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    expect((await openai.batches.cancel(second.id)).status).toBe("cancelling");
    expect((await openai.batches.retrieve(second.id)).status).toBe("cancelled");
    const again = await openai.batches.cancel(first.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(OpenAI.APIError);
    const missing = await openai.batches
      .create({ input_file_id: "file-nope", endpoint: "/v1/chat/completions", completion_window: "24h" })
      .catch((e: unknown) => e);
    expect((missing as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
  });
});

describe("stored responses", () => {
  test("retrieve, inputItems, delete a stored response; store:false and deleted ids are 404", async () => {
    mock.set({ usage: { input: 30, output: 10 } });
    const created = await openai.responses.create({ model: "gpt-4o-mini", input: "hi there" });
    const read = await openai.responses.retrieve(created.id);
    expect(read.id).toBe(created.id);
    expect(read.output_text).toBe(MOCK_TEXT);
    expect(read.usage?.total_tokens).toBe(40);
    const items = await openai.responses.inputItems.list(created.id);
    expect(items.data).toHaveLength(1);
    expect(items.data[0]).toMatchObject({ type: "message", role: "user", content: [{ type: "input_text", text: "hi there" }] });
    await openai.responses.delete(created.id);
    const gone = await openai.responses.retrieve(created.id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(OpenAI.NotFoundError);
    expect((gone as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({ message: `Response with id '${created.id}' not found.` });

    const unstored = await openai.responses.create({ model: "gpt-4o-mini", input: "hi", store: false });
    expect(mock.store.responses.has(unstored.id)).toBe(false);
    expect(await openai.responses.retrieve(unstored.id).catch((e: unknown) => (e as InstanceType<typeof OpenAI.APIError>).status)).toBe(404);
    expect(mock.billed()).toHaveLength(2); // the two creations, not the reads
  });

  test("a streamed response is stored as it completed", async () => {
    const final = await openai.responses.stream({ model: "gpt-4o-mini", input: "hi" }).finalResponse();
    expect((await openai.responses.retrieve(final.id)).usage).toEqual(final.usage);
  });

  test("background: queued until completeResponse, cancel turns a queued one cancelled; cancel needs background", async () => {
    const queued = await openai.responses.create({ model: "gpt-4o-mini", input: "hi", background: true });
    expect(queued).toMatchObject({ status: "queued", background: true, usage: null });
    expect((await openai.responses.retrieve(queued.id)).status).toBe("queued");
    mock.completeResponse(queued.id);
    const done = await openai.responses.retrieve(queued.id);
    expect(done.status).toBe("completed");
    expect(done.usage?.output_tokens).toBe(7);

    const other = await openai.responses.create({ model: "gpt-4o-mini", input: "hi", background: true });
    expect((await openai.responses.cancel(other.id)).status).toBe("cancelled");
    const plain = await openai.responses.create({ model: "gpt-4o-mini", input: "hi" });
    expect(await openai.responses.cancel(plain.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.BadRequestError);
    expect(mock.billed().map((b) => b.usageSent)).toEqual([false, false, true]);
  });

  test("an id the mock never issued: a made-up response by default, 404 with strictStore", async () => {
    expect((await openai.responses.retrieve("resp_elsewhere")).status).toBe("completed");
    expect(await openai.responses.inputItems.list("resp_elsewhere").catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    mock.set({ strictStore: true });
    expect(await openai.responses.retrieve("resp_elsewhere").catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe("vector stores and uploads", () => {
  test("vectorStores create, list, retrieve, update, delete", async () => {
    const file = await upload("abc", "assistants");
    const store = await openai.vectorStores.create({ name: "docs", file_ids: [file.id] });
    expect(store).toMatchObject({ object: "vector_store", name: "docs", status: "completed", usage_bytes: 3, file_counts: { completed: 1, total: 1 } });
    expect(store.id).toStartWith("vs_");
    const listed: string[] = [];
    for await (const vs of openai.vectorStores.list()) listed.push(vs.id);
    expect(listed).toEqual([store.id]);
    expect((await openai.vectorStores.update(store.id, { name: "renamed" })).name).toBe("renamed");
    expect((await openai.vectorStores.retrieve(store.id)).name).toBe("renamed");
    expect(await openai.vectorStores.delete(store.id)).toEqual({ id: store.id, object: "vector_store.deleted", deleted: true });
    expect(await openai.vectorStores.retrieve(store.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
  });

  test("uploads: create, parts (multipart), complete gives a file with the parts' bytes; cancel", async () => {
    const created = await openai.uploads.create({ bytes: 6, filename: "big.jsonl", mime_type: "application/jsonl", purpose: "batch" });
    expect(created).toMatchObject({ object: "upload", status: "pending", bytes: 6 });
    const a = await openai.uploads.parts.create(created.id, { data: await toFile(Buffer.from("abc"), "part") });
    const b = await openai.uploads.parts.create(created.id, { data: await toFile(Buffer.from("def"), "part") });
    expect(a).toMatchObject({ object: "upload.part", upload_id: created.id });
    const done = await openai.uploads.complete(created.id, { part_ids: [b.id, a.id] });
    expect(done.status).toBe("completed");
    expect(done.file?.filename).toBe("big.jsonl");
    expect(await (await openai.files.content(done.file?.id ?? "")).text()).toBe("defabc");

    const other = await openai.uploads.create({ bytes: 1, filename: "x", mime_type: "text/plain", purpose: "assistants" });
    expect((await openai.uploads.cancel(other.id)).status).toBe("cancelled");
    const short = await openai.uploads.create({ bytes: 9, filename: "x", mime_type: "text/plain", purpose: "assistants" });
    const part = await openai.uploads.parts.create(short.id, { data: await toFile(Buffer.from("abc"), "part") });
    expect(await openai.uploads.complete(short.id, { part_ids: [part.id] }).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.BadRequestError);
  });
});

describe("audio", () => {
  const audio = async () => toFile(Buffer.from("RIFF fake audio"), "speech.wav", { type: "audio/wav" });

  test("transcriptions: token usage for gpt-4o-transcribe, duration for whisper-1; the file reaches the mock intact", async () => {
    mock.set({ usage: { input: 50, output: 12 }, audioSeconds: 4 });
    const tokens = await openai.audio.transcriptions.create({ file: await audio(), model: "gpt-4o-transcribe" });
    expect(tokens.text).toBe(MOCK_TEXT);
    expect(tokens.usage).toMatchObject({ type: "tokens", input_tokens: 50, output_tokens: 12, total_tokens: 62 });
    const form = mock.requests[0]?.form;
    expect(form?.model).toBe("gpt-4o-transcribe");
    expect(form?.file).toMatchObject({ filename: "speech.wav", type: "audio/wav" });
    expect(new TextDecoder().decode(typeof form?.file === "object" ? form.file.bytes : undefined)).toBe("RIFF fake audio");

    const whisper = await openai.audio.transcriptions.create({ file: await audio(), model: "whisper-1" });
    expect(whisper.usage).toEqual({ type: "duration", seconds: 4 });
    const text = await openai.audio.transcriptions.create({ file: await audio(), model: "whisper-1", response_format: "text" });
    expect(text).toBe(`${MOCK_TEXT}\n`);
    const translated = await openai.audio.translations.create({ file: await audio(), model: "whisper-1" });
    expect(translated.text).toBe(MOCK_TEXT);
    expect(mock.billed().map((b) => [b.model, b.input, b.output, b.seconds, b.usageSent])).toEqual([
      ["gpt-4o-transcribe", 50, 12, undefined, true],
      ["whisper-1", 0, 0, 4, true],
      ["whisper-1", 0, 0, 4, false],
      ["whisper-1", 0, 0, 4, true],
    ]);
  });

  test("a streamed transcription ends with transcript.text.done carrying the usage", async () => {
    const stream = await openai.audio.transcriptions.create({ file: await audio(), model: "gpt-4o-mini-transcribe", stream: true });
    let text = "";
    let usage: unknown;
    for await (const event of stream) {
      if (event.type === "transcript.text.delta") text += event.delta;
      if (event.type === "transcript.text.done") usage = event.usage;
    }
    expect(text).toBe(MOCK_TEXT);
    expect(usage).toMatchObject({ type: "tokens", input_tokens: 11, output_tokens: 7 });
  });

  test("speech returns audio bytes; billed by characters", async () => {
    const response = await openai.audio.speech.create({ model: "gpt-4o-mini-tts", voice: "alloy", input: "Hello there" });
    expect(response.headers.get("content-type")).toBe("audio/mpeg");
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect(new TextDecoder().decode(bytes.slice(0, 3))).toBe("ID3");
    expect(mock.billed()).toMatchObject([{ model: "gpt-4o-mini-tts", characters: 11, usageSent: false }]);
  });
});

describe("images, moderations, completions, realtime", () => {
  test("images.generate: b64_json with usage for gpt-image-1; a URL and no usage for dall-e-2", async () => {
    mock.set({ usage: { input: 25, output: 1_056 } });
    const image = await openai.images.generate({ model: "gpt-image-1", prompt: "a cat", n: 2 });
    expect(image.data?.map((d) => d.b64_json?.slice(0, 10))).toEqual(["iVBORw0KGg", "iVBORw0KGg"]);
    expect(image.usage).toMatchObject({
      input_tokens: 25,
      output_tokens: 1_056,
      total_tokens: 1_081,
      input_tokens_details: { text_tokens: 25, image_tokens: 0 },
    });
    const dalle = await openai.images.generate({ model: "dall-e-2", prompt: "a cat" });
    expect(dalle.data?.[0]?.url).toStartWith(mock.url);
    expect(dalle.usage).toBeUndefined();
    const edit = await openai.images.edit({
      model: "gpt-image-1",
      prompt: "add a hat",
      image: await toFile(Buffer.from("png"), "cat.png", { type: "image/png" }),
    });
    expect(edit.usage?.output_tokens).toBe(1_056);
    expect(mock.requests[2]?.form?.prompt).toBe("add a hat");
    expect(mock.billed().map((b) => [b.model, b.images, b.output])).toEqual([
      ["gpt-image-1", 2, 1_056],
      ["dall-e-2", 1, 0],
      ["gpt-image-1", 1, 1_056],
    ]);
  });

  test("moderations: one unflagged result per input, not billed", async () => {
    const moderation = await openai.moderations.create({ model: "omni-moderation-latest", input: ["a", "b"] });
    expect(moderation.results).toHaveLength(2);
    expect(moderation.results[0]?.flagged).toBe(false);
    expect(moderation.results[0]?.categories.violence).toBe(false);
    expect(mock.billed()).toEqual([]);
  });

  test("legacy completions, JSON and streamed with a usage chunk", async () => {
    const completion = await openai.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Say hi" });
    expect(completion.choices[0]?.text).toBe(MOCK_TEXT);
    expect(completion.usage).toEqual({ prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 });
    const stream = await openai.completions.create({
      model: "gpt-3.5-turbo-instruct",
      prompt: "Say hi",
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? "";
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(MOCK_TEXT);
    expect(usage?.total_tokens).toBe(18);
    mock.set({ permissive: true });
    const capped = await openai.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Say hi", max_tokens: 9, n: 2 });
    expect(capped.usage?.completion_tokens).toBe(18);
    expect(mock.billed().map((b) => [b.output, b.choices])).toEqual([
      [7, 1],
      [7, 1],
      [18, 2],
    ]);
  });

  test("realtime client secrets: an ephemeral key", async () => {
    const secret = await openai.realtime.clientSecrets.create({ session: { type: "realtime", model: "gpt-realtime" } });
    expect(secret.value).toStartWith("ek_");
    expect(secret.expires_at).toBeGreaterThan(Date.now() / 1000);
    expect(secret.session).toMatchObject({ type: "realtime", model: "gpt-realtime" });
    expect(mock.billed()).toEqual([]);
  });
});
