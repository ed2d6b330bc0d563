/**
 * What keyward needs to know about a request before forwarding it: the
 * model, whether it streams, and an upper bound of its cost in tokens.
 *
 * The prompt bound is the UTF-8 byte length of the whole JSON body: every
 * tokenizer in use (byte-level BPE, SentencePiece with byte fallback) yields
 * at most one token per byte of text, and the JSON syntax only adds bytes.
 * Images referenced by URL are the exception (few bytes, many tokens), so
 * each image part adds IMAGE_TOKENS. Output is bounded by the request's
 * max-tokens field times `n`, or by a default that keyward then writes into
 * the forwarded request so the bound holds.
 */

export const IMAGE_TOKENS = 2_000;

export interface RequestFacts {
  model?: string;
  stream: boolean;
  /** The client asked for `stream_options.include_usage` itself. */
  clientIncludeUsage: boolean;
  promptTokensBound: number;
  /** Output tokens bound, already multiplied by `n`; undefined when the endpoint produces none. */
  outputTokensBound?: number;
  /** The field the output cap lives in for this endpoint, when keyward may have to set it. */
  maxTokensField?: string;
  /** The client's own cap, if it set one. */
  clientMaxTokens?: number;
  /** Parsed body, kept for rewriting (stream_options, output cap). */
  json?: Record<string, unknown>;
}

/** Endpoints whose output is priced, and where their output cap lives. */
export function outputCapField(path: string, provider: string): string | undefined {
  if (path.endsWith("/chat/completions")) return provider === "openai" ? "max_completion_tokens" : "max_tokens";
  if (path.endsWith("/responses")) return "max_output_tokens";
  if (path.endsWith("/messages")) return "max_tokens";
  if (path.endsWith("/completions")) return "max_tokens";
  return undefined;
}

/**
 * Image parts by their `type` (chat `image_url`, Responses `input_image`,
 * Anthropic `image`). Matching the bare names would count a chat part twice
 * (`"type":"image_url","image_url":{…}`); quotes inside JSON strings are
 * escaped, so text that mentions a type cannot match.
 */
function countImages(text: string): number {
  // Every type named below contains "image"; most bodies have none, and a substring scan is cheaper than the regex.
  if (!text.includes("image")) return 0;
  const matches = text.match(/"type"\s*:\s*"(image_url|input_image|image)"/g);
  return matches ? matches.length : 0;
}

function positiveInt(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : undefined;
}

/**
 * `undefined` when the body is not a JSON object (keyward then forwards it
 * untouched and lets the provider answer).
 */
export function readRequestFacts(
  body: Uint8Array | undefined,
  text: string | undefined,
  path: string,
  provider: string,
  defaultMaxTokens: number,
): RequestFacts | undefined {
  if (!body || text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const json = parsed as Record<string, unknown>;
  const model = typeof json.model === "string" && json.model ? json.model : undefined;
  const streamOptions = json.stream_options as { include_usage?: unknown } | undefined;
  const field = outputCapField(path, provider);
  const clientMax = positiveInt(json.max_tokens) ?? positiveInt(json.max_completion_tokens) ?? positiveInt(json.max_output_tokens);
  const choices = positiveInt(json.n) ?? 1;
  return {
    model,
    stream: json.stream === true,
    clientIncludeUsage: streamOptions?.include_usage === true,
    promptTokensBound: body.byteLength + countImages(text) * IMAGE_TOKENS,
    outputTokensBound: field ? (clientMax ?? defaultMaxTokens) * choices : undefined,
    maxTokensField: field,
    clientMaxTokens: clientMax,
    json,
  };
}
