/**
 * The hot path: admin changes apply to the very next request (write-through
 * cache, so a revoked or re-pointed key changes at once), argon2, slow on
 * purpose, runs once per key per process, and steady state reads nothing
 * from SQLite.
 */
import { describe, expect, test } from "bun:test";
import type { ProviderKeyRow, ProxyKeyRow } from "../../src/db/store.ts";
import { checksum, generateKey } from "../../src/vault/key-format.ts";
import { MOCK_TEXT } from "../helpers/mock-provider.ts";
import { chatAnswerText, chatBody, createKeyPair, expectProxyError, fetchText, sseData, startProxyHarness, useProxyHarness } from "../helpers/proxy.ts";

const h = useProxyHarness();

const chat = (key: string, extra: Record<string, unknown> = {}) =>
  fetchText(`${h.baseUrl}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: chatBody(extra),
  });

async function expectOk(key: string): Promise<void> {
  const res = await chat(key);
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${res.text}`);
}

const newKeys = () => createKeyPair(h.t, { base_url: h.mock.baseUrl });

describe("admin changes reach the very next request", () => {
  test("revoking a key while a client streams on it: the next request gets 401", async () => {
    const keys = await newKeys();
    await expectOk(keys.proxyKey);
    h.mock.next({ chunks: 5, chunkDelayMs: 30 });
    const streaming = await fetch(`${h.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${keys.proxyKey}`, "content-type": "application/json" },
      body: chatBody({ stream: true }),
    });
    expect(streaming.status).toBe(200);
    const revoke = await h.t.call("POST", `/api/proxy-keys/${keys.proxyKeyId}/revoke`, {});
    expect(revoke.status).toBe(200);

    const body = expectProxyError(await chat(keys.proxyKey), 401, "invalid_api_key");
    expect(body.error.message).toBe("Cannot verify proxy key: key is revoked");
    // The refused request never left keyward; the stream that had started is left alone.
    expect(chatAnswerText(await streaming.text())).toBe(MOCK_TEXT);
    expect(h.mock.requests).toHaveLength(2);
  });

  test("expiry (injected clock): 401 key expired", async () => {
    const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { ttl_seconds: 60 } });
    await expectOk(keys.proxyKey);
    h.clock.advance(59_000);
    await expectOk(keys.proxyKey);
    h.clock.advance(1_000);
    const body = expectProxyError(await chat(keys.proxyKey), 401, "invalid_api_key");
    expect(body.error.message).toStartWith("Cannot verify proxy key: key expired");
    expect(body.error.message).toContain(new Date(h.clock.now()).toISOString());
    expect(h.mock.requests).toHaveLength(2);
  });

  test("extending an expired key's expiry: the next request works again", async () => {
    const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { ttl_seconds: 60 } });
    await expectOk(keys.proxyKey);
    h.clock.advance(120_000);
    expectProxyError(await chat(keys.proxyKey), 401, "invalid_api_key");
    const patch = await h.t.call("PATCH", `/api/proxy-keys/${keys.proxyKeyId}`, { ttl_seconds: 3600 });
    if (patch.status !== 200) throw new Error(`PATCH failed: ${patch.status} ${patch.text}`);
    await expectOk(keys.proxyKey);
  });

  test("disabling the provider key: 403 provider_key_disabled; enabling it again works", async () => {
    const keys = await newKeys();
    await expectOk(keys.proxyKey);
    expect((await h.t.call("PATCH", `/api/provider-keys/${keys.providerKeyId}`, { disabled: true })).status).toBe(200);
    const body = expectProxyError(await chat(keys.proxyKey), 403, "provider_key_disabled");
    expect(body.error.type).toBe("permission_error");
    expect(h.mock.requests).toHaveLength(1);
    expect((await h.t.call("PATCH", `/api/provider-keys/${keys.providerKeyId}`, { disabled: false })).status).toBe(200);
    await expectOk(keys.proxyKey);
  });

  test("replacing the provider key in place: the next request carries the new key", async () => {
    const keys = await newKeys();
    await expectOk(keys.proxyKey);
    expect(h.mock.requests[0]?.headers.authorization).toBe(`Bearer ${keys.providerSecret}`);
    const replacement = `sk-rotated-${crypto.randomUUID()}`;
    expect((await h.t.call("PATCH", `/api/provider-keys/${keys.providerKeyId}`, { key: replacement })).status).toBe(200);
    await expectOk(keys.proxyKey);
    expect(h.mock.requests[1]?.headers.authorization).toBe(`Bearer ${replacement}`);
    expect(JSON.stringify(h.mock.requests[1]?.headers)).not.toContain(keys.providerSecret);
  });

  test("changing base_url: the next request goes to the new upstream", async () => {
    const keys = await newKeys();
    await expectOk(keys.proxyKey);
    const other = await startProxyHarness();
    try {
      const patch = await h.t.call("PATCH", `/api/provider-keys/${keys.providerKeyId}`, { base_url: other.mock.baseUrl });
      expect(patch.status).toBe(200);
      await expectOk(keys.proxyKey);
      expect(h.mock.requests).toHaveLength(1);
      expect(other.mock.requests).toHaveLength(1);
      expect(other.mock.requests[0]?.headers.authorization).toBe(`Bearer ${keys.providerSecret}`);
    } finally {
      await other.stop();
    }
  });
});

describe("argon2 only when needed", () => {
  test("a broken checksum with a real key id: 401 without argon2 and without a lookup", async () => {
    const keys = await newKeys();
    const verifier = h.t.services.proxyVerifier;
    const before = verifier.argon2Runs;
    // Same id and secret, checksum off by one character.
    const last = keys.proxyKey.at(-1) === "A" ? "B" : "A";
    const broken = keys.proxyKey.slice(0, -1) + last;
    expect(checksum(broken.slice(0, -6))).not.toBe(broken.slice(-6));
    const body = expectProxyError(await chat(broken), 401, "invalid_api_key");
    expect(body.error.message).toContain("malformed");
    expect(verifier.argon2Runs).toBe(before);
    expect(h.mock.requests).toHaveLength(0);
  });

  test("a wrong secret for a verified key's id: 401 at once, the verifier never asked; a broken checksum still reads 'malformed'", async () => {
    const keys = await newKeys();
    await expectOk(keys.proxyKey);
    const verifier = h.t.services.proxyVerifier;
    const verify = verifier.verify.bind(verifier);
    let asked = 0;
    verifier.verify = (...args) => {
      asked++;
      return verify(...args);
    };
    try {
      const wrong = generateKey("proxy", keys.proxyKeyId).token;
      expect(expectProxyError(await chat(wrong), 401, "invalid_api_key").error.message).toBe("Cannot verify proxy key: key is invalid");
      const broken = wrong.slice(0, -1) + (wrong.at(-1) === "A" ? "B" : "A");
      expect(expectProxyError(await chat(broken), 401, "invalid_api_key").error.message).toContain("malformed");
      expect(asked).toBe(0);
      await expectOk(keys.proxyKey);
      expect(h.mock.requests).toHaveLength(2);
    } finally {
      verifier.verify = verify;
    }
  });

  test("a fresh key: argon2 once for the first request, never for the next 20", async () => {
    const keys = await newKeys();
    const verifier = h.t.services.proxyVerifier;
    const before = verifier.argon2Runs;
    await expectOk(keys.proxyKey);
    expect(verifier.argon2Runs - before).toBe(1);
    for (let i = 0; i < 20; i++) await expectOk(keys.proxyKey);
    expect(verifier.argon2Runs - before).toBe(1);
    expect(h.mock.requests).toHaveLength(21);
  });

  test("a revoked key keeps answering 'revoked' without further argon2 runs", async () => {
    const keys = await newKeys();
    const verifier = h.t.services.proxyVerifier;
    await expectOk(keys.proxyKey);
    const revoked = await h.t.call("POST", `/api/proxy-keys/${keys.proxyKeyId}/revoke`);
    expect(revoked.status).toBe(200);
    const before = verifier.argon2Runs;
    // More attempts than the per-id throttle allows: a throttled answer would say "invalid", not "revoked".
    for (let i = 0; i < 8; i++) {
      const body = expectProxyError(await chat(keys.proxyKey), 401, "invalid_api_key");
      expect(body.error.message).toContain("revoked");
    }
    expect(verifier.argon2Runs).toBe(before);
    expect(h.mock.requests).toHaveLength(1);
  });

  test("concurrent first requests of a fresh key share one argon2 run", async () => {
    const keys = await newKeys();
    const verifier = h.t.services.proxyVerifier;
    const before = verifier.argon2Runs;
    const results = await Promise.all(Array.from({ length: 10 }, () => chat(keys.proxyKey)));
    expect(results.map((r) => r.status)).toEqual(Array<number>(10).fill(200));
    expect(verifier.argon2Runs - before).toBe(1);
  });
});

describe("steady state", () => {
  test("after warm-up, 20 requests (plain and streamed) read nothing from SQLite", async () => {
    const keys = await newKeys();
    await expectOk(keys.proxyKey);
    const store = h.t.store;
    const proxyById = store.proxyKeys.byId.bind(store.proxyKeys);
    const providerById = store.providerKeys.byId.bind(store.providerKeys);
    let reads = 0;
    store.proxyKeys.byId = (id: string): ProxyKeyRow | undefined => {
      reads++;
      return proxyById(id);
    };
    store.providerKeys.byId = (id: string): ProviderKeyRow | undefined => {
      reads++;
      return providerById(id);
    };
    try {
      // The wrapper is live: a lookup of an id the cache has never seen goes through it.
      const unknown = `kwp_${"Z".repeat(12)}_${"a".repeat(32)}`;
      await chat(unknown + checksum(unknown));
      expect(reads).toBe(1);
      reads = 0;
      for (let i = 0; i < 20; i++) {
        if (i % 2 === 0) await expectOk(keys.proxyKey);
        else {
          const res = await chat(keys.proxyKey, { stream: true });
          expect(res.status).toBe(200);
          expect(sseData(res.text).at(-1)).toBe("[DONE]");
        }
      }
      expect(reads).toBe(0);
    } finally {
      store.proxyKeys.byId = proxyById;
      store.providerKeys.byId = providerById;
    }
  });
});
