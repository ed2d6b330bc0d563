/**
 * The forwarded body when keyward must add `stream_options.include_usage`
 * or an output cap: spliced into the client's bytes when the member is
 * absent, merged through a re-serialisation when the client mentions it, and
 * never a JSON object with the same key twice.
 */
import { describe, expect, test } from "bun:test";
import { readRequestFacts } from "../../src/limits/estimate.ts";
import { rewriteBody } from "../../src/proxy/rewrite.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function rewrite(text: string, injectUsage: boolean, capTokens?: number, path = "/chat/completions") {
  const body = encoder.encode(text);
  const facts = readRequestFacts(body, text, path, "openai", 4096);
  if (!facts) throw new Error("not a JSON object");
  const out = rewriteBody(facts, body, text, injectUsage, capTokens);
  return out === undefined ? undefined : decoder.decode(out);
}

const occurrences = (text: string, needle: string) => text.split(needle).length - 1;

describe("rewriteBody", () => {
  test("nothing to add: no new body", () => {
    expect(rewrite('{"model":"gpt-4o-mini"}', false)).toBeUndefined();
  });

  test("absent members are spliced in and the client's own bytes are kept as sent", () => {
    const sent = '{ "model": "gpt-4o-mini",\n  "stream": true, "messages": [{"role": "user", "content": "Hi"}] }';
    const out = rewrite(sent, true, 512) as string;
    expect(JSON.parse(out)).toEqual({ ...JSON.parse(sent), stream_options: { include_usage: true }, max_completion_tokens: 512 });
    expect(out.endsWith(sent.slice(1))).toBe(true);
  });

  test("empty objects and leading whitespace stay valid JSON", () => {
    expect(JSON.parse(rewrite("{}", false, 64, "/messages") as string)).toEqual({ max_tokens: 64 });
    expect(JSON.parse(rewrite(" \n\t{ \n}", true) as string)).toEqual({ stream_options: { include_usage: true } });
  });

  test("a client's stream_options is merged, not duplicated", () => {
    const out = rewrite('{"model":"m","stream":true,"stream_options":{"continuous_usage_stats":false}}', true) as string;
    expect(JSON.parse(out).stream_options).toEqual({ continuous_usage_stats: false, include_usage: true });
    expect(occurrences(out, '"stream_options"')).toBe(1);
  });

  test("a cap field the client set to null is replaced, not duplicated (a provider might honour either)", () => {
    const out = rewrite('{"model":"m","max_completion_tokens":null}', false, 4096) as string;
    expect(JSON.parse(out).max_completion_tokens).toBe(4096);
    expect(occurrences(out, '"max_completion_tokens"')).toBe(1);
  });

  test("a member named only inside a string still gets a correct body", () => {
    const sent = JSON.stringify({ model: "m", stream: true, messages: [{ role: "user", content: 'what is "stream_options"?' }] });
    const out = rewrite(sent, true) as string;
    expect(JSON.parse(out)).toEqual({ ...JSON.parse(sent), stream_options: { include_usage: true } });
  });
});
