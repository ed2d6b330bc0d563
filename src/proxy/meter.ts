import type { Usage } from "../limits/gate.ts";
import { eventData, splitEvents, stripInjectedUsage } from "./sse.ts";
import { usageFrom, type MeterResult } from "./usage.ts";

export type BodyKind = "sse" | "json" | "other";

export interface MeterOptions {
  kind: BodyKind;
  /** Remove keyward's injected usage chunk and `"usage": null` fields (OpenAI-style streams). */
  stripUsage: boolean;
  onFirstChunk(): void;
  onDone(result: MeterResult): void;
}

/** Plain JSON bodies larger than this are passed through unmetered rather than held in memory. */
const MAX_JSON_BYTES = 32 * 1024 * 1024;

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Wraps an upstream body so usage can be read while the bytes flow to the
 * client. Pull-based with no internal queue: one upstream chunk in, one
 * chunk out, so nothing is buffered or coalesced beyond what the SSE
 * rewrite needs (an incomplete event waits for its end). Cancellation by the
 * client cancels the upstream read at once.
 */
export function meterBody(upstream: ReadableStream<Uint8Array>, options: MeterOptions): ReadableStream<Uint8Array> {
  const reader = upstream.getReader();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const result: MeterResult = { contentEvents: 0, aborted: false, failed: false, bytes: 0 };
  let pending = "";
  let jsonChunks: Uint8Array[] | undefined = options.kind === "json" ? [] : undefined;
  let first = true;
  let finished = false;

  const merge = (usage: Partial<Usage> | undefined) => {
    if (usage) result.usage = { ...result.usage, ...usage };
  };

  const finish = () => {
    if (finished) return;
    finished = true;
    if (jsonChunks) {
      const joined = new Uint8Array(result.bytes);
      let offset = 0;
      for (const chunk of jsonChunks) {
        joined.set(chunk, offset);
        offset += chunk.byteLength;
      }
      const parsed = parseJson(new TextDecoder().decode(joined));
      if (parsed) merge(usageFrom(parsed));
      jsonChunks = undefined;
    }
    options.onDone(result);
  };

  /** Scans complete events for usage; returns the bytes to send (rewritten when stripping). */
  const processSse = (text: string): string => {
    const { events, rest } = splitEvents(pending + text);
    pending = rest;
    let out = "";
    for (const event of events) {
      const data = eventData(event);
      let parsed: Record<string, unknown> | undefined;
      if (data !== undefined && data !== "[DONE]") {
        if (data.includes('"usage"')) {
          parsed = parseJson(data);
          if (parsed) merge(usageFrom(parsed));
        }
        // Content arrives in delta events in all three stream dialects (chat, Responses, Anthropic).
        if (data.includes('"delta"')) result.contentEvents++;
      }
      out += options.stripUsage ? stripInjectedUsage(event, data, parsed) : event;
    }
    return out;
  };

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch (err) {
            result.failed = true;
            finish();
            controller.error(err);
            return;
          }
          if (chunk.done) {
            if (options.kind === "sse") {
              const tail = processSse(decoder.decode()) + pending;
              pending = "";
              if (tail && options.stripUsage) controller.enqueue(encoder.encode(tail));
            }
            finish();
            controller.close();
            return;
          }
          const value = chunk.value;
          if (first) {
            first = false;
            options.onFirstChunk();
          }
          result.bytes += value.byteLength;
          if (jsonChunks) {
            if (result.bytes <= MAX_JSON_BYTES) jsonChunks.push(value);
            else jsonChunks = undefined;
          }
          if (options.kind === "sse") {
            const out = processSse(decoder.decode(value, { stream: true }));
            if (!options.stripUsage) {
              controller.enqueue(value);
              return;
            }
            if (out) {
              controller.enqueue(encoder.encode(out));
              return;
            }
            // Only part of an event so far: read on rather than send an empty chunk.
            continue;
          }
          controller.enqueue(value);
          return;
        }
      },
      async cancel(reason) {
        result.aborted = true;
        finish();
        await reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}
