/**
 * Where the path starts in a server request's URL, whatever the Host header
 * said. Bun builds `request.url` as `scheme://<Host header><path>` and, when
 * the Host header is empty or cannot be an authority (it holds `/`, `?`, `@`,
 * a space…), gives the path alone (`/v1/models`). Routing reads the path from
 * here, so a client's Host can never move it.
 */

/** Index of the path in `url` (`scheme://authority/path` or `/path`), -1 if it has none. No allocation: this runs per request. */
export function pathStart(url: string): number {
  if (url.charCodeAt(0) === 47 /* "/" */) return 0;
  const scheme = url.indexOf("://");
  // An authority holds no "/": the first one after it starts the path.
  return scheme < 0 ? -1 : url.indexOf("/", scheme + 3);
}

/** The path of a request URL, without its query string. */
export function pathOf(url: string): string {
  const start = pathStart(url);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}

/**
 * Elysia's router takes the path to start at the first "/" from index 11
 * (`http://` plus a host of at least four characters), so a shorter Host
 * ("a", "ab:1") or a URL that is only a path would route another path than
 * the one the access line records.
 */
const ELYSIA_PATH_FROM = 11;

/** A placeholder host (RFC 2606's reserved `.invalid`): nothing in keyward reads the host from the URL. */
const STANDARD_ORIGIN = "http://keyward.invalid";

/**
 * The request as the routers expect it: unchanged for any ordinary Host
 * (no cost), rebuilt with a placeholder host when the Host header would make
 * Elysia route another path than the one requested. The body is passed on, not read.
 */
export function routableRequest(request: Request): Request {
  const start = pathStart(request.url);
  if (start >= ELYSIA_PATH_FROM || start < 0) return request;
  return new Request(STANDARD_ORIGIN + request.url.slice(start), request);
}
