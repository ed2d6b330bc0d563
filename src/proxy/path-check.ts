/**
 * The path after `/v1` is appended to the provider key's base URL as sent,
 * so it must mean the same to every server that reads it. An upstream (or a
 * proxy in front of it) that decodes `%2F`, `%5C` or `%2e%2e` before
 * resolving dot segments would otherwise be walked out of its base path, and
 * a provider's path allow-list could be passed with `messages/..%2f..%2fx`.
 * Runtimes already resolve plain and `%2e` dot segments in the URL they hand
 * over (Bun does); they are checked here too, so no runtime is trusted to.
 */

const SLASH = 47;
const BACKSLASH = 92;
const PERCENT = 37;
const DOT = 46;
const QUERY = 63;
const FRAGMENT = 35;

/** Lower-cases an ASCII letter's code; leaves anything else alone. */
const lower = (code: number) => code | 0x20;

/** `%2e` or `%2E` at `i`. */
function encodedDotAt(url: string, i: number): boolean {
  return url.charCodeAt(i) === PERCENT && url.charCodeAt(i + 1) === 50 /* "2" */ && lower(url.charCodeAt(i + 2)) === 101; /* "e" */
}

/** `url[from, to)` is `.` or `..`, each dot plain or `%2e` in any case. */
function isDotSegment(url: string, from: number, to: number): boolean {
  let dots = 0;
  for (let i = from; i < to; dots++) {
    if (url.charCodeAt(i) === DOT) i += 1;
    else if (encodedDotAt(url, i)) i += 3;
    else return false;
  }
  return dots === 1 || dots === 2;
}

/**
 * Why the path of `url` from `start` (the `/` after `/v1`) up to its query
 * cannot be forwarded, or undefined when it can. The query is not looked at.
 * Allocation-free, one pass: it runs on every proxied request.
 */
export function unsafePathReason(url: string, start: number): string | undefined {
  let segment = start + 1;
  for (let i = segment; ; i++) {
    const code = i < url.length ? url.charCodeAt(i) : QUERY;
    if (code === SLASH || code === QUERY || code === FRAGMENT) {
      if (code === SLASH && i === segment) return "the path after /v1 has an empty segment (//)";
      if (isDotSegment(url, segment, i)) return "the path after /v1 has a dot segment (. or ..)";
      if (code !== SLASH) return undefined;
      segment = i + 1;
    } else if (code === BACKSLASH) {
      return "the path after /v1 has a backslash";
    } else if (code === PERCENT && url.charCodeAt(i + 1) === 50 /* "2" */ && lower(url.charCodeAt(i + 2)) === 102 /* "f" */) {
      return "the path after /v1 has an encoded slash (%2F)";
    } else if (code === PERCENT && url.charCodeAt(i + 1) === 53 /* "5" */ && lower(url.charCodeAt(i + 2)) === 99 /* "c" */) {
      return "the path after /v1 has an encoded backslash (%5C)";
    }
  }
}
