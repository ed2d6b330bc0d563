import type { ListShape } from "../providers/endpoints.ts";
import type { ObjectOwners } from "../vault/stored-objects.ts";
import type { Authenticated } from "./authenticate.ts";
import { ClientGone, forward } from "./forward.ts";
import type { ProxyRun } from "./run.ts";
import { readUpstream } from "./upstream-body.ts";
import { UpstreamGuard } from "./upstream-guard.ts";

const decoder = new TextDecoder();

/**
 * Upstream pages one list request reads at most while they hold only other
 * keys' objects: a bound on what one client request costs the provider key's
 * rate limits, which every key holder shares.
 */
export const MAX_LIST_PAGES = 8;

/**
 * A provider's list page, filtered to the caller's objects. The official
 * SDKs stop paginating at an empty page whatever its cursor says, so a page
 * holding only other keys' objects is not answered: keyward reads on from
 * the provider's cursor until a page holds some of the caller's objects, the
 * provider has no more, or MAX_LIST_PAGES were read. The answer is the last
 * page read, its objects those of every page read, its cursor (`last_id`,
 * `nextPageToken`…) where keyward stopped reading, and its first object's id
 * the first page's. Returns the page and the caller's objects in it.
 */
export async function ownedList(
  run: ProxyRun,
  owners: ObjectOwners,
  firstPage: Record<string, unknown>,
  shape: ListShape,
): Promise<{ page: Record<string, unknown>; items: unknown[] }> {
  const auth = run.trace.auth as Authenticated;
  const mine = (page: Record<string, unknown>): unknown[] => ownedItems(page, shape, owners, auth);
  const readAfter = pageReader(run, shape);
  const items = mine(firstPage);
  let page = firstPage;
  let read = 1;
  for (; readAfter && items.length === 0 && read < MAX_LIST_PAGES; read++) {
    const next = await readAfter(page);
    if (!next) break;
    page = next;
    items.push(...mine(page));
  }
  const answer: Record<string, unknown> = { ...page, [shape.items]: items };
  if (shape.first !== undefined && page !== firstPage) answer[shape.first] = firstPage[shape.first] ?? null;
  if (readAfter && shape.lookahead && items.length > 0) {
    // Where the caller's next object is: the cursor given leads to the page that holds it, or is none at all.
    let leading = page;
    for (; read < MAX_LIST_PAGES && nextCursor(leading, shape); read++) {
      const next = await readAfter(leading);
      if (!next || mine(next).length > 0) break;
      leading = next;
    }
    setCursor(answer, leading, shape);
  }
  return { page: answer, items };
}

/** Reads the page after a given one, from the same upstream; undefined when a list is paged backwards (never read on). */
function pageReader(run: ProxyRun, shape: ListShape): ((page: Record<string, unknown>) => Promise<Record<string, unknown> | undefined>) | undefined {
  const upstream = run.upstreamRequest;
  if (!upstream) return undefined;
  const url = new URL(upstream.url);
  if (shape.backwards !== undefined && url.searchParams.has(shape.backwards)) return undefined;
  return async (page) => {
    const cursor = nextCursor(page, shape);
    if (!cursor) return undefined;
    for (const { param } of shape.next) url.searchParams.delete(param);
    url.searchParams.set(cursor.param, cursor.value);
    return readPage(run, upstream, url.toString());
  };
}

/** The answer's cursor becomes `from`'s; none when `from` is the provider's last page. */
function setCursor(answer: Record<string, unknown>, from: Record<string, unknown>, shape: ListShape): void {
  const more = nextCursor(from, shape) !== undefined;
  for (const { field } of shape.next) {
    if (more && from[field] !== undefined) answer[field] = from[field];
    else delete answer[field];
  }
  if (shape.more !== undefined) answer[shape.more] = more;
}

/** The page's objects that the caller created through keyward. */
function ownedItems(page: Record<string, unknown>, shape: ListShape, owners: ObjectOwners, auth: Authenticated): unknown[] {
  const listed = page[shape.items];
  if (!Array.isArray(listed)) return [];
  const ids = listed.map((item: unknown) => {
    const id = typeof item === "object" && item !== null ? (item as Record<string, unknown>)[shape.id] : undefined;
    return typeof id === "string" ? id : "";
  });
  const owned = owners.owned(auth.providerKey.row.id, auth.proxyKey.id, ids.filter(Boolean));
  return listed.filter((_: unknown, i: number) => owned.has(ids[i] ?? ""));
}

/** Where the next page starts, if the page says more follow. */
function nextCursor(page: Record<string, unknown>, shape: ListShape): { param: string; value: string } | undefined {
  if (shape.more !== undefined && page[shape.more] !== true) return undefined;
  for (const { field, param } of shape.next) {
    const value = page[field];
    if (typeof value === "string" && value !== "") return { param, value };
  }
  return undefined;
}

/**
 * One more page, from the same upstream with the same headers. A page that
 * cannot be read ends the reading (the client follows the cursor from the
 * last page read); a client that left ends the request.
 */
async function readPage(run: ProxyRun, upstream: NonNullable<ProxyRun["upstreamRequest"]>, url: string): Promise<Record<string, unknown> | undefined> {
  const guard = new UpstreamGuard(upstream.clientSignal, run.deps.upstreamTimeoutMs);
  try {
    const response = await forward({ url, method: "GET", headers: upstream.headers }, { fetch: run.deps.fetch, guard });
    if (response.status !== 200 || !(response.headers.get("content-type") ?? "").includes("json")) {
      await response.body?.cancel();
      return undefined;
    }
    const value: unknown = JSON.parse(decoder.decode(await readUpstream(response, guard)));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch (err) {
    if (err instanceof ClientGone || guard.clientGone) throw new ClientGone();
    return undefined;
  } finally {
    guard.release();
  }
}
