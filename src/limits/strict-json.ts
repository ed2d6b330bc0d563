/**
 * Strict reading of a request body for keys with limits.
 *
 * keyward bounds a request's cost from what it parsed, then forwards
 * `JSON.stringify` of that value, so the provider reads exactly what keyward
 * read. What JSON leaves open is an object whose key repeats: `JSON.parse`
 * keeps the last value, a provider written in another language may keep the
 * first, and `{"max_tokens":1,"max_tok\u0065ns":9}` hides the repeat from any
 * byte-level check. Such bodies are refused, with keys compared after
 * unescaping, at every depth.
 *
 * Cost: most of a body is prompt text inside strings. The value comes from
 * native `JSON.parse`; the duplicate check is a separate pass that relies on
 * the text being valid JSON (it already parsed) and jumps over each string with
 * `indexOf('"')`, so only the structure between strings is read in JS.
 */

export type StrictParse = { ok: true; value: unknown } | { ok: false; message: string; field?: string };

/**
 * Deepest nesting accepted. JSC's `JSON.parse` is iterative and reads millions
 * of levels, but `JSON.stringify`, which builds the forwarded body, is
 * recursive and throws RangeError near 40,000 levels (less on a deeper stack);
 * Python's `json` gives up near 1,000. No provider's request shape comes close
 * to 512 (OpenAI's structured-output schemas stop at 10 levels).
 */
export const MAX_JSON_DEPTH = 512;

const NOT_JSON = "Cannot read request: body is not valid JSON";
const TOO_DEEP = `Cannot read request: body is nested more than ${MAX_JSON_DEPTH} levels deep`;
const TOO_BIG = "Cannot read request: body is too large or too deeply nested to parse";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

/** Objects with at most this many keys are checked by a linear scan, which beats hashing every key into a Set. */
const LINEAR_KEYS = 8;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** Keys longer than this are cut in paths: a path goes into an error message and a log line. */
const PATH_KEY_CHARS = 64;

/** `path` extended by an object key or an array index, in the `messages[2].content[0].type` form. */
export function joinPath(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  const shown = key.length > PATH_KEY_CHARS ? `${key.slice(0, PATH_KEY_CHARS)}…` : key;
  if (IDENTIFIER.test(shown)) return path === "" ? shown : `${path}.${shown}`;
  return `${path}[${JSON.stringify(shown)}]`;
}

/**
 * `JSON.parse` that refuses what two parsers could read differently: repeated
 * keys and nesting past MAX_JSON_DEPTH. Never throws; `field` names the
 * repeated key's path.
 */
export function parseStrictJson(text: string): StrictParse {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // JSC parses nesting iteratively, so this RangeError means memory ran out; an engine that recursed would throw it on depth.
    return { ok: false, message: error instanceof RangeError ? TOO_BIG : NOT_JSON };
  }
  // A bare string, number or literal has no keys to repeat.
  if (typeof value !== "object" || value === null) return { ok: true, value };
  let problem: { ok: false; message: string; field?: string } | undefined;
  try {
    problem = scanStructure(text);
  } catch {
    // The scan only reads text that already parsed; a throw would be a bug here, and refusing beats forwarding unchecked.
    return { ok: false, message: "Cannot read request: body could not be checked for repeated keys" };
  }
  return problem ?? { ok: true, value };
}

/**
 * One pass over text that is known to be valid JSON. Per open container it
 * keeps whether it is an object, the key or index currently being read (for
 * the path in an error) and, for objects, the keys seen so far. Key storage is
 * per depth and reused by sibling objects, so memory follows depth, not size.
 *
 * Small objects (nearly all of a chat body: messages, content parts) keep
 * each key as its position plus its length and end characters, with no string
 * made; two keys are sliced and compared only when those match. A key is
 * decoded only when it holds a backslash, and finding those costs one
 * `indexOf` pass over the whole text, not a loop per key. Objects with more
 * keys move to a Set of strings.
 */
function scanStructure(text: string): { ok: false; message: string; field?: string } | undefined {
  try {
    return scanWith(text);
  } finally {
    // Escaped keys are the only strings kept between calls; drop them so no part of a body outlives its request.
    if (keptDecoded) decoded.fill(undefined);
    keptDecoded = false;
  }
}

// Scan state, allocated once: the scan is synchronous and calls out to nothing that could re-enter it.
const isObject = new Uint8Array(MAX_JSON_DEPTH);
/** Per depth: the index being read in an array, or where the current key starts in an object. */
const member = new Float64Array(MAX_JSON_DEPTH);
const keyCount = new Int32Array(MAX_JSON_DEPTH);
// Per depth, LINEAR_KEYS slots each: the key's hash, where it starts and ends in text, and its unescaped form when it had escapes.
const hashes = new Int32Array(MAX_JSON_DEPTH * LINEAR_KEYS);
const starts = new Float64Array(MAX_JSON_DEPTH * LINEAR_KEYS);
const ends = new Float64Array(MAX_JSON_DEPTH * LINEAR_KEYS);
const decoded: (string | undefined)[] = Array.from({ length: MAX_JSON_DEPTH * LINEAR_KEYS }, () => undefined);
let keptDecoded = false;

function scanWith(text: string): { ok: false; message: string; field?: string } | undefined {
  const length = text.length;
  let largeKeys: (Set<string> | undefined)[] | undefined;
  let nextEscape = -1;
  let depth = -1;
  let expectKey = false;
  let i = 0;
  while (i < length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let end = text.indexOf('"', i + 1);
      // Cannot happen in text that parsed; stop rather than loop if it ever does.
      if (end < 0) return undefined;
      // A quote preceded by an odd run of backslashes is escaped, so the string goes on.
      while (text.charCodeAt(end - 1) === BACKSLASH && escaped(text, end)) {
        end = text.indexOf('"', end + 1);
        if (end < 0) return undefined;
      }
      if (expectKey) {
        expectKey = false;
        const count = keyCount[depth] ?? 0;
        let unescaped: string | undefined;
        // The next backslash at or after i, looked up again only once passed, so finding them all costs one pass.
        if (nextEscape < i) {
          nextEscape = text.indexOf("\\", i);
          if (nextEscape < 0) nextEscape = length;
        }
        let hash: number;
        if (nextEscape < end) {
          unescaped = JSON.parse(text.slice(i, end + 1)) as string;
          hash = hashOf(unescaped);
          keptDecoded = true;
        } else {
          // As hashOf, read in place.
          const size = end - i - 1;
          hash = size === 0 ? 0 : (size << 16) ^ (text.charCodeAt(i + 1) << 8) ^ text.charCodeAt(end - 1);
        }
        let seen: string | undefined;
        if (count < LINEAR_KEYS) {
          const base = depth * LINEAR_KEYS;
          for (let k = 0; k < count; k++) {
            if (hashes[base + k] !== hash) continue;
            const mine = unescaped ?? text.slice(i + 1, end);
            const theirs = decoded[base + k] ?? text.slice((starts[base + k] ?? 0) + 1, ends[base + k]);
            if (mine === theirs) {
              seen = mine;
              break;
            }
          }
          hashes[base + count] = hash;
          starts[base + count] = i;
          ends[base + count] = end;
          decoded[base + count] = unescaped;
        } else {
          const key = unescaped ?? text.slice(i + 1, end);
          largeKeys ??= [];
          let set = largeKeys[depth];
          if (count === LINEAR_KEYS) {
            if (set) set.clear();
            else largeKeys[depth] = set = new Set();
            const base = depth * LINEAR_KEYS;
            for (let k = 0; k < LINEAR_KEYS; k++) set.add(decoded[base + k] ?? text.slice((starts[base + k] ?? 0) + 1, ends[base + k]));
          }
          if (set?.has(key)) seen = key;
          else set?.add(key);
        }
        if (seen !== undefined) return duplicate(text, depth, seen);
        keyCount[depth] = count + 1;
        // The path is only needed on error, so the key is kept as a position until then.
        member[depth] = i;
      }
      i = end + 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      if (depth >= MAX_JSON_DEPTH) return { ok: false, message: TOO_DEEP };
      const object = c === OPEN_BRACE;
      isObject[depth] = object ? 1 : 0;
      keyCount[depth] = 0;
      member[depth] = 0;
      expectKey = object;
      i++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
      expectKey = false;
      i++;
    } else if (c === COMMA) {
      if (isObject[depth]) expectKey = true;
      else member[depth] = (member[depth] ?? 0) + 1;
      i++;
    } else {
      i++;
    }
  }
  return undefined;
}

/** Length, first and last character: enough to tell apart nearly all keys of one object without making strings. */
function hashOf(key: string): number {
  return key.length === 0 ? 0 : (key.length << 16) ^ (key.charCodeAt(0) << 8) ^ key.charCodeAt(key.length - 1);
}

function escaped(text: string, quote: number): boolean {
  let run = 0;
  for (let j = quote - 1; text.charCodeAt(j) === BACKSLASH; j--) run++;
  return run % 2 === 1;
}

/** The string whose opening quote is at `start`, unescaped. */
function stringAt(text: string, start: number): string {
  let end = text.indexOf('"', start + 1);
  while (end > 0 && text.charCodeAt(end - 1) === BACKSLASH && escaped(text, end)) end = text.indexOf('"', end + 1);
  return JSON.parse(text.slice(start, end + 1)) as string;
}

/** The path down to (not including) the container at `depth`. */
function pathOf(text: string, depth: number): string {
  let path = "";
  for (let d = 0; d < depth; d++) path = joinPath(path, isObject[d] ? stringAt(text, member[d] ?? 0) : (member[d] ?? 0));
  return path;
}

function duplicate(text: string, depth: number, key: string): { ok: false; message: string; field: string } {
  const where = pathOf(text, depth);
  const shown = JSON.stringify(key.length > PATH_KEY_CHARS ? `${key.slice(0, PATH_KEY_CHARS)}…` : key);
  return {
    ok: false,
    message: where === "" ? `Cannot read request: key ${shown} appears twice` : `Cannot read request: key ${shown} appears twice in ${where}`,
    field: joinPath(where, key),
  };
}
