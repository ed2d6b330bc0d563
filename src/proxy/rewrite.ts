import type { RequestFacts } from "../limits/estimate.ts";

const encoder = new TextEncoder();

/** JSON whitespace (RFC 8259 §2). */
const isSpace = (byte: number | undefined) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

/**
 * Inserts `members` (`"a":1,"b":2`) right after the opening brace of a JSON
 * object body, copying the client's bytes rather than serialising the parsed
 * body again: for a large prompt that is most of the rewrite's cost.
 */
function spliceMembers(body: Uint8Array, members: string): Uint8Array<ArrayBuffer> | undefined {
  let open = 0;
  while (isSpace(body[open])) open++;
  if (body[open] !== 0x7b) return undefined;
  let next = open + 1;
  while (isSpace(body[next])) next++;
  const insert = encoder.encode(body[next] === 0x7d ? members : `${members},`);
  const out = new Uint8Array(body.byteLength + insert.byteLength);
  out.set(body.subarray(0, open + 1), 0);
  out.set(insert, open + 1);
  out.set(body.subarray(open + 1), open + 1 + insert.byteLength);
  return out;
}

/**
 * Sets `stream_options.include_usage` and the output cap where keyward needs
 * them; returns the new body, or undefined when nothing changes. When the
 * client's JSON does not mention the member at all (the usual case) the
 * member is spliced in; otherwise the parsed body is serialised again, so a
 * client's own `stream_options` (or a `null` cap) is merged, never duplicated:
 * with duplicate keys, which one a provider honours is up to its parser.
 */
export function rewriteBody(
  facts: RequestFacts,
  body: Uint8Array,
  text: string,
  injectUsage: boolean,
  capTokens: number | undefined,
): Uint8Array<ArrayBuffer> | undefined {
  if (!facts.json || (!injectUsage && capTokens === undefined)) return undefined;
  const capField = capTokens === undefined ? undefined : facts.maxTokensField;
  const clean = (!injectUsage || !text.includes('"stream_options"')) && (capField === undefined || !text.includes(`"${capField}"`));
  if (clean) {
    const members = [injectUsage ? '"stream_options":{"include_usage":true}' : "", capField ? `"${capField}":${capTokens}` : ""];
    const spliced = spliceMembers(body, members.filter(Boolean).join(","));
    if (spliced) return spliced;
  }
  const json = { ...facts.json };
  if (injectUsage) {
    const existing = typeof json.stream_options === "object" && json.stream_options !== null ? json.stream_options : {};
    json.stream_options = { ...existing, include_usage: true };
  }
  if (capField) json[capField] = capTokens;
  return encoder.encode(JSON.stringify(json));
}
