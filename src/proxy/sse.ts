/**
 * Incremental Server-Sent Events splitting that keeps each event's bytes as
 * the provider wrote them. A general SSE parser (eventsource-parser) rebuilds
 * events from fields, which would change bytes on the way to the client;
 * here events are only located, and parsed only when they can carry usage.
 */

/** Splits text into complete events (each including its blank-line terminator) and a remainder. */
export function splitEvents(buffer: string): { events: string[]; rest: string } {
  const events: string[] = [];
  let start = 0;
  for (;;) {
    const lf = buffer.indexOf("\n\n", start);
    const crlf = buffer.indexOf("\r\n\r\n", start);
    let end: number;
    if (lf === -1 && crlf === -1) break;
    if (crlf !== -1 && (lf === -1 || crlf < lf)) end = crlf + 4;
    else end = lf + 2;
    events.push(buffer.slice(start, end));
    start = end;
  }
  return { events, rest: buffer.slice(start) };
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
