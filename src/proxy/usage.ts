import type { Usage } from "../limits/gate.ts";

/** What metering a response body learned, for the charge. */
export interface MeterResult {
  usage?: Partial<Usage>;
  /** `data:` events that carried content, the fallback output estimate for an aborted stream. */
  contentEvents: number;
  /** The client went away before the body ended. */
  aborted: boolean;
  /** The upstream body failed mid-way. */
  failed: boolean;
  /** The stored object a streamed answer created (a stored response's id), when one was announced. */
  objectId?: string;
  bytes: number;
}

const decoder = new TextDecoder();

type Json = Record<string, unknown>;

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);
const obj = (v: unknown): Json | undefined => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined);

/**
 * Reads token usage from any of the response shapes keyward forwards:
 * OpenAI chat/completions/embeddings (`prompt_tokens`…), the Responses API
 * (`input_tokens`, also nested in `response` for stream events) and
 * Anthropic (`input_tokens` + cache fields, nested in `message` for
 * `message_start`). Returns only the fields present, so stream events can be
 * merged (Anthropic sends input in `message_start`, output in `message_delta`).
 */
export function usageFrom(payload: Json): Partial<Usage> | undefined {
  const gemini = obj(payload.usageMetadata);
  if (gemini) return geminiUsage(gemini);
  const usage = obj(payload.usage) ?? obj(obj(payload.response)?.usage) ?? obj(obj(payload.message)?.usage);
  if (!usage) return undefined;
  const out: Partial<Usage> = {};
  const prompt = num(usage.prompt_tokens);
  if (prompt !== undefined) {
    out.inputTokens = prompt;
    out.cachedTokens = num(obj(usage.prompt_tokens_details)?.cached_tokens) ?? 0;
    const completion = num(usage.completion_tokens);
    out.outputTokens = completion ?? 0;
    return out;
  }
  const input = num(usage.input_tokens);
  const cacheRead = num(usage.cache_read_input_tokens);
  const cacheWrite = num(usage.cache_creation_input_tokens);
  if (cacheRead !== undefined || cacheWrite !== undefined) {
    // Anthropic: input_tokens excludes cache reads and writes.
    out.inputTokens = (input ?? 0) + (cacheRead ?? 0) + (cacheWrite ?? 0);
    out.cachedTokens = cacheRead ?? 0;
    out.cacheWriteTokens = cacheWrite ?? 0;
    // Writes kept for an hour cost more than those kept for 5 minutes; the split is priced as reported.
    const lifetimes = obj(usage.cache_creation);
    const hour = num(lifetimes?.ephemeral_1h_input_tokens);
    const fiveMinutes = num(lifetimes?.ephemeral_5m_input_tokens);
    if (hour !== undefined) out.cacheWrite1hTokens = hour;
    if (fiveMinutes !== undefined) out.cacheWrite5mTokens = fiveMinutes;
  } else if (input !== undefined) {
    out.inputTokens = input;
    const cached = num(obj(usage.input_tokens_details)?.cached_tokens);
    if (cached !== undefined) out.cachedTokens = cached;
  }
  const output = num(usage.output_tokens);
  if (output !== undefined) out.outputTokens = output;
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Gemini's `usageMetadata`: the prompt (with what tools added to it) is the
 * input, the candidates and the model's thoughts are the output, both billed.
 * Streamed chunks carry running totals, so the last one counts.
 */
function geminiUsage(meta: Json): Partial<Usage> {
  const prompt = num(meta.promptTokenCount);
  const candidates = num(meta.candidatesTokenCount);
  const thoughts = num(meta.thoughtsTokenCount) ?? 0;
  const out: Partial<Usage> = {};
  if (prompt !== undefined) out.inputTokens = prompt + (num(meta.toolUsePromptTokenCount) ?? 0);
  if (candidates !== undefined || prompt !== undefined) out.outputTokens = (candidates ?? 0) + thoughts;
  const cached = num(meta.cachedContentTokenCount);
  if (cached !== undefined) out.cachedTokens = cached;
  return out;
}

export function completeUsage(partial: Partial<Usage>): Usage {
  return {
    ...partial,
    inputTokens: partial.inputTokens ?? 0,
    outputTokens: partial.outputTokens ?? 0,
    cachedTokens: partial.cachedTokens ?? 0,
    cacheWriteTokens: partial.cacheWriteTokens ?? 0,
  };
}

/**
 * The provider's own final count, when a body that ended normally carried
 * one (input and output both reported); undefined for a body cut short, whose
 * counts so far are provisional (Anthropic's `message_start` says one output
 * token), or one without usage.
 */
export function finalUsage(result: MeterResult): Usage | undefined {
  if (result.aborted || result.failed) return undefined;
  const reported = result.usage;
  if (reported?.inputTokens === undefined || reported.outputTokens === undefined) return undefined;
  return completeUsage(reported);
}

/**
 * Usage to charge: what the provider reported, completed by estimates for
 * what it did not (an aborted stream ends before its final usage event):
 * input ≈ prompt bytes / 4, output ≈ one token per content delta event.
 * For an aborted stream the output is at least the deltas seen, since
 * Anthropic's `message_start` reports a provisional `output_tokens: 1`.
 */
export function chargedUsage(result: MeterResult, promptBytes: number): Usage | undefined {
  const reported = result.usage;
  if (!result.aborted && reported?.inputTokens !== undefined && reported.outputTokens !== undefined) {
    return completeUsage(reported);
  }
  if (!result.aborted && reported === undefined && result.contentEvents === 0) return undefined;
  return completeUsage({
    ...reported,
    inputTokens: reported?.inputTokens ?? Math.ceil(promptBytes / 4),
    outputTokens: Math.max(reported?.outputTokens ?? 0, result.contentEvents),
  });
}

/** Usage of a plain JSON answer, if it reports any. */
export function usageOfJson(bytes: Uint8Array): Usage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
  if (Array.isArray(parsed)) return lastUsageIn(parsed);
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const usage = usageFrom(parsed as Record<string, unknown>);
  return usage ? completeUsage(usage) : undefined;
}

/** Gemini's streamGenerateContent without `alt=sse` answers one array of chunks; their counts are running totals, so the last one counts. */
function lastUsageIn(chunks: unknown[]): Usage | undefined {
  for (let i = chunks.length - 1; i >= 0; i--) {
    const chunk = obj(chunks[i]);
    const usage = chunk ? usageFrom(chunk) : undefined;
    if (usage) return completeUsage(usage);
  }
  return undefined;
}
