/**
 * Incremental Server-Sent Events splitting that keeps each event's bytes as
 * the provider wrote them. A general SSE parser (eventsource-parser) rebuilds
 * events from fields, which would change bytes on the way to the client;
 * here events are only located, and parsed only when they can carry usage.
 *
 * Events are located and, in the common shapes, read on their bytes
 * (`eventEnd`, `scanEventBytes`): decoding every chunk to text and encoding
 * the rewritten text again made each open stream hold more memory (figures
 * in test/bench/README.md). Anything else takes the text path below
 * (`eventData`, `stripInjectedUsage`) on that one event, decoded.
 */
import { Buffer } from "node:buffer";

const LF_LF = Buffer.from("\n\n");
const CRLF_CRLF = Buffer.from("\r\n\r\n");
const USAGE = Buffer.from('"usage');
const DELTA = Buffer.from('"delta"');
const RESPONSE = Buffer.from('"response"');
const UNICODE_ESCAPE = Buffer.from("\\u");
const DONE = Buffer.from("[DONE]");
const NULL = Buffer.from("null");
const DATA = Buffer.from("data:");

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;

/**
 * Where the event starting at `from` ends (after its blank line), or -1 when
 * its end has not arrived. The terminators are ASCII, which UTF-8 never uses
 * inside a character, so these are the boundaries the decoded text has.
 */
export function eventEnd(bytes: Buffer, from: number): number {
  const lf = bytes.indexOf(LF_LF, from);
  const crlf = bytes.indexOf(CRLF_CRLF, from);
  if (lf === -1 && crlf === -1) return -1;
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return crlf + 4;
  return lf + 2;
}

/** What the byte scan learned of one event; `cutFrom` < `cutTo` is the injected `"usage": null` to remove. */
export interface EventFacts {
  /** Its data holds `"delta"`: a content event. */
  content: boolean;
  cutFrom: number;
  cutTo: number;
}

/**
 * One complete event read on its bytes, with what the text path would find:
 * whether its data is content, and where keyward's injected `"usage": null`
 * sits. Undefined when only the text path can tell exactly: the event has
 * several data lines, real usage (or any second `"usage`), may announce a
 * stored object (`"response"`, or a `\u` escape that could spell a key), or
 * whitespace around the field that only a JavaScript `\s` would match.
 */
export function scanEventBytes(event: Buffer): EventFacts | undefined {
  const length = event.byteLength;
  let dataStart = -1;
  let dataEnd = -1;
  for (let line = 0; line < length;) {
    let next = event.indexOf(LF, line);
    if (next === -1) next = length;
    if (startsWith(event, line, DATA)) {
      if (dataStart !== -1) return undefined;
      const end = next > line && event[next - 1] === CR ? next - 1 : next;
      dataStart = line + DATA.byteLength < end && event[line + DATA.byteLength] === SPACE ? line + DATA.byteLength + 1 : line + DATA.byteLength;
      dataEnd = Math.max(dataStart, end);
    }
    line = next + 1;
  }
  const facts: EventFacts = { content: false, cutFrom: 0, cutTo: 0 };
  if (dataStart === -1) return facts;
  if (dataEnd - dataStart === DONE.byteLength && startsWith(event, dataStart, DONE)) return facts;
  facts.content = within(event.indexOf(DELTA, dataStart), DELTA, dataEnd);
  const usage = event.indexOf(USAGE);
  if (usage === -1) return facts;
  // Only `"usage": null`, once, and nothing that could name it otherwise: no usage to read, no object to record.
  if (usage < dataStart || usage + USAGE.byteLength >= dataEnd || event[usage + USAGE.byteLength] !== QUOTE) return undefined;
  if (event.indexOf(USAGE, usage + 1) !== -1) return undefined;
  if (within(event.indexOf(RESPONSE, dataStart), RESPONSE, dataEnd) || within(event.indexOf(UNICODE_ESCAPE, dataStart), UNICODE_ESCAPE, dataEnd))
    return undefined;
  let at = skipBlanks(event, usage + USAGE.byteLength + 1, dataEnd);
  if (event[at] !== COLON) return undefined;
  at = skipBlanks(event, at + 1, dataEnd);
  if (!startsWith(event, at, NULL) || at + NULL.byteLength > dataEnd) return undefined;
  const nullEnd = at + NULL.byteLength;
  // As stripInjectedUsage's expressions: `, "usage": null` first, else `"usage": null,`.
  let before = usage - 1;
  while (before >= 0 && (event[before] === SPACE || event[before] === TAB)) before--;
  if (event[before] === COMMA) {
    facts.cutFrom = before;
    facts.cutTo = nullEnd;
    return facts;
  }
  if (mayBeSpace(event[before])) return undefined;
  const after = skipBlanks(event, nullEnd, length);
  if (event[after] === COMMA) {
    facts.cutFrom = usage;
    facts.cutTo = after + 1;
    return facts;
  }
  return mayBeSpace(event[after]) ? undefined : facts;
}

function startsWith(bytes: Buffer, at: number, prefix: Buffer): boolean {
  return at + prefix.byteLength <= bytes.byteLength && bytes.compare(prefix, 0, prefix.byteLength, at, at + prefix.byteLength) === 0;
}

/** A match found at `at` lies wholly before `end`. */
function within(at: number, pattern: Buffer, end: number): boolean {
  return at !== -1 && at + pattern.byteLength <= end;
}

function skipBlanks(bytes: Buffer, from: number, end: number): number {
  let at = from;
  while (at < end && (bytes[at] === SPACE || bytes[at] === TAB)) at++;
  return at;
}

/** A byte a `\s` could match beyond space and tab (line breaks, vertical tab, form feed, or part of a non-ASCII space). */
function mayBeSpace(byte: number | undefined): boolean {
  return byte !== undefined && (byte === LF || byte === CR || byte === 0x0b || byte === 0x0c || byte >= 0x80);
}

/** The joined `data:` lines of an event, or undefined when it has none. */
export function eventData(event: string): string | undefined {
  let data: string | undefined;
  for (const line of event.split(/\r?\n/)) {
    if (!line.startsWith("data:")) continue;
    const value = line.slice(line.charAt(5) === " " ? 6 : 5);
    data = data === undefined ? value : `${data}\n${value}`;
  }
  return data;
}

const USAGE_NULL_AFTER = /,\s*"usage"\s*:\s*null/g;
const USAGE_NULL_BEFORE = /"usage"\s*:\s*null\s*,/g;

/**
 * Undoes keyward's own `stream_options.include_usage` for a client that did
 * not ask for it: drops the usage-only chunk (`"choices": []`) and the
 * `"usage": null` the provider then adds to every chunk. Textual removal is
 * safe: inside a JSON string those quotes would be escaped.
 */
export function stripInjectedUsage(event: string, data: string | undefined, parsed: Record<string, unknown> | undefined): string {
  if (parsed && Array.isArray(parsed.choices) && parsed.choices.length === 0 && parsed.usage) return "";
  if (data === undefined || !data.includes('"usage"')) return event;
  return event.replace(USAGE_NULL_AFTER, "").replace(USAGE_NULL_BEFORE, "");
}
