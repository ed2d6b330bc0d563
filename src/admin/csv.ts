/** What a cell can hold: values with one obvious text form. */
type CsvValue = string | number | boolean | null | undefined;

/**
 * RFC 4180 CSV. Cells that a spreadsheet would run as a formula (`=`, `+`,
 * `-`, `@` first) are prefixed with `'`, since these files get opened in
 * spreadsheets for mail merges.
 */
function cell(value: CsvValue): string {
  let text = value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Rows made and written per turn of the event loop when a response is
 * streamed: each row of a minted batch reads its budget (and its provider
 * key, once per batch), so a hundred at once held the serving thread longer
 * than a proxied request should wait (test/bench/README.md).
 */
export const STREAM_CHUNK_ROWS = 25;

/** One turn of the event loop: requests waiting to be served go first. */
export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * RFC 4180 CSV with a header line, streamed: rows are made (`row`) and written a
 * chunk at a time, with a turn of the event loop between chunks, so a
 * thousand keys never hold the thread that serves requests in one piece.
 */
export function csvStream<T, K extends string>(
  columns: readonly K[],
  items: readonly T[],
  row: (item: T) => Partial<Record<K, CsvValue>>,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let next = 0;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(`${columns.join(",")}\r\n`));
    },
    async pull(controller) {
      if (next > 0) await nextTurn();
      const lines: string[] = [];
      for (const item of items.slice(next, next + STREAM_CHUNK_ROWS)) {
        const values = row(item);
        lines.push(`${columns.map((c) => cell(values[c])).join(",")}\r\n`);
      }
      next += STREAM_CHUNK_ROWS;
      if (lines.length > 0) controller.enqueue(encoder.encode(lines.join("")));
      if (next >= items.length) controller.close();
    },
  });
}
