import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as zlib from "node:zlib";
import { keyIdOf, checksum, crc32, generateKey, KEY_PATTERNS, keyHint, parseKey, providerKeyHint, randomBase62, toBase62 } from "../../src/vault/key-format.ts";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Independent reference: base62 via BigInt, MSB first, left-padded with "0". */
function refBase62(value: number, width: number): string {
  let n = BigInt(value);
  let out = "";
  do {
    out = ALPHABET[Number(n % 62n)] + out;
    n /= 62n;
  } while (n > 0n);
  return out.padStart(width, "0");
}

/** zlib's CRC32 when the runtime has it (Bun does), else undefined. */
const zlibCrc32 = (zlib as unknown as { crc32?: (data: string | Uint8Array) => number }).crc32;

function refChecksum(body: string): string {
  const crc = zlibCrc32 ? zlibCrc32(Buffer.from(body, "utf8")) : crc32(body);
  return refBase62(crc >>> 0, 6);
}

/** Replaces the character at `index` with a different base62 character. */
function flipAt(text: string, index: number): string {
  const current = text[index] as string;
  const replacement = current === "A" ? "B" : "A";
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

describe("crc32", () => {
  test("matches the IEEE check value", () => {
    // Top bit set: the result must be unsigned, not a negative int32.
    expect(crc32("123456789")).toBe(0xcbf43926);
    expect(crc32("")).toBe(0);
  });

  test("matches zlib.crc32 over the UTF-8 bytes", () => {
    expect(typeof zlibCrc32).toBe("function");
    const samples = [
      "a",
      "The quick brown fox jumps over the lazy dog",
      "kwp_AAAAAAAAAAAA_0123456789abcdefghijABCDEFGHIJxy",
      "héllo wörld ✓ 😀 中文",
      "\u0000\u00ff",
      "x".repeat(10_000),
    ];
    for (const text of samples) {
      expect(crc32(text)).toBe((zlibCrc32 as (d: Uint8Array) => number)(Buffer.from(text, "utf8")) >>> 0);
    }
  });
});

describe("base62", () => {
  test("uses 0-9A-Za-z, most significant digit first, left-padded with 0", () => {
    expect(toBase62(0, 6)).toBe("000000");
    expect(toBase62(9, 6)).toBe("000009");
    expect(toBase62(10, 6)).toBe("00000A");
    expect(toBase62(35, 6)).toBe("00000Z");
    expect(toBase62(36, 6)).toBe("00000a");
    expect(toBase62(61, 6)).toBe("00000z");
    expect(toBase62(62, 6)).toBe("000010");
    expect(toBase62(62 * 62 + 1, 6)).toBe("000101");
    expect(toBase62(0xffffffff, 6)).toBe("4gfFC3");
  });

  test("agrees with an independent implementation", () => {
    for (const value of [1, 61, 62, 3843, 3844, 0x7fffffff, 0x80000000, 0xcbf43926, 0xffffffff]) {
      expect(toBase62(value, 6)).toBe(refBase62(value, 6));
    }
  });

  test("randomBase62 draws from the whole alphabet and nothing else", () => {
    const sample = randomBase62(20_000);
    expect(sample).toHaveLength(20_000);
    expect(sample).toMatch(/^[0-9A-Za-z]+$/);
    expect(new Set(sample).size).toBe(62);
  });
});

describe("checksum", () => {
  test("is base62(CRC32(body)) in 6 characters", () => {
    const body = "kwp_AAAAAAAAAAAA_0123456789abcdefghijABCDEFGHIJxy";
    expect(checksum(body)).toBe("0o1i5p");
    expect(checksum(body)).toBe(refChecksum(body));
    expect(checksum("kwa_000000000000_" + "z".repeat(32))).toBe("2cYPIR");
  });

  test("a hand-built key with the right checksum parses", () => {
    const body = "kwp_AAAAAAAAAAAA_0123456789abcdefghijABCDEFGHIJxy";
    const parsed = parseKey("proxy", `${body}0o1i5p`);
    expect(parsed).toEqual({
      kind: "proxy",
      id: "AAAAAAAAAAAA",
      secret: "0123456789abcdefghijABCDEFGHIJxy",
      token: `${body}0o1i5p`,
    });
  });
});

describe("generateKey / parseKey", () => {
  test("proxy keys have the documented shape and checksum", () => {
    const key = generateKey("proxy");
    expect(key.token).toMatch(/^kwp_[0-9A-Za-z]{12}_[0-9A-Za-z]{32}[0-9A-Za-z]{6}$/);
    expect(key.token).toHaveLength(4 + 12 + 1 + 32 + 6);
    expect(key.token.slice(4, 16)).toBe(key.id);
    expect(key.token.slice(17, 49)).toBe(key.secret);
    expect(key.token.slice(-6)).toBe(refChecksum(key.token.slice(0, -6)));
  });

  test("admin tokens use kwa_", () => {
    const key = generateKey("admin");
    expect(key.token).toMatch(/^kwa_[0-9A-Za-z]{12}_[0-9A-Za-z]{32}[0-9A-Za-z]{6}$/);
    expect(key.token.slice(-6)).toBe(refChecksum(key.token.slice(0, -6)));
  });

  test("a preset id is kept", () => {
    const key = generateKey("admin", "abcdefABCDEF");
    expect(key.id).toBe("abcdefABCDEF");
    expect(key.token.startsWith("kwa_abcdefABCDEF_")).toBe(true);
    expect(parseKey("admin", key.token)?.id).toBe("abcdefABCDEF");
  });

  test("generated keys are unique and parse back to the same parts", () => {
    const ids = new Set<string>();
    const secrets = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const kind = i % 2 === 0 ? "proxy" : "admin";
      const key = generateKey(kind);
      ids.add(key.id);
      secrets.add(key.secret);
      expect(parseKey(kind, key.token)).toEqual(key);
    }
    expect(ids.size).toBe(500);
    expect(secrets.size).toBe(500);
  });

  test("rejects the wrong length", () => {
    const { token } = generateKey("proxy");
    expect(parseKey("proxy", token.slice(0, -1))).toBeUndefined();
    expect(parseKey("proxy", `${token}A`)).toBeUndefined();
    expect(parseKey("proxy", "")).toBeUndefined();
    expect(parseKey("proxy", ` ${token}`)).toBeUndefined();
    expect(parseKey("proxy", `${token}\n`)).toBeUndefined();
  });

  test("rejects the wrong prefix, even with a matching checksum", () => {
    const admin = generateKey("admin");
    const proxy = generateKey("proxy");
    expect(parseKey("proxy", admin.token)).toBeUndefined();
    expect(parseKey("admin", proxy.token)).toBeUndefined();
    for (const prefix of ["kwx", "KWP", "kwp-"]) {
      const body = `${prefix}_${proxy.id}_${proxy.secret}`.slice(0, 49);
      expect(parseKey("proxy", body + refChecksum(body))).toBeUndefined();
    }
  });

  test("rejects a flipped checksum character at every position", () => {
    const { token } = generateKey("proxy");
    for (let i = token.length - 6; i < token.length; i++) {
      expect(parseKey("proxy", flipAt(token, i))).toBeUndefined();
    }
  });

  test("rejects a flipped secret or id character at every position", () => {
    const { token } = generateKey("admin");
    for (let i = 4; i < token.length - 6; i++) {
      if (i === 16) continue; // the separator
      expect(parseKey("admin", flipAt(token, i))).toBeUndefined();
    }
  });

  test("rejects non-base62 characters even when the checksum matches", () => {
    const { id, secret } = generateKey("proxy");
    const bodies = [
      `kwp_${id.slice(0, 11)}-_${secret}`,
      `kwp_${id}_${secret.slice(0, 31)}+`,
      `kwp_${id}_${secret.slice(0, 31)}é`,
      `kwp_${id}_${secret.slice(0, 31)} `,
      `kwp_${id}-${secret}`,
    ];
    for (const body of bodies) {
      expect(body).toHaveLength(49);
      expect(parseKey("proxy", body + refChecksum(body))).toBeUndefined();
    }
    // A valid body with a checksum containing a non-base62 character.
    const body = `kwp_${id}_${secret}`;
    expect(parseKey("proxy", `${body}${refChecksum(body).slice(0, 5)}_`)).toBeUndefined();
  });
});

describe("keyIdOf (the verified-secret cache's fast path)", () => {
  test("gives the id of any token with a key's prefix and length, valid or not", () => {
    const key = generateKey("proxy");
    expect(keyIdOf("proxy", key.token)).toBe(key.id);
    // Nothing beyond shape is checked: such a token still has to match a cached SHA-256.
    const tampered = `${key.token.slice(0, -1)}${key.token.endsWith("A") ? "B" : "A"}`;
    expect(parseKey("proxy", tampered)).toBeUndefined();
    expect(keyIdOf("proxy", tampered)).toBe(key.id);
  });

  test("refuses other kinds, prefixes and lengths", () => {
    const proxy = generateKey("proxy");
    const admin = generateKey("admin");
    expect(keyIdOf("proxy", admin.token)).toBeUndefined();
    expect(keyIdOf("admin", admin.token)).toBe(admin.id);
    expect(keyIdOf("proxy", proxy.token.slice(1))).toBeUndefined();
    expect(keyIdOf("proxy", `${proxy.token}x`)).toBeUndefined();
    expect(keyIdOf("proxy", `kwpx${proxy.token.slice(4)}`)).toBeUndefined();
    expect(keyIdOf("proxy", "")).toBeUndefined();
  });
});

describe("hints", () => {
  test("keyHint is kwp_<id>_…<last4 of the token>", () => {
    const key = generateKey("proxy");
    const hint = keyHint(key);
    expect(hint).toBe(`kwp_${key.id}_…${key.token.slice(-4)}`);
    expect(hint).toMatch(/^kwp_[0-9A-Za-z]{12}_…[0-9A-Za-z]{4}$/);
    expect(hint).not.toContain(key.secret.slice(0, 8));
  });

  test("admin hints use kwa_", () => {
    const key = generateKey("admin");
    expect(keyHint(key)).toBe(`kwa_${key.id}_…${key.token.slice(-4)}`);
  });

  test("providerKeyHint keeps a short vendor prefix and the last four characters", () => {
    expect(providerKeyHint("sk-proj-abcdefghijklmnopwxyz")).toBe("sk-…wxyz");
    expect(providerKeyHint("  sk-ant-api03-abcdefghijklmnop1234  ")).toBe("sk-…1234");
    expect(providerKeyHint("AIzaSyabcdefghijklmnop9876")).toBe("…9876");
    // Too short to reveal anything.
    expect(providerKeyHint("sk-short")).toBe("sk-…");
  });
});

describe("KEY_PATTERNS (documented for secret scanners)", () => {
  test("match generated keys of their own kind only", () => {
    for (let i = 0; i < 50; i++) {
      const proxy = generateKey("proxy").token;
      const admin = generateKey("admin").token;
      expect(KEY_PATTERNS.proxy.test(proxy)).toBe(true);
      expect(KEY_PATTERNS.admin.test(admin)).toBe(true);
      expect(KEY_PATTERNS.proxy.test(admin)).toBe(false);
      expect(KEY_PATTERNS.admin.test(proxy)).toBe(false);
    }
  });

  test("capture id, secret and checksum", () => {
    const key = generateKey("proxy");
    const match = KEY_PATTERNS.proxy.exec(key.token);
    expect(match?.slice(1)).toEqual([key.id, key.secret, key.token.slice(-6)]);
  });

  test("find a leaked key inside text when used unanchored", () => {
    const key = generateKey("proxy");
    const unanchored = new RegExp(KEY_PATTERNS.proxy.source.replace(/^\^/, "\\b").replace(/\$$/, "\\b"));
    expect(unanchored.exec(`OPENAI_API_KEY="${key.token}" # oops`)?.[0]).toBe(key.token);
  });
});

describe("README's scanner regexes", () => {
  const readme = readFileSync(join(import.meta.dir, "../../README.md"), "utf8");
  const documented = (prefix: string): RegExp => {
    const match = new RegExp(`\`(\\\\b${prefix}_[^\`]+)\``).exec(readme);
    if (!match) throw new Error(`README documents no regex for ${prefix}_ keys`);
    return new RegExp(match[1] as string, "g");
  };

  test("find every generated key of their kind in text, and only those", () => {
    const proxyRe = documented("kwp");
    const adminRe = documented("kwa");
    const proxies = Array.from({ length: 20 }, () => generateKey("proxy").token);
    const admins = Array.from({ length: 20 }, () => generateKey("admin").token);
    const text = [...proxies, ...admins].map((k, i) => `line ${i}: export KEY="${k}";`).join("\n");
    expect([...text.matchAll(proxyRe)].map((m) => m[0])).toEqual(proxies);
    expect([...text.matchAll(adminRe)].map((m) => m[0])).toEqual(admins);
  });

  test("agree with KEY_PATTERNS on near misses", () => {
    const key = generateKey("proxy").token;
    const samples = [key, key.slice(0, -1), `${key}A`, key.replace("kwp_", "kwa_"), key.replace(/_(?=[^_]*$)/, "-")];
    for (const sample of samples) {
      expect(new RegExp(`^${documented("kwp").source}$`).test(sample)).toBe(KEY_PATTERNS.proxy.test(sample));
    }
  });
});
