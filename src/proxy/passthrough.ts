/**
 * Requests of keys whose limits do not read the body go upstream as the
 * client sent them. keyward still looks inside a JSON body for the model (for
 * the log) and whether it streams, and may add `stream_options.include_usage`
 * so the stream reports its usage.
 */

export interface PassthroughFacts {
  model?: string;
  stream: boolean;
  /** The client asked for `stream_options.include_usage` itself. */
  clientIncludeUsage: boolean;
  /** The parsed body, kept for a rewrite that must merge into the client's own `stream_options`. */
  json: Record<string, unknown>;
}

/** `undefined` when the body is not a JSON object: it is forwarded untouched. */
export function readPassthroughFacts(text: string): PassthroughFacts | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const json = parsed as Record<string, unknown>;
  const streamOptions = json.stream_options as { include_usage?: unknown } | undefined;
  return {
    model: typeof json.model === "string" && json.model ? json.model : undefined,
    stream: json.stream === true,
    clientIncludeUsage: streamOptions?.include_usage === true,
    json,
  };
}

const encoder = new TextEncoder();

/** JSON whitespace (RFC 8259 §2). */
const isSpace = (byte: number | undefined) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

const INCLUDE_USAGE = '"stream_options":{"include_usage":true}';

/**
 * The body with `stream_options.include_usage` set. When the client's JSON
 * does not mention `stream_options` (the usual case) the member is spliced in
 * after the opening brace, copying the client's bytes rather than serialising
 * the parsed body again: for a large prompt that is most of the cost.
 * Otherwise the parsed body is serialised again, so the client's own
 * `stream_options` is merged, never duplicated: with duplicate keys, which
 * one a provider honours is up to its parser.
 */
export function withStreamUsage(facts: PassthroughFacts, body: Uint8Array, text: string): Uint8Array<ArrayBuffer> {
  if (!text.includes('"stream_options"')) {
    const spliced = spliceMember(body, INCLUDE_USAGE);
    if (spliced) return spliced;
  }
  const existing = typeof facts.json.stream_options === "object" && facts.json.stream_options !== null ? facts.json.stream_options : {};
  return encoder.encode(JSON.stringify({ ...facts.json, stream_options: { ...existing, include_usage: true } }));
}

function spliceMember(body: Uint8Array, member: string): Uint8Array<ArrayBuffer> | undefined {
  let open = 0;
  while (isSpace(body[open])) open++;
  if (body[open] !== 0x7b) return undefined;
  let next = open + 1;
  while (isSpace(body[next])) next++;
  const insert = encoder.encode(body[next] === 0x7d ? member : `${member},`);
  const out = new Uint8Array(body.byteLength + insert.byteLength);
  out.set(body.subarray(0, open + 1), 0);
  out.set(insert, open + 1);
  out.set(body.subarray(open + 1), open + 1 + insert.byteLength);
  return out;
}
