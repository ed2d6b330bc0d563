/**
 * The meter reads the usual events on their bytes and rewrites them over
 * the chunk itself; every other event takes the text path. Whatever the
 * events and however the chunks cut them, the client gets what the text path
 * makes of each event, and the meter learns what the text path would.
 */
import { describe, expect, test } from "bun:test";
import { Buffer } from "node:buffer";
import { meterBody } from "../../src/proxy/meter.ts";
import { eventData, scanEventBytes, stripInjectedUsage } from "../../src/proxy/sse.ts";
import { usageFrom, type MeterResult } from "../../src/proxy/usage.ts";

const encoder = new TextEncoder();
// The body's bytes as they are: a byte-order mark stays a character.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Payloads of the three stream dialects, and the odd shapes a provider (or a hostile one) could send. */
const PAYLOADS = [
  '{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}',
  '{"id": "c", "choices": [{"delta": {"content": "é 日本 😀"}}], "usage": null}',
  '{"usage":null,"choices":[{"delta":{"content":"x"}}]}',
  '{"usage" :\tnull , "choices":[{"delta":{"content":"x"}}]}',
  '{"choices":[{"delta":{"content":"x"}}],"usage":null }',
  '{"choices":[{"delta":{"content":"x"}}],\u000b"usage":null}',
  '{"choices":[{"delta":{"content":"x"}}],\u00a0"usage":null}',
  '{"choices":[{"delta":{"content":"x"}}] , "usage": null\u00a0,"z":1}',
  '{"choices":[{"delta":{"content":"x"}}],"usage":nullx}',
  '{"choices":[{"delta":{"content":"say \\"usage\\": null"}}],"usage":null}',
  '{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3}}',
  '{"choices":[{"delta":{"content":"no usage"}}]}',
  '{"type":"response.created","response":{"id":"resp_1","usage":null}}',
  '{"type":"response.output_text.delta","delta":"x"}',
  '{"type":"response.completed","response":{"id":"resp_1","usage":{"input_tokens":7,"output_tokens":3}}}',
  '{"type":"message_start","message":{"usage":{"input_tokens":5,"cache_read_input_tokens":2}}}',
  '{"type":"content_block_delta","delta":{"text":"x"}}',
  '{"type":"message_delta","usage":{"output_tokens":9}}',
  '{"candidates":[{"content":{"parts":[{"text":"x"}]}}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4}}',
  '{"\\u0075sage":{"prompt_tokens":1},"usage":null}',
  '{"respons\\u0065":{"id":"resp_escaped","usage":{"input_tokens":1}},"usage":null}',
  '{"usage":null,"usage":{"prompt_tokens":4,"completion_tokens":1}}',
  '{"message":{"usage":null}}',
  '{"a":"usage"}',
  "[DONE]",
];

/** A deterministic generator, so a failure names its seed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}

function stream(next: () => number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  let text = next() < 0.05 ? "\ufeff" : "";
  for (let events = 1 + Math.floor(next() * 8); events > 0; events--) {
    const nl = next() < 0.2 ? "\r\n" : "\n";
    const lines: string[] = [];
    if (next() < 0.2) lines.push(pick(["event: content_block_delta", ": ping", "id: 7", ': "usage":null', 'event: "delta"']));
    const dataLines = next() < 0.1 ? 2 : next() < 0.05 ? 0 : 1;
    for (let i = 0; i < dataLines; i++) lines.push(`${pick(["data: ", "data:", "data:  "])}${pick(PAYLOADS)}`);
    if (next() < 0.1) lines.push(": trailing");
    text += lines.join(nl) + nl + nl;
  }
  if (next() < 0.1) text += 'data: {"cut off":';
  return text;
}

function cut(bytes: Uint8Array, next: () => number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.byteLength;) {
    const size = next() < 0.3 ? 1 + Math.floor(next() * 4) : 1 + Math.floor(next() * 200);
    chunks.push(bytes.slice(at, at + size));
    at += size;
  }
  return chunks;
}

/** What the text path makes of a whole stream: each complete event as `stripInjectedUsage` leaves it, usage and ids as parsed. */
function textPath(text: string, strip: boolean) {
  const body = text.startsWith("\ufeff") ? text.slice(1) : text;
  let out = "";
  let contentEvents = 0;
  let usage: MeterResult["usage"];
  const ids: string[] = [];
  let start = 0;
  for (;;) {
    const lf = body.indexOf("\n\n", start);
    const crlf = body.indexOf("\r\n\r\n", start);
    if (lf === -1 && crlf === -1) break;
    const end = crlf !== -1 && (lf === -1 || crlf < lf) ? crlf + 4 : lf + 2;
    const event = body.slice(start, end);
    const data = eventData(event);
    let parsed: Record<string, unknown> | undefined;
    if (data !== undefined && data !== "[DONE]") {
      if (data.includes('"usage')) {
        try {
          const value: unknown = JSON.parse(data);
          if (typeof value === "object" && value !== null && !Array.isArray(value)) parsed = value as Record<string, unknown>;
        } catch {
          parsed = undefined;
        }
        const found = parsed && usageFrom(parsed);
        if (found) usage = { ...usage, ...found };
        const response = parsed?.response as { id?: unknown } | undefined;
        if (ids.length === 0 && typeof response?.id === "string") ids.push(response.id);
      }
      if (data.includes('"delta"')) contentEvents++;
    }
    out += strip ? stripInjectedUsage(event, data, parsed) : event;
    start = end;
  }
  return { out: strip ? out + body.slice(start) : text, contentEvents, usage, ids };
}

async function meter(chunks: Uint8Array[], strip: boolean) {
  let result: MeterResult | undefined;
  const ids: string[] = [];
  let i = 0;
  const upstream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[i++];
      if (chunk) controller.enqueue(chunk.slice());
      else controller.close();
    },
  });
  const body = meterBody(upstream, {
    kind: "sse",
    stripUsage: strip,
    onFirstChunk() {},
    onObjectId(id) {
      ids.push(id);
      return undefined;
    },
    onDone(done) {
      result = done;
    },
  });
  const reader = body.getReader();
  const pieces: Uint8Array[] = [];
  for (let read = await reader.read(); !read.done; read = await reader.read()) pieces.push(read.value);
  return { out: decoder.decode(Buffer.concat(pieces)), result: result as MeterResult, ids, reads: pieces.length };
}

describe("scanEventBytes", () => {
  test("reads the usual events on their bytes and leaves real usage, objects and odd spacing to the text path", () => {
    const scan = (event: string) => scanEventBytes(Buffer.from(event));
    const chat = 'data: {"choices":[{"delta":{"content":"Hi"}}],"usage":null}\n\n';
    expect(scan(chat)).toEqual({ content: true, cutFrom: chat.indexOf(',"usage"'), cutTo: chat.indexOf("null") + 4 });
    expect(scan('event: content_block_delta\r\ndata: {"delta":{"text":"x"}}\r\n\r\n')).toEqual({ content: true, cutFrom: 0, cutTo: 0 });
    expect(scan("data: [DONE]\n\n")).toEqual({ content: false, cutFrom: 0, cutTo: 0 });
    expect(scan('data: {"choices":[],"usage":{"prompt_tokens":1}}\n\n')).toBeUndefined();
    expect(scan('data: {"type":"response.created","response":{"id":"r","usage":null}}\n\n')).toBeUndefined();
    expect(scan('data: {"choices":[],\u00a0"usage":null}\n\n')).toBeUndefined();
    expect(scan('data: {"a":1}\ndata: {"usage":null}\n\n')).toBeUndefined();
  });
});

describe("meterBody on event streams", () => {
  test("gives the client what the text path makes of each event, and meters what it would, however chunks cut the events", async () => {
    for (let seed = 1; seed <= 400; seed++) {
      const next = random(seed);
      const text = stream(next);
      const chunks = cut(encoder.encode(text), next);
      for (const strip of [true, false]) {
        const expected = textPath(text, strip);
        const got = await meter(chunks, strip);
        const context = `seed ${seed}, strip ${strip}`;
        expect(`${context}: ${got.out}`).toBe(`${context}: ${expected.out}`);
        expect(got.result.contentEvents).toBe(expected.contentEvents);
        expect(got.result.usage).toEqual(expected.usage);
        expect(got.ids).toEqual(expected.ids);
      }
    }
  });

  test("one read per chunk that ends an event, none for a chunk that only starts one", async () => {
    const event = 'data: {"choices":[{"delta":{"content":"Hi"}}],"usage":null}\n\n';
    const bytes = encoder.encode(event.repeat(3));
    const got = await meter([bytes.slice(0, 10), bytes.slice(10, event.length), bytes.slice(event.length)], true);
    expect(got.reads).toBe(2);
    expect(got.out).toBe('data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'.repeat(3));
  });

  test("a rewritten event that grows (invalid bytes decoded to replacement characters) still goes out whole", async () => {
    const head = encoder.encode('data: {"choices":[{"delta":{"content":"a"}}],"usage":null}\n\ndata: {"x":"');
    const tail = encoder.encode('","usage":\u000bnull}\n\ndata: [DONE]\n\n');
    const bytes = Buffer.concat([head, new Uint8Array(10).fill(0xff), tail]);
    const got = await meter([bytes], true);
    expect(got.out).toBe(`data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"x":"${"\ufffd".repeat(10)}"}\n\ndata: [DONE]\n\n`);
    expect(got.reads).toBe(1);
  });
});
