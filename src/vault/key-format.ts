/**
 * Key formats shared by proxy keys (`kwp_`) and admin tokens (`kwa_`).
 *
 * `kw<kind>_<id>_<secret><crc>`: the id is public and indexed, the secret is
 * ~190 bits from a CSPRNG, and the CRC32 suffix (GitHub's scheme) lets us and
 * secret scanners reject typos and random strings without any lookup.
 */

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export const KEY_ID_LENGTH = 12;
export const KEY_SECRET_LENGTH = 32;
const CRC_LENGTH = 6;

export type KeyKind = "proxy" | "admin";
const PREFIX: Record<KeyKind, string> = { proxy: "kwp", admin: "kwa" };

/** Regexes documented in README for secret scanners. */
export const KEY_PATTERNS: Record<KeyKind, RegExp> = {
  proxy: /^kwp_([0-9A-Za-z]{12})_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$/,
  admin: /^kwa_([0-9A-Za-z]{12})_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$/,
};

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32 (IEEE 802.3, as zlib computes it) of the UTF-8 bytes of `text`. */
export function crc32(text: string): number {
  // Keys are ASCII, where UTF-8 bytes are the char codes: skip the encoder on the hot path.
  // oxlint-disable-next-line no-control-regex -- the ASCII range starts at NUL on purpose
  const bytes = /^[\x00-\x7f]*$/.test(text) ? undefined : new TextEncoder().encode(text);
  const length = bytes ? bytes.length : text.length;
  let crc = 0xffffffff;
  for (let i = 0; i < length; i++) {
    const byte = bytes ? (bytes[i] as number) : text.charCodeAt(i);
    // Index is always 0..255 thanks to the mask.
    crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Base62, most significant digit first, left-padded with `0`. */
export function toBase62(value: number, width: number): string {
  let out = "";
  let rest = value;
  while (rest > 0) {
    out = BASE62[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out.padStart(width, "0");
}

/** Uniform base62 string from a CSPRNG (rejection sampling avoids modulo bias). */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    const bytes = crypto.getRandomValues(new Uint8Array(length * 2));
    for (const byte of bytes) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

export function checksum(body: string): string {
  return toBase62(crc32(body), CRC_LENGTH);
}

export interface ParsedKey {
  kind: KeyKind;
  id: string;
  secret: string;
  token: string;
}

/** Builds a fresh key of the given kind. */
export function generateKey(kind: KeyKind, id = randomBase62(KEY_ID_LENGTH)): ParsedKey {
  const secret = randomBase62(KEY_SECRET_LENGTH);
  const body = `${PREFIX[kind]}_${id}_${secret}`;
  return { kind, id, secret, token: body + checksum(body) };
}

/**
 * Checks shape and checksum without I/O; `undefined` means "not a key of
 * this kind", so callers can refuse it before touching any cache or database.
 */
export function parseKey(kind: KeyKind, token: string): ParsedKey | undefined {
  if (token.length !== 4 + KEY_ID_LENGTH + 1 + KEY_SECRET_LENGTH + CRC_LENGTH) return undefined;
  const match = KEY_PATTERNS[kind].exec(token);
  if (!match) return undefined;
  const [, id, secret, crc] = match as unknown as [string, string, string, string];
  if (checksum(token.slice(0, token.length - CRC_LENGTH)) !== crc) return undefined;
  return { kind, id, secret, token };
}

/**
 * The id of a token shaped like a key of `kind`, with nothing else checked:
 * enough to look up a verified-secret cache entry, which only a token that
 * passed `parseKey` (and argon2) can match. Lets a known key skip the regex
 * and checksum on every request.
 */
export function keyIdOf(kind: KeyKind, token: string): string | undefined {
  if (token.length !== 4 + KEY_ID_LENGTH + 1 + KEY_SECRET_LENGTH + CRC_LENGTH || !token.startsWith(`${PREFIX[kind]}_`)) return undefined;
  return token.slice(4, 4 + KEY_ID_LENGTH);
}

/** `kwp_<id>_…<last4>`: enough to recognise a key, useless to an attacker. */
export function keyHint(key: ParsedKey): string {
  return `${PREFIX[key.kind]}_${key.id}_…${key.token.slice(-4)}`;
}

/** Hint for provider keys: the vendor prefix and the last four characters. */
export function providerKeyHint(secret: string): string {
  const trimmed = secret.trim();
  const dash = trimmed.indexOf("-");
  const prefix = dash > 0 && dash <= 8 ? trimmed.slice(0, dash + 1) : "";
  const last4 = trimmed.length >= 12 ? trimmed.slice(-4) : "";
  return `${prefix}…${last4}`;
}
