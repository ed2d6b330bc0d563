/**
 * Reading form controls into API bodies. The API validates everything; these
 * helpers only turn what was typed into the JSON types it expects, so its own
 * error message (not a guess here) is what the user sees for a wrong value.
 */

export const value = (form: HTMLFormElement, name: string): string => {
  const el = form.elements.namedItem(name);
  return el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement ? el.value.trim() : "";
};

/** A number field: undefined when empty. */
export const num = (form: HTMLFormElement, name: string): number | undefined => {
  const v = value(form, name);
  return v === "" ? undefined : Number(v);
};

/** The values of the checked checkboxes named `name`. */
export const checked = (form: HTMLFormElement, name: string): string[] =>
  [...form.querySelectorAll<HTMLInputElement>(`input[type="checkbox"][name="${name}"]`)].filter((el) => el.checked).map((el) => el.value);

export const isChecked = (form: HTMLFormElement, name: string): boolean => {
  const el = form.elements.namedItem(name);
  return el instanceof HTMLInputElement && el.checked;
};

/** "a, b ,c" → ["a", "b", "c"]; empty → []. */
export const splitList = (text: string): string[] =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");

/** A comma-separated list field: undefined when empty. */
export const list = (form: HTMLFormElement, name: string): string[] | undefined => {
  const items = splitList(value(form, name));
  return items.length === 0 ? undefined : items;
};

/** `<input type="datetime-local">` read as UTC (the console shows every time in UTC). */
export const utcInput = (iso: string | null): string => (iso ? iso.slice(0, 16) : "");
export const fromUtcInput = (text: string): string | null => (text ? `${text.length === 16 ? `${text}:00` : text}Z` : null);

/**
 * What changed between a field's stored value and the form's: `undefined` for
 * nothing (left out of the PATCH), `null` for a field emptied (the API removes
 * the setting), else the new value.
 */
export function changed<T>(before: T | null, after: T | undefined, same: (a: T, b: T) => boolean = (a, b) => a === b): T | null | undefined {
  if (after === undefined) return before === null ? undefined : null;
  return before !== null && same(before, after) ? undefined : after;
}

export const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Leaves out the fields a PATCH does not change. */
export function defined(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}
