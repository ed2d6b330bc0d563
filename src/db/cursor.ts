/**
 * The `next_cursor` formats of keyward's lists, written and read back here
 * only. Lists ordered by `(created_at, id)` use the keyset cursor; lists
 * ordered by an autoincrement id (audit log, request log) use the id cursor.
 */
import type { PageCursor } from "./store.ts";

/** Reads back a cursor a list wrote; `undefined` for any text it did not write. */
export type CursorDecoder<P> = (text: string) => P | undefined;

/** Opaque to clients: base64url of `<createdAt>.<id>`. */
export function encodeCursor(cursor: PageCursor): string {
  return btoa(`${cursor.createdAt}.${cursor.id}`).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** `undefined` for anything that is not a cursor this server produced. */
export function decodeCursor(text: string): PageCursor | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) return undefined;
  let plain: string;
  try {
    plain = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    return undefined;
  }
  // Ids are keyward's own (base62) or a provider's (`file-…`, `batch_…`, `resp_…`).
  const match = /^(\d{1,16})\.([A-Za-z0-9_.:-]{1,128})$/.exec(plain);
  if (!match) return undefined;
  return { createdAt: Number(match[1]), id: match[2] as string };
}

/** The last id shown, as digits: the next page lists ids below it. */
export function encodeIdCursor(id: number): string {
  return String(id);
}

export function decodeIdCursor(text: string): number | undefined {
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

/** Fetches one row more than asked to know whether a next page exists. */
export function pageOf<T extends { createdAt: number; id: string }>(rows: T[], limit: number): { rows: T[]; nextCursor: string | null } {
  if (rows.length <= limit) return { rows, nextCursor: null };
  const page = rows.slice(0, limit);
  const last = page[page.length - 1] as T;
  return { rows: page, nextCursor: encodeCursor({ createdAt: last.createdAt, id: last.id }) };
}

/** `pageOf` for lists ordered by autoincrement id, newest first. */
export function idPageOf<T extends { id: number }>(rows: T[], limit: number): { rows: T[]; nextCursor: string | null } {
  if (rows.length <= limit) return { rows, nextCursor: null };
  const page = rows.slice(0, limit);
  return { rows: page, nextCursor: encodeIdCursor((page[page.length - 1] as T).id) };
}
