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

export function toCsv<K extends string>(columns: readonly K[], rows: ReadonlyArray<Partial<Record<K, CsvValue>>>): string {
  const lines = [columns.join(",")];
  for (const row of rows) lines.push(columns.map((c) => cell(row[c])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}
