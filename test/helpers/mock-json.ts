/**
 * The mock provider's own JSON reading: a strict parser that reads what
 * JSON.parse reads but also reports every repeated key, plus the lenient
 * coercions a permissive OpenAI-compatible server applies, and its reading
 * of multipart/form-data bodies. Part of test/helpers/mock-provider.ts (which
 * re-exports what tests use).
 */
import type { RecordedFormValue } from "./mock-types.ts";

/** A JSON value, so recorded bodies and configured error bodies stay typed. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object (every request body these APIs accept is one). */
export type JsonObject = { [key: string]: JsonValue };

/** The mock's own reading of a body: the value (a repeated key's last value wins, as with JSON.parse) and the repeated keys' paths. */
export interface ParsedBody {
  value: JsonValue;
  duplicateKeys: string[];
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
/** Deeper bodies are not parsed (recorded as non-JSON): the parser recurses. */
const MAX_PARSE_DEPTH = 1_000;

/** A path in the `messages[0].content` form. */
function pathJoin(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return path === "" ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

/**
 * Parses JSON text as a lenient server does, recording every key that repeats
 * within one object. Strict JSON syntax otherwise; undefined when the text is
 * not JSON (or nests deeper than MAX_PARSE_DEPTH).
 */
export function parseBody(text: string): ParsedBody | undefined {
  const duplicateKeys: string[] = [];
  let i = 0;
  const fail = (): never => {
    throw new SyntaxError(`not JSON at ${i}`);
  };
  const space = (): void => {
    for (let c = text.charCodeAt(i); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = text.charCodeAt(++i));
  };
  const string = (): string => {
    if (text[i] !== '"') fail();
    let end = i + 1;
    for (;;) {
      const c = text.charCodeAt(end);
      if (Number.isNaN(c) || c < 0x20) fail();
      if (c === 0x5c) end += 2;
      else if (c === 0x22) break;
      else end++;
    }
    const raw = text.slice(i, end + 1);
    i = end + 1;
    // Escapes decoded exactly as JSON.parse does (it also rejects bad ones).
    return raw.includes("\\") ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  };
  const value = (path: string, depth: number): JsonValue => {
    if (depth > MAX_PARSE_DEPTH) fail();
    space();
    const c = text[i];
    if (c === "{") {
      i++;
      const out: JsonObject = {};
      const seen = new Set<string>();
      space();
      if (text[i] === "}") {
        i++;
        return out;
      }
      for (;;) {
        space();
        const key = string();
        space();
        if (text[i] !== ":") fail();
        i++;
        const member = value(pathJoin(path, key), depth + 1);
        if (seen.has(key)) duplicateKeys.push(pathJoin(path, key));
        seen.add(key);
        // defineProperty, not assignment: a "__proto__" key is data, as JSON.parse treats it.
        Object.defineProperty(out, key, { value: member, enumerable: true, writable: true, configurable: true });
        space();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return out;
        }
        return fail();
      }
    }
    if (c === "[") {
      i++;
      const out: JsonValue[] = [];
      space();
      if (text[i] === "]") {
        i++;
        return out;
      }
      for (;;) {
        out.push(value(pathJoin(path, out.length), depth + 1));
        space();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return out;
        }
        return fail();
      }
    }
    if (c === '"') return string();
    for (const [word, literal] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return literal;
      }
    }
    NUMBER.lastIndex = i;
    const match = NUMBER.exec(text);
    if (!match) return fail();
    i += match[0].length;
    return Number(match[0]);
  };
  try {
    const parsed = value("", 0);
    space();
    if (i !== text.length) return undefined;
    return { value: parsed, duplicateKeys };
  } catch {
    return undefined;
  }
}

export const isObject = (value: JsonValue | undefined): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value);

/** A lenient integer: a whole JSON number, or a string of digits (`"100000"`). */
export function lenientInt(value: JsonValue | undefined): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) ? value : undefined;
  if (typeof value === "string" && /^\s*[+-]?\d+\s*$/.test(value)) return Number.parseInt(value, 10);
  return undefined;
}

/** A lenient boolean: true/false, "true"/"false" (any case), 1/0. */
export function lenientBool(value: JsonValue | undefined): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (typeof value === "string" && /^(true|false)$/i.test(value.trim())) return value.trim().toLowerCase() === "true";
  if (value === 1 || value === 0) return value === 1;
  return undefined;
}

export const stringField = (json: JsonObject | undefined, key: string): string | undefined => {
  const value = json?.[key];
  return typeof value === "string" ? value : undefined;
};

/** A value as text in a message: a string as is, anything else as JSON ("" when absent). */
export const asText = (value: JsonValue | undefined): string => (value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value));

/**
 * A multipart/form-data body's fields, read as they are on the wire (the last value wins for a
 * repeated name): text as strings, files with their part's own `content-type` (`formData()` in
 * Bun would rewrite some, e.g. `audio/wav` to `audio/x-wav`). Undefined when it is not one.
 */
export function parseMultipart(body: Uint8Array, contentType: string | undefined): Record<string, RecordedFormValue> | undefined {
  if (!contentType?.toLowerCase().startsWith("multipart/form-data")) return undefined;
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (boundary === undefined) return undefined;
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const delimiter = Buffer.from(`--${boundary}`);
  const next = Buffer.from(`\r\n--${boundary}`);
  const fields: Record<string, RecordedFormValue> = {};
  let at = buf.indexOf(delimiter);
  if (at < 0) return undefined;
  at += delimiter.length;
  // Each part: CRLF, headers, CRLF CRLF, content, then CRLF and the next delimiter ("--" after the last).
  while (buf.subarray(at, at + 2).toString() === "\r\n") {
    const headEnd = buf.indexOf("\r\n\r\n", at);
    const end = headEnd < 0 ? -1 : buf.indexOf(next, headEnd + 4);
    if (end < 0) return undefined;
    const head = buf.subarray(at + 2, headEnd).toString("utf8");
    const disposition = /^content-disposition:(.*)$/im.exec(head)?.[1] ?? "";
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1];
    const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
    const content = buf.subarray(headEnd + 4, end);
    if (name !== undefined) {
      const type = /^content-type:(.*)$/im.exec(head)?.[1]?.trim() ?? "";
      fields[name] = filename === undefined ? content.toString("utf8") : { filename, type, bytes: new Uint8Array(content) };
    }
    at = end + next.length;
  }
  return buf.subarray(at, at + 2).toString() === "--" ? fields : undefined;
}
