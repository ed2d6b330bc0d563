import { Buffer } from "node:buffer";
import { batchPrice } from "../limits/batch-lines.ts";
import { costOf } from "../limits/cost.ts";
import type { Price } from "../limits/pricing.ts";
import { completeUsage, usageFrom } from "./usage.ts";

/** One line of an output file is one request's answer; a longer one is not read, and the file counts as unreadable. */
const MAX_OUTPUT_LINE_BYTES = 64 * 1024 * 1024;
const NEWLINE = 0x0a;
const decoder = new TextDecoder();

/** The output could not be read whole: what the batch cost is unknown, so its worst case stays charged. */
export class UnreadableOutput extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnreadableOutput";
  }
}

/**
 * What the requests in a batch's output (or error, or results) file cost at
 * the batch price: each line's answer's `usage`, as the provider reported it,
 * at the model's price. A line without usage (a request that failed) costs
 * nothing; a line that is not JSON makes the whole file unreadable, since its
 * cost cannot be told. Read as it streams, one line held at a time.
 */
/** The object in an output line whose `usage` is its request's (OpenAI: `response.body`; Anthropic: `result.message`). */
export type OutputAnswer = (line: unknown) => Record<string, unknown> | undefined;

export interface OutputPricing {
  price: Price;
  pricePercent: number;
  answerOf: OutputAnswer;
}

export async function outputCost(body: ReadableStream<Uint8Array>, pricing: OutputPricing): Promise<number> {
  const reader = body.getReader();
  let pieces: Buffer[] = [];
  let held = 0;
  let cost = 0;
  const line = (bytes: Buffer) => {
    cost += lineCost(bytes, pricing);
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let view = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      for (let at = view.indexOf(NEWLINE); at >= 0; at = view.indexOf(NEWLINE)) {
        pieces.push(view.subarray(0, at));
        line(Buffer.concat(pieces, held + at));
        pieces = [];
        held = 0;
        view = view.subarray(at + 1);
      }
      held += view.byteLength;
      if (held > MAX_OUTPUT_LINE_BYTES) throw new UnreadableOutput(`a line exceeds ${MAX_OUTPUT_LINE_BYTES} bytes`);
      if (view.byteLength > 0) pieces.push(Buffer.from(view));
    }
  } finally {
    reader.releaseLock();
  }
  if (held > 0) line(Buffer.concat(pieces, held));
  return cost;
}

function lineCost(bytes: Buffer, { price, pricePercent, answerOf }: OutputPricing): number {
  const text = decoder.decode(bytes).trim();
  if (text === "") return 0;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UnreadableOutput("a line is not JSON");
  }
  const answer = answerOf(parsed);
  const usage = answer ? usageFrom(answer) : undefined;
  return usage ? batchPrice(costOf(price, completeUsage(usage)), pricePercent) : 0;
}

export function objectAt(value: unknown, key: string): Record<string, unknown> | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const child = (value as Record<string, unknown>)[key];
  return typeof child === "object" && child !== null && !Array.isArray(child) ? (child as Record<string, unknown>) : undefined;
}
