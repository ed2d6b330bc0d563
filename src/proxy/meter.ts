import { Buffer } from "node:buffer";
import type { Usage } from "../limits/gate.ts";
import { joinChunks } from "./body.ts";
import type { EchoStream, SecretEcho } from "./echo.ts";
import { eventData, eventEnd, scanEventBytes, stripInjectedUsage } from "./sse.ts";
import { usageFrom, type MeterResult } from "./usage.ts";

export type BodyKind = "sse" | "json" | "other";

export interface MeterOptions {
  kind: BodyKind;
  /** Remove keyward's injected usage chunk and `"usage": null` fields (OpenAI-style streams). */
  stripUsage: boolean;
  onFirstChunk(): void;
  /** Replaces the provider key where the stream echoes it; absent for a placeholder key. */
  echo?: SecretEcho;
  /**
   * A stored object's id, announced by the stream (`response.created`): called before that event reaches the
   * client, which waits for the returned promise; it must not reject.
   */
  onObjectId?(id: string): Promise<void> | undefined;
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
 * rewrite needs (an incomplete event waits for its end) and what the echo
 * scrubber needs (a chunk's last bytes that could start the provider key
 * wait for the next chunk). Cancellation by the client cancels the upstream
 * read at once.
 */
export function meterBody(upstream: ReadableStream<Uint8Array>, options: MeterOptions): ReadableStream<Uint8Array> {
  const meter = new BodyMeter(upstream.getReader(), options);
  return new ReadableStream<Uint8Array>(
    {
      pull: (controller) => meter.pull(controller),
      cancel: (reason) => meter.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

type Reader = ReadableStreamDefaultReader<Uint8Array>;
type Controller = ReadableStreamDefaultController<Uint8Array>;

/**
 * For the events only the text path reads, one at a time. An event is whole
 * (its blank line is ASCII, never part of a character), so no decoder state
 * carries between them; a byte-order mark is kept as the bytes it is.
 */
const eventDecoder = new TextDecoder("utf-8", { ignoreBOM: true });
const encoder = new TextEncoder();
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const EMPTY = new Uint8Array(0);

/**
 * One response body on its way through. State lives in fields and each step
 * is a method, so a chunk costs no closure or object beyond what the SSE
 * rewrite itself builds.
 */
class BodyMeter {
  private readonly result: MeterResult = { contentEvents: 0, aborted: false, failed: false, bytes: 0 };
  /** The start of an SSE event whose end has not arrived yet. */
  private pending: Uint8Array | undefined;
  /** The body's first bytes were looked at for a byte-order mark. */
  private bomSeen = false;
  /** A JSON body's chunks, joined at the end to read its usage; dropped past MAX_JSON_BYTES. */
  private jsonChunks: Uint8Array[] | undefined;
  private first = true;
  private finished = false;
  /** `onObjectId`'s promise, which the chunk that announced the object waits for. */
  private recording: Promise<void> | undefined;
  private readonly echo: EchoStream | undefined;

  constructor(
    private readonly reader: Reader,
    private readonly options: MeterOptions,
  ) {
    this.jsonChunks = options.kind === "json" ? [] : undefined;
    this.echo = options.echo?.stream();
  }

  /** Sends the client one chunk, reading on past chunks that hold only part of an SSE event. */
  async pull(controller: Controller): Promise<void> {
    for (;;) {
      let chunk: Awaited<ReturnType<Reader["read"]>>;
      try {
        chunk = await this.reader.read();
      } catch (err) {
        this.upstreamFailed(controller, err);
        return;
      }
      if (chunk.done) {
        const ended = this.upstreamEnded(controller);
        if (ended) await ended;
        return;
      }
      const sent = this.forward(controller, chunk.value);
      if (sent instanceof Promise ? await sent : sent) return;
    }
  }

  /** The client went away: settle with what was seen and stop reading upstream. */
  async cancel(reason: unknown): Promise<void> {
    this.result.aborted = true;
    this.finish();
    await this.reader.cancel(reason).catch(() => {});
  }

  private upstreamFailed(controller: Controller, err: unknown): void {
    this.result.failed = true;
    this.finish();
    controller.error(err);
  }

  /** Sends what the SSE rewrite and the echo scrubber still hold, then settles and closes. */
  private upstreamEnded(controller: Controller): Promise<void> | undefined {
    // An event cut off by the end of the body is sent as it came.
    const tail = this.pending;
    this.pending = undefined;
    const recording = this.takeRecording();
    if (recording) return recording.then(() => this.close(controller, tail));
    this.close(controller, tail);
    return undefined;
  }

  private close(controller: Controller, tail: Uint8Array | undefined): void {
    if (tail && this.options.stripUsage) this.send(controller, tail);
    const held = this.echo?.end();
    if (held) controller.enqueue(held);
    this.finish();
    controller.close();
  }

  /** Meters one upstream chunk and sends it on; false when it held nothing to send yet. */
  private forward(controller: Controller, value: Uint8Array): boolean | Promise<boolean> {
    this.count(value);
    if (this.options.kind !== "sse") return this.send(controller, value);
    const out = this.scanSse(value);
    // Only the chunk that announced a stored object waits: every other one goes on without a promise.
    const recording = this.takeRecording();
    if (recording) return recording.then(() => this.sendScanned(controller, value, out));
    return this.sendScanned(controller, value, out);
  }

  private takeRecording(): Promise<void> | undefined {
    const recording = this.recording;
    this.recording = undefined;
    return recording;
  }

  /** Sends an SSE chunk after its scan: rewritten when stripping, else as it came. */
  private sendScanned(controller: Controller, value: Uint8Array, out: Uint8Array | undefined): boolean {
    if (!this.options.stripUsage) return this.send(controller, value);
    // Only part of an event so far: read on rather than send an empty chunk.
    if (!out || out.byteLength === 0) return false;
    return this.send(controller, out);
  }

  /** Sends bytes with the provider key replaced; false when the scrubber held all of them back. */
  private send(controller: Controller, bytes: Uint8Array): boolean {
    const out = this.echo ? this.echo.push(bytes) : bytes;
    if (out.byteLength === 0) return false;
    controller.enqueue(out);
    return true;
  }

  /** First-byte timing, the byte count, and a JSON body's chunk kept for the end. */
  private count(value: Uint8Array): void {
    if (this.first) {
      this.first = false;
      this.options.onFirstChunk();
    }
    this.result.bytes += value.byteLength;
    if (this.jsonChunks) {
      if (this.result.bytes <= MAX_JSON_BYTES) this.jsonChunks.push(value);
      else this.jsonChunks = undefined;
    }
  }

  /**
   * Scans the complete events the chunk ends (with what an earlier chunk left
   * of the first) for usage; when stripping, returns their bytes as they go
   * out. Rewriting only removes bytes, so it is done over the chunk itself:
   * a chunk the meter has read is the meter's, and a new array for each
   * rewritten chunk made every open stream hold more memory (figures in
   * test/bench/README.md).
   */
  private scanSse(value: Uint8Array): Uint8Array | undefined {
    const held = this.pending;
    const joined = held ? joinChunks([held, value], held.byteLength + value.byteLength) : value;
    const buffer = Buffer.from(joined.buffer, joined.byteOffset, joined.byteLength);
    const strip = this.options.stripUsage;
    const first = this.leadingBom(buffer);
    if (first === undefined) {
      this.pending = new Uint8Array(buffer);
      return strip ? EMPTY : undefined;
    }
    const out = strip ? new Outgoing(buffer, first) : undefined;
    let start = first;
    for (let end = eventEnd(buffer, start); end !== -1; end = eventEnd(buffer, start)) {
      const event = buffer.subarray(start, end);
      const facts = scanEventBytes(event);
      if (facts) {
        if (facts.content) this.result.contentEvents++;
        if (out && facts.cutFrom < facts.cutTo) {
          out.keep(start, start + facts.cutFrom);
          out.keep(start + facts.cutTo, end);
        } else out?.keep(start, end);
      } else {
        const text = eventDecoder.decode(event);
        const scanned = this.scanEventText(text);
        if (scanned === text) out?.keep(start, end);
        else if (scanned) out?.replace(encoder.encode(scanned), end);
      }
      start = end;
    }
    // A copy: the rest of the chunk is not kept alive for it.
    this.pending = start < buffer.byteLength ? new Uint8Array(buffer.subarray(start)) : undefined;
    return out?.bytes();
  }

  /**
   * How many bytes of a byte-order mark open the body, which is not part of
   * its first event (as a decoder drops it): 0 or 3 at the first chunk, 0
   * after; undefined while the body so far could still be one.
   */
  private leadingBom(buffer: Buffer): number | undefined {
    if (this.bomSeen) return 0;
    const length = Math.min(buffer.byteLength, BOM.byteLength);
    if (buffer.compare(BOM, 0, length, 0, length) !== 0) {
      this.bomSeen = true;
      return 0;
    }
    if (length < BOM.byteLength) return undefined;
    this.bomSeen = true;
    return BOM.byteLength;
  }

  /** One event the byte scan left to the text: reads its usage and stored object; returns it as it goes out when stripping. */
  private scanEventText(event: string): string {
    const data = eventData(event);
    let parsed: Record<string, unknown> | undefined;
    if (data !== undefined && data !== "[DONE]") {
      // `"usage` also finds Gemini's `usageMetadata`.
      if (data.includes('"usage')) {
        parsed = parseJson(data);
        if (parsed) {
          this.merge(usageFrom(parsed));
          if (this.result.objectId === undefined) {
            this.result.objectId = createdId(parsed);
            if (this.result.objectId !== undefined) this.recording = this.options.onObjectId?.(this.result.objectId);
          }
        }
      }
      // Content arrives in delta events in all three stream dialects (chat, Responses, Anthropic).
      if (data.includes('"delta"')) this.result.contentEvents++;
    }
    return this.options.stripUsage ? stripInjectedUsage(event, data, parsed) : event;
  }

  private merge(usage: Partial<Usage> | undefined): void {
    if (usage) this.result.usage = { ...this.result.usage, ...usage };
  }

  /** Runs once, however the body ends: reads a JSON body's usage, then reports. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.jsonChunks) {
      const parsed = parseJson(new TextDecoder().decode(joinChunks(this.jsonChunks, this.result.bytes)));
      if (parsed) this.merge(usageFrom(parsed));
      this.jsonChunks = undefined;
    }
    this.options.onDone(this.result);
  }
}

/** A stored response's id, from the event that announces it (`response.created`). */
function createdId(event: Record<string, unknown>): string | undefined {
  const response = event.response;
  const id = typeof response === "object" && response !== null ? (response as { id?: unknown }).id : undefined;
  return typeof id === "string" ? id : undefined;
}

/**
 * A chunk's events as they go out, written over the chunk from its start:
 * what is kept moves down over what was removed. Only a rewritten event
 * that came out longer than the room left (its text decoded invalid bytes
 * into replacement characters) makes a new array.
 */
class Outgoing {
  private written: number;
  private pieces: Uint8Array[] | undefined;

  constructor(
    private readonly buffer: Buffer,
    private readonly from: number,
  ) {
    this.written = from;
  }

  /** The chunk's bytes `start`–`end` go out as they are. */
  keep(start: number, end: number): void {
    if (this.pieces) this.pieces.push(this.buffer.subarray(start, end));
    else {
      if (this.written < start) this.buffer.copyWithin(this.written, start, end);
      this.written += end - start;
    }
  }

  /** An event ending at `end` goes out as `bytes`. */
  replace(bytes: Uint8Array, end: number): void {
    if (!this.pieces && bytes.byteLength <= end - this.written) {
      this.buffer.set(bytes, this.written);
      this.written += bytes.byteLength;
      return;
    }
    this.pieces ??= [this.buffer.subarray(this.from, this.written)];
    this.pieces.push(bytes);
  }

  bytes(): Uint8Array {
    if (!this.pieces) return this.buffer.subarray(this.from, this.written);
    let length = 0;
    for (const piece of this.pieces) length += piece.byteLength;
    return joinChunks(this.pieces, length);
  }
}
