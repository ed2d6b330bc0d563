/**
 * A flood of wrong secrets for a real key id (well-formed, valid checksums)
 * must neither burn the CPU on argon2 nor lock out the client whose key is
 * already verified: a verified id needs no argon2 to
 * refuse a wrong secret, an unverified one at most the throttle's allowance.
 * Counts only, no timings: the latency side belongs to the benchmark.
 */
import { expect, test } from "bun:test";
import { generateKey } from "../../src/vault/key-format.ts";
import { chatBody, createKeyPair, expectProxyError, useProxyHarness } from "../helpers/proxy.ts";

/** Proxy keys: 5 unverified tries per key id per minute (src/app.ts). */
const THROTTLE_ALLOWANCE = 5;
const WRONG = 500;
const VALID = 50;

const h = useProxyHarness({ keys: true });

/** Straight into the app (no client-side fetch cap); upstream calls are real HTTP to the mock. */
async function send(token: string): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await h.t.app.handle(
    new Request("http://localhost/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: chatBody(),
    }),
  );
  return { status: response.status, headers: response.headers, text: await response.text() };
}

test(`${WRONG} wrong secrets for a verified key's id: all 401, no argon2 at all, the real client unaffected`, async () => {
  const verifier = h.t.services.proxyVerifier;
  // Warm-up: the real key is verified once and cached.
  expect((await send(h.keys.proxyKey)).status).toBe(200);
  const before = verifier.argon2Runs;
  h.mock.reset();

  const wrongTokens = Array.from({ length: WRONG }, () => generateKey("proxy", h.keys.proxyKeyId).token);
  expect(new Set(wrongTokens).size).toBe(WRONG);
  expect(wrongTokens).not.toContain(h.keys.proxyKey);

  // Interleave: one valid request after every 10 wrong ones, all in flight together.
  const pending: Array<Promise<{ kind: "wrong" | "valid"; status: number; text: string; headers: Headers }>> = [];
  for (let i = 0; i < WRONG; i++) {
    const token = wrongTokens[i] as string;
    pending.push(send(token).then((r) => ({ kind: "wrong" as const, ...r })));
    if (i % (WRONG / VALID) === 0) pending.push(send(h.keys.proxyKey).then((r) => ({ kind: "valid" as const, ...r })));
  }
  const results = await Promise.all(pending);

  const wrong = results.filter((r) => r.kind === "wrong");
  const valid = results.filter((r) => r.kind === "valid");
  expect(wrong).toHaveLength(WRONG);
  expect(valid).toHaveLength(VALID);
  for (const r of wrong) {
    const body = expectProxyError(r, 401, "invalid_api_key");
    // Throttled or checked, the answer is the same as for an unknown id.
    expect(body.error.message).toBe("Cannot verify proxy key: key is invalid");
  }
  for (const r of valid) {
    if (r.status !== 200) throw new Error(`valid request got ${r.status}: ${r.text}`);
  }
  // The verified token is the only valid one for this id: every other is refused by its digest.
  expect(verifier.argon2Runs - before).toBe(0);
  // Only the valid requests reached the provider.
  expect(h.mock.requests).toHaveLength(VALID);
  for (const rec of h.mock.requests) expect(rec.headers.authorization).toBe(`Bearer ${h.keys.providerSecret}`);

  // And after the flood the real key still works, still without argon2.
  const runs = verifier.argon2Runs;
  expect((await send(h.keys.proxyKey)).status).toBe(200);
  expect(verifier.argon2Runs).toBe(runs);
});

test(`wrong secrets for an id not verified yet: all 401, argon2 at most ${THROTTLE_ALLOWANCE} times`, async () => {
  const verifier = h.t.services.proxyVerifier;
  const unused = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
  const before = verifier.argon2Runs;
  const results = await Promise.all(Array.from({ length: 100 }, () => send(generateKey("proxy", unused.proxyKeyId).token)));
  for (const r of results) expect(expectProxyError(r, 401, "invalid_api_key").error.message).toBe("Cannot verify proxy key: key is invalid");
  // Nothing is known about this id's secret, so argon2 decides, up to the per-id throttle.
  expect(verifier.argon2Runs - before).toBeGreaterThan(0);
  expect(verifier.argon2Runs - before).toBeLessThanOrEqual(THROTTLE_ALLOWANCE);
});
