/**
 * OpenAI's other generation endpoints: audio, images, moderations, legacy
 * completions and realtime client secrets. Part of test/helpers/mock-provider.ts.
 *
 * - `POST /v1/audio/transcriptions`, `/v1/audio/translations`  multipart (`file`, `model`,
 *   `response_format`, `stream`): `{text, usage}`; whisper-1 reports `{type: "duration", seconds}`
 *   (`audioSeconds`), other models `{type: "tokens", input_tokens, output_tokens, total_tokens}`;
 *   `text`/`srt`/`vtt` answer plain text; `stream=true` (not whisper-1) answers
 *   `transcript.text.delta` events and a `transcript.text.done` carrying the usage
 * - `POST /v1/audio/speech`          JSON in, bytes out (`audio/mpeg` for mp3); `stream_format: "sse"`
 *                                    answers `speech.audio.delta` events and a `speech.audio.done` with usage
 * - `POST /v1/images/generations`    JSON; `data: [{b64_json}]` (dall-e: `url` unless `b64_json` asked),
 *                                    `usage` for gpt-image-* models; `POST /v1/images/edits` the same, multipart
 * - `POST /v1/moderations`           nothing flagged (not billed)
 * - `POST /v1/completions`           legacy completions, JSON or SSE, like chat (caps: `max_tokens`, `n`)
 * - `POST /v1/realtime/client_secrets`  `{value: "ek_…", expires_at, session}` (not billed)
 */
import { isObject, lenientInt, stringField, type JsonObject, type JsonValue } from "./mock-json.ts";
import { formFile, formText } from "./mock-stored-objects.ts";
import { dataEvent, json, namedEvent, openaiError, route, slices, type BillPatch, type Ctx, type RouteResult, type RouteSpec } from "./mock-types.ts";

const missing = (name: string): RouteResult => openaiError(400, `Missing required parameter: '${name}'.`, name);

/** `usage` of token-billed audio and image answers. */
function tokens(ctx: Ctx, details: JsonObject): JsonObject {
  const { input, output } = ctx.b.usage;
  return { input_tokens: input, output_tokens: output, total_tokens: input + output, ...details };
}

// ---------- audio ----------

function transcribe(ctx: Ctx): RouteResult {
  const { b } = ctx;
  const translate = ctx.rec.route?.endsWith("/translations") === true;
  if (!formFile(ctx, "file")) return missing("file");
  // An Azure deployment path names its model by the deployment.
  const model = formText(ctx, "model") ?? ctx.rec.deployment;
  if (model === undefined) return missing("model");
  const whisper = model === "whisper-1";
  if (translate && !whisper) return openaiError(400, `Model '${model}' is not supported for translations.`, "model");
  const format = formText(ctx, "response_format") ?? "json";
  const usage: JsonObject = whisper
    ? { type: "duration", seconds: b.audioSeconds }
    : { type: "tokens", ...tokens(ctx, { input_token_details: { text_tokens: 0, audio_tokens: b.usage.input } }) };
  const bill: BillPatch = whisper ? { model, input: 0, output: 0, cached: 0, seconds: b.audioSeconds } : { model, cached: 0 };
  const withUsage: JsonObject = b.omitUsage ? {} : { usage };
  if (formText(ctx, "stream") === "true" && !whisper && !translate) {
    const events = [
      ...slices(b.text, b.chunks).map((delta) => dataEvent({ type: "transcript.text.delta", delta })),
      dataEvent({ type: "transcript.text.done", text: b.text, ...withUsage }),
    ];
    return { kind: "sse", events, usageAt: b.omitUsage ? events.length : events.length - 1, billable: true, bill };
  }
  if (format === "text" || format === "srt" || format === "vtt") {
    const text =
      format === "text" ? `${b.text}\n` : `${format === "vtt" ? "WEBVTT\n\n" : "1\n"}00:00:00.000 --> 00:00:0${Math.min(b.audioSeconds, 9)}.000\n${b.text}\n`;
    return {
      kind: "bytes",
      status: 200,
      body: new TextEncoder().encode(text),
      contentType: "text/plain; charset=utf-8",
      billable: true,
      bill,
      withoutUsage: true,
    };
  }
  const verbose: JsonObject =
    format === "verbose_json" ? { task: translate ? "translate" : "transcribe", language: "english", duration: b.audioSeconds, segments: [] } : {};
  return json({ ...verbose, text: b.text, ...withUsage }, 200, { billable: true, bill });
}

const AUDIO_TYPES: Record<string, string> = { mp3: "audio/mpeg", opus: "audio/opus", aac: "audio/aac", flac: "audio/flac", wav: "audio/wav", pcm: "audio/pcm" };

/** Some bytes that start like the format they claim to be (an ID3 tag for mp3, RIFF for wav). */
function fakeAudio(format: string): Uint8Array {
  const bytes = new Uint8Array(1_024);
  const head = format === "wav" ? [0x52, 0x49, 0x46, 0x46] : format === "mp3" ? [0x49, 0x44, 0x33, 0x04] : [];
  bytes.set(head);
  return bytes;
}

function speech(ctx: Ctx): RouteResult {
  const { b } = ctx;
  const input = stringField(ctx.json, "input");
  const model = stringField(ctx.json, "model") ?? ctx.rec.deployment;
  if (model === undefined) return missing("model");
  if (input === undefined) return missing("input");
  if (stringField(ctx.json, "voice") === undefined) return missing("voice");
  const format = stringField(ctx.json, "response_format") ?? "mp3";
  const bill: BillPatch = { model, characters: input.length, cached: 0 };
  const audio = fakeAudio(format);
  if (stringField(ctx.json, "stream_format") === "sse") {
    const pieces = slices(Buffer.from(audio).toString("base64"), b.chunks).filter((piece) => piece !== "");
    const usage = { input_tokens: b.usage.input, output_tokens: b.usage.output, total_tokens: b.usage.input + b.usage.output };
    const events = [
      ...pieces.map((piece) => namedEvent("speech.audio.delta", { type: "speech.audio.delta", audio: piece })),
      namedEvent("speech.audio.done", { type: "speech.audio.done", ...(b.omitUsage ? {} : { usage }) }),
    ];
    return { kind: "sse", events, usageAt: b.omitUsage ? events.length : events.length - 1, billable: true, bill };
  }
  return { kind: "bytes", status: 200, body: audio, contentType: AUDIO_TYPES[format] ?? "application/octet-stream", billable: true, bill, withoutUsage: true };
}

// ---------- images ----------

/** A 1×1 PNG. */
const PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

/** Generations (JSON) and edits (multipart) answer alike. */
function images(ctx: Ctx): RouteResult {
  const { b } = ctx;
  const field = (name: string): string | undefined => (ctx.form ? formText(ctx, name) : stringField(ctx.json, name));
  const edit = ctx.form !== undefined;
  if (field("prompt") === undefined) return missing("prompt");
  if (edit && !formFile(ctx, "image") && !formFile(ctx, "image[]")) return missing("image");
  const model = field("model") ?? (edit ? "gpt-image-1" : "dall-e-2");
  const n = Math.max(lenientInt(ctx.form ? field("n") : ctx.json?.n) ?? 1, 1);
  const tokenBilled = model.startsWith("gpt-image");
  const asUrl = !tokenBilled && field("response_format") !== "b64_json";
  const data = Array.from({ length: n }, (_, i): JsonObject => {
    if (asUrl) return { url: `${ctx.origin}/mock-images/${ctx.seq}-${i}.png` };
    return model === "dall-e-3" ? { b64_json: PNG_1X1, revised_prompt: field("prompt") ?? "" } : { b64_json: PNG_1X1 };
  });
  const body: JsonObject = { created: ctx.created, data };
  if (tokenBilled) {
    Object.assign(body, { background: "opaque", output_format: "png", quality: field("quality") ?? "medium", size: field("size") ?? "1024x1024" });
    if (!b.omitUsage) body.usage = tokens(ctx, { input_tokens_details: { text_tokens: b.usage.input, image_tokens: 0 } });
  }
  const bill: BillPatch = tokenBilled ? { model, images: n, choices: n, cached: 0 } : { model, images: n, choices: n, input: 0, output: 0, cached: 0 };
  return json(body, 200, { billable: true, bill, withoutUsage: !tokenBilled });
}

// ---------- moderations, completions, realtime ----------

const CATEGORIES = [
  "harassment",
  "harassment/threatening",
  "hate",
  "hate/threatening",
  "illicit",
  "illicit/violent",
  "self-harm",
  "self-harm/instructions",
  "self-harm/intent",
  "sexual",
  "sexual/minors",
  "violence",
  "violence/graphic",
];

function moderations(ctx: Ctx): RouteResult {
  const input = ctx.json?.input;
  if (input === undefined) return missing("input");
  const count = Array.isArray(input) && input.every((x) => typeof x === "string") ? input.length : 1;
  const each = (value: JsonValue): JsonObject => Object.fromEntries(CATEGORIES.map((c) => [c, value]));
  const result = { flagged: false, categories: each(false), category_scores: each(0.000_01), category_applied_input_types: each(["text"]) };
  return json({ id: `modr-mock${ctx.seq}`, model: ctx.model ?? "omni-moderation-latest", results: Array.from({ length: count }, () => result) });
}

function completions(ctx: Ctx): RouteResult {
  const { b } = ctx;
  const model = ctx.model ?? "gpt-3.5-turbo-instruct";
  const usage = { prompt_tokens: b.usage.input, completion_tokens: b.usage.output, total_tokens: b.usage.input + b.usage.output };
  const base = { id: `cmpl-mock${ctx.seq}`, object: "text_completion", created: ctx.created, model, system_fingerprint: "fp_mock" };
  const choice = (text: string, index: number, finish: string | null): JsonObject => ({ text, index, logprobs: null, finish_reason: finish });
  if (!ctx.stream) {
    const choices = Array.from({ length: ctx.choices }, (_, i) => choice(b.text, i, "stop"));
    return json({ ...base, choices, ...(b.omitUsage ? {} : { usage }) }, 200, { billable: true, bill: { model } });
  }
  const includeUsage = ctx.includeUsage && !b.omitUsage;
  const events = [
    ...slices(b.text, b.chunks).map((text) => dataEvent({ ...base, choices: [choice(text, 0, null)] })),
    dataEvent({ ...base, choices: [choice("", 0, "stop")] }),
  ];
  const usageAt = includeUsage ? events.length : events.length + 1;
  if (includeUsage) events.push(dataEvent({ ...base, choices: [], usage }));
  events.push(dataEvent("[DONE]"));
  return { kind: "sse", events, usageAt, billable: true, bill: { model } };
}

function clientSecret(ctx: Ctx): RouteResult {
  const asked = isObject(ctx.json?.session) ? ctx.json.session : {};
  const after = ctx.json?.expires_after;
  const seconds = (isObject(after) ? lenientInt(after.seconds) : undefined) ?? 600;
  const expiresAt = ctx.created + seconds;
  return json({
    value: ctx.store.newId("ek_"),
    expires_at: expiresAt,
    session: {
      type: "realtime",
      object: "realtime.session",
      id: ctx.store.newId("sess_"),
      model: typeof asked.model === "string" ? asked.model : "gpt-realtime",
      output_modalities: ["audio"],
      instructions: typeof asked.instructions === "string" ? asked.instructions : "",
      tools: [],
      tool_choice: "auto",
      max_output_tokens: "inf",
      tracing: null,
      truncation: "auto",
      prompt: null,
      expires_at: expiresAt,
      include: null,
    },
  });
}

const openai = (template: string, handle: (ctx: Ctx) => RouteResult, extra: Partial<RouteSpec> = { configuredUsage: true }): RouteSpec =>
  route("POST", template, "openai", handle, extra);

export const MEDIA_ROUTES: RouteSpec[] = [
  openai("/v1/audio/transcriptions", transcribe),
  openai("/v1/audio/translations", transcribe),
  openai("/v1/audio/speech", speech),
  openai("/v1/images/generations", images),
  openai("/v1/images/edits", images),
  openai("/v1/moderations", moderations),
  openai("/v1/completions", completions, { caps: "completions" }),
  openai("/v1/realtime/client_secrets", clientSecret),
];
