import { t } from "elysia";
import type { CursorDecoder } from "../db/cursor.ts";
import { nextTurn, STREAM_CHUNK_ROWS } from "./csv.ts";
import { ApiError } from "./errors.ts";

export const PageQuery = {
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 200, default: 50, description: "Page size (1 to 200)" })),
  cursor: t.Optional(t.String({ maxLength: 200, description: "`next_cursor` from the previous page" })),
};

/**
 * Every list's `cursor` parameter is read here, so a cursor a list did not
 * write gets the same 422 from every list. Absent or empty: the first page.
 */
export function readCursor<P>(text: string | undefined, decode: CursorDecoder<P>): P | undefined {
  if (text === undefined || text === "") return undefined;
  const cursor = decode(text);
  if (cursor === undefined) {
    throw new ApiError({ code: "validation_failed", message: "Cannot read cursor: it is not one this API returned", field: "cursor" });
  }
  return cursor;
}

/** For lists answered in one page (`next_cursor` always null): no cursor is one they wrote. */
export const noCursorWritten: CursorDecoder<never> = () => undefined;

/** Every list answers `{data, next_cursor}`. */
export function pageModel<T extends ReturnType<typeof t.Object>>(item: T, title: string) {
  return t.Object(
    {
      data: t.Array(item),
      next_cursor: t.Union([t.String(), t.Null()], { description: "Pass as `cursor` for the next page; null on the last" }),
    },
    { title },
  );
}

export { iso } from "./time.ts";

/**
 * For names and labels: printable, well-formed text only. Refuses C0 controls,
 * DEL and lone UTF-16 surrogates (SQLite would store those as U+FFFD, so the
 * stored name would differ from the one sent). Written to mean the same with
 * and without the regex `u` flag.
 */
export const NO_CONTROL_CHARS = "^(?:[^\\u0000-\\u001f\\u007f\\ud800-\\udfff]|[\\ud800-\\udbff][\\udc00-\\udfff])+$";

/**
 * A page (`{"data": [...], "next_cursor": …}`) as a streamed JSON response,
 * each item made (`item`) as it is written, a few per turn of the event loop:
 * for answers of hundreds or thousands of items (a minted batch, a page of 200
 * keys), whose views made in one go held the serving thread for milliseconds.
 */
export function pageStream<T>(items: readonly T[], item: (value: T) => unknown, options: { status?: number; nextCursor?: string | null } = {}): Response {
  const { status = 200, nextCursor = null } = options;
  const encoder = new TextEncoder();
  let next = 0;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode('{"data":['));
    },
    async pull(controller) {
      if (next > 0) await nextTurn();
      const parts = items.slice(next, next + STREAM_CHUNK_ROWS).map((value, i) => `${next + i > 0 ? "," : ""}${JSON.stringify(item(value))}`);
      next += STREAM_CHUNK_ROWS;
      if (parts.length > 0) controller.enqueue(encoder.encode(parts.join("")));
      if (next >= items.length) {
        controller.enqueue(encoder.encode(`],"next_cursor":${JSON.stringify(nextCursor)}}`));
        controller.close();
      }
    },
  });
  return new Response(body, { status, headers: { "content-type": "application/json" } });
}
