/**
 * The forwarded body of a key whose limits do not read it, when keyward asks
 * for stream usage: spliced into the client's bytes when `stream_options` is
 * absent, merged through a re-serialisation when the client mentions it, and
 * never a JSON object with the same key twice.
 */
import { describe, expect, test } from "bun:test";
import { readPassthroughFacts, withStreamUsage } from "../../src/proxy/passthrough.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function rewrite(text: string): string {
  const facts = readPassthroughFacts(text);
  if (!facts) throw new Error("not a JSON object");
  return decoder.decode(withStreamUsage(facts, encoder.encode(text), text));
}

const occurrences = (text: string, needle: string) => text.split(needle).length - 1;

describe("readPassthroughFacts", () => {
  test("model and stream flags, as the body says them", () => {
    expect(readPassthroughFacts('{"model":"m","stream":true,"stream_options":{"include_usage":true}}')).toMatchObject({
      model: "m",
      stream: true,
      clientIncludeUsage: true,
    });
    expect(readPassthroughFacts('{"model":""}')).toMatchObject({ model: undefined, stream: false, clientIncludeUsage: false });
  });

  test("a body that is not a JSON object gives no facts", () => {
    for (const text of ["[1]", "null", "not json", '"text"']) expect(readPassthroughFacts(text)).toBeUndefined();
  });
});

describe("withStreamUsage", () => {
  test("an absent member is spliced in and the client's own bytes are kept as sent", () => {
    const sent = '{ "model": "gpt-4o-mini",\n  "stream": true, "messages": [{"role": "user", "content": "Hi"}] }';
    const out = rewrite(sent);
    expect(JSON.parse(out)).toEqual({ ...JSON.parse(sent), stream_options: { include_usage: true } });
    expect(out.endsWith(sent.slice(1))).toBe(true);
  });

  test("empty objects and leading whitespace stay valid JSON", () => {
    expect(JSON.parse(rewrite("{}"))).toEqual({ stream_options: { include_usage: true } });
    expect(JSON.parse(rewrite(" \n\t{ \n}"))).toEqual({ stream_options: { include_usage: true } });
  });

  test("a client's stream_options is merged, not duplicated", () => {
    const out = rewrite('{"model":"m","stream":true,"stream_options":{"continuous_usage_stats":false}}');
    expect(JSON.parse(out).stream_options).toEqual({ continuous_usage_stats: false, include_usage: true });
    expect(occurrences(out, '"stream_options"')).toBe(1);
  });

  test("a member named only inside a string still gets a correct body", () => {
    const sent = JSON.stringify({ model: "m", stream: true, messages: [{ role: "user", content: 'what is "stream_options"?' }] });
    expect(JSON.parse(rewrite(sent))).toEqual({ ...JSON.parse(sent), stream_options: { include_usage: true } });
  });
});
