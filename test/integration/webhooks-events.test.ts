/**
 * Each alert fires, once, through a real proxy and mock provider to a real
 * receiver: key.revoked (committed with the revocation, and for a provider
 * key's cascade), provider_key.auth_failed (the provider answers 401/403, at
 * most once per provider key per hour), key.expiring (24 h ahead, on the
 * test clock), budget.threshold (50, 80 and 100% once per period, again in
 * the next period). No payload carries a key or a secret; a receiver that
 * never answers does not slow proxied requests.
 */
import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { AlertOptions } from "../../src/alerts/options.ts";
import { parseKey } from "../../src/vault/key-format.ts";
import { expectStatus } from "../helpers/admin-fixtures.ts";
import type { TestApp } from "../helpers/app.ts";
import { chatJson, postV1, waitSettled } from "../helpers/limits.ts";
import { createKeyPair, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";
import { startWebhookReceiver, verifyStandardWebhook, type ReceivedWebhook, type WebhookReceiver } from "../helpers/webhook-receiver.ts";

/** Only the tests drive checks and delivery, so what a test sees never depends on a timer. */
const MANUAL: Partial<AlertOptions> = { pollIntervalMs: 3_600_000, checkIntervalMs: 3_600_000, expiryScanIntervalMs: 3_600_000 };
const JAN_15_NOON = Date.UTC(2026, 0, 15, 12, 0, 0);

const h = useProxyHarness({ config: { alerts: MANUAL }, mock: { usage: { input: 10, output: 100 } } });

let r: WebhookReceiver;
/** Every secret the tests handed out or stored: none may appear in any payload. */
const secrets = new Set<string>();

beforeEach(() => {
  h.clock.current = JAN_15_NOON;
  r = startWebhookReceiver();
});
afterEach(async () => {
  await r.stop();
  // Each test's webhooks go, so the next test's events reach only its own.
  for (const hook of h.t.store.webhooks.all()) expectStatus(await h.t.call("DELETE", `/api/webhooks/${hook.id}`), 200);
});
afterAll(() => {
  expect(secrets.size).toBeGreaterThan(5);
});

async function webhook(events: string[], url = `${r.url}/hook`) {
  const res = await h.t.call("POST", "/api/webhooks", { url, events });
  expectStatus(res, 201);
  secrets.add(res.json.secret);
  secrets.add(h.t.rootToken);
  return res.json as { id: string; secret: string };
}

async function keyPair(proxy: Record<string, unknown> = {}): Promise<KeyPair> {
  const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy });
  secrets.add(keys.proxyKey);
  secrets.add(keys.providerSecret);
  return keys;
}

/** Runs the checks and a delivery pass; returns what arrived since `from`, each verified against `secret`. */
async function deliver(t: TestApp, secret: string, from: number): Promise<ReceivedWebhook[]> {
  await t.services.alerts.check();
  await t.services.webhookDispatcher.runOnce();
  const got = r.received.slice(from);
  for (const d of got) {
    expect(verifyStandardWebhook(secret, d)).toBe(true);
    for (const s of secrets) {
      expect(d.body).not.toContain(s);
      // A distinctive middle part of it too: a partial leak is a leak.
      expect(d.body).not.toContain(s.slice(8, -6));
    }
  }
  return got;
}

const payloads = (got: ReceivedWebhook[]) => got.map((d) => JSON.parse(d.body) as { type: string; timestamp: string; data: Record<string, unknown> });

describe("key.revoked", () => {
  test("is queued in the revocation's transaction, once, and delivered", async () => {
    const hook = await webhook(["key.revoked"]);
    const other = await webhook(["budget.threshold", "key.expiring"]);
    const keys = await keyPair();
    expectStatus(await h.t.call("POST", `/api/proxy-keys/${keys.proxyKeyId}/revoke`), 200);
    // Committed with the revocation, before any timer ran: a crash now would still deliver it.
    expect(h.t.store.webhookOutbox.page(hook.id, { limit: 10 })).toHaveLength(1);
    expect(h.t.store.webhookOutbox.page(other.id, { limit: 10 })).toHaveLength(0);
    // Revoking a revoked key changes nothing, and announces nothing.
    expectStatus(await h.t.call("POST", `/api/proxy-keys/${keys.proxyKeyId}/revoke`), 200);

    const got = await deliver(h.t, hook.secret, 0);
    expect(payloads(got)).toEqual([
      {
        type: "key.revoked",
        timestamp: "2026-01-15T12:00:00.000Z",
        data: {
          proxy_key_id: keys.proxyKeyId,
          name: expect.any(String),
          provider_key_id: keys.providerKeyId,
          revoked_at: "2026-01-15T12:00:00.000Z",
          revoked_by: parseKey("admin", h.t.rootToken)?.id,
          reason: "revoked",
        },
      },
    ]);
  });

  test("deleting a provider key with cascade announces each key it revoked", async () => {
    const hook = await webhook(["key.revoked"]);
    const keys = await keyPair();
    const second = await h.t.call("POST", "/api/proxy-keys", { name: "second", provider_key_id: keys.providerKeyId });
    expectStatus(second, 201);
    secrets.add(second.json.key);
    expectStatus(await h.t.call("DELETE", `/api/provider-keys/${keys.providerKeyId}?cascade=true`), 200);
    const got = payloads(await deliver(h.t, hook.secret, 0));
    expect(new Set(got.map((p) => p.data.proxy_key_id))).toEqual(new Set([keys.proxyKeyId, second.json.id]));
    expect(got).toHaveLength(2);
    for (const p of got) expect(p.data).toMatchObject({ reason: "provider_key_deleted", provider_key_id: keys.providerKeyId });
  });
});

describe("provider_key.auth_failed", () => {
  test("a 401 or 403 from the provider is announced at most once per provider key and hour", async () => {
    const hook = await webhook(["provider_key.auth_failed"]);
    const keys = await keyPair();
    const send = async () => {
      const res = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson("gpt-4o-mini", 10));
      await res.text();
      await waitSettled(h.t);
      return res.status;
    };
    h.mock.next({ error: { status: 401 } });
    expect(await send()).toBe(401);
    h.mock.next({ error: { status: 401 } });
    expect(await send()).toBe(401);
    expect(await send()).toBe(200);
    let got = payloads(await deliver(h.t, hook.secret, 0));
    expect(got).toEqual([
      {
        type: "provider_key.auth_failed",
        timestamp: "2026-01-15T12:00:00.000Z",
        data: { provider_key_id: keys.providerKeyId, name: expect.any(String), provider: "openai", status: 401, at: "2026-01-15T12:00:00.000Z" },
      },
    ]);

    // Still the same hour: noted, not announced again, even by another check.
    h.clock.advance(59 * 60_000);
    h.mock.next({ error: { status: 403 } });
    expect(await send()).toBe(403);
    expect(await deliver(h.t, hook.secret, 1)).toEqual([]);

    h.clock.advance(60_000);
    h.mock.next({ error: { status: 403 } });
    expect(await send()).toBe(403);
    got = payloads(await deliver(h.t, hook.secret, 1));
    expect(got.map((p) => [p.type, p.data.status])).toEqual([["provider_key.auth_failed", 403]]);
  });

  test("other upstream errors announce nothing", async () => {
    const hook = await webhook(["provider_key.auth_failed"]);
    const keys = await keyPair();
    for (const status of [400, 404, 429, 500]) {
      h.mock.next({ error: { status } });
      const res = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson("gpt-4o-mini", 10));
      expect(res.status).toBe(status);
      await res.text();
    }
    await waitSettled(h.t);
    expect(await deliver(h.t, hook.secret, 0)).toEqual([]);
  });
});

describe("key.expiring", () => {
  test("24 h before expires_at, once per key and expiry; keys living 24 h or less, and revoked keys, are not announced", async () => {
    const hook = await webhook(["key.expiring"]);
    const keys = await keyPair({ ttl_seconds: 48 * 3600 });
    const revoked = await h.t.call("POST", "/api/proxy-keys", { name: "revoked", provider_key_id: keys.providerKeyId, ttl_seconds: 48 * 3600 });
    expectStatus(await h.t.call("POST", `/api/proxy-keys/${revoked.json.id}/revoke`), 200);
    const ci = await h.t.call("POST", "/api/proxy-keys", { name: "ci", provider_key_id: keys.providerKeyId, ttl_seconds: 3600 });
    expectStatus(ci, 201);
    secrets.add(revoked.json.key);
    secrets.add(ci.json.key);

    expect(await h.t.services.alerts.scanExpiring()).toBe(0);
    h.clock.advance(24 * 3600_000 - 1);
    expect(await h.t.services.alerts.scanExpiring()).toBe(0);
    h.clock.advance(1);
    expect(await h.t.services.alerts.scanExpiring()).toBe(1);
    expect(await h.t.services.alerts.scanExpiring()).toBe(0);
    const got = payloads(await deliver(h.t, hook.secret, 0));
    expect(got).toEqual([
      {
        type: "key.expiring",
        timestamp: "2026-01-16T12:00:00.000Z",
        data: {
          proxy_key_id: keys.proxyKeyId,
          name: expect.any(String),
          provider_key_id: keys.providerKeyId,
          expires_at: "2026-01-17T12:00:00.000Z",
          expires_in_seconds: 86_400,
        },
      },
    ]);

    // A new expiry is a new announcement, once it is within 24 h.
    expectStatus(await h.t.call("PATCH", `/api/proxy-keys/${keys.proxyKeyId}`, { ttl_seconds: 30 * 3600 }), 200);
    expect(await h.t.services.alerts.scanExpiring()).toBe(0);
    h.clock.advance(6 * 3600_000);
    expect(await h.t.services.alerts.scanExpiring()).toBe(1);
  });
});

describe("budget.threshold", () => {
  test("50, 80 and 100% of a key's budget, each once per period, and again in the next period", async () => {
    // 1 µ$ per output token and nothing for input: each request reserves and costs exactly 100 µ$.
    expectStatus(await h.t.call("PUT", "/api/prices/webhook-test-model", { input_per_million_usd: 0, output_per_million_usd: 1 }), 200);
    const hook = await webhook(["budget.threshold"]);
    const keys = await keyPair({ budget_usd: 0.0005, budget_period: "daily" });
    const send = async () => {
      const res = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson("webhook-test-model", 10, { max_tokens: 100 }));
      await res.text();
      await waitSettled(h.t);
      return res.status;
    };
    const thresholdsAfter = async () => payloads(await deliver(h.t, hook.secret, r.received.length)).map((p) => p.data.threshold_percent);

    expect(await send()).toBe(200); // 20%
    expect(await thresholdsAfter()).toEqual([]);
    expect(await send()).toBe(200); // 40%
    expect(await send()).toBe(200); // 60%
    const fifty = r.received.length;
    expect(await thresholdsAfter()).toEqual([50]);
    expect(await send()).toBe(200); // 80%
    expect(await thresholdsAfter()).toEqual([80]);
    expect(await send()).toBe(200); // 100%
    expect(await thresholdsAfter()).toEqual([100]);
    expect(await send()).toBe(429); // nothing left
    expect(await thresholdsAfter()).toEqual([]);

    expect(payloads(r.received.slice(fifty, fifty + 1))[0]).toEqual({
      type: "budget.threshold",
      timestamp: "2026-01-15T12:00:00.000Z",
      data: {
        subject: "proxy_key",
        proxy_key_id: keys.proxyKeyId,
        name: expect.any(String),
        threshold_percent: 50,
        spend_usd: 0.0003,
        budget_usd: 0.0005,
        budget_period: "daily",
        period_started_at: "2026-01-15T00:00:00.000Z",
      },
    });

    // The next day is a new period: its crossings are announced again.
    h.clock.current = Date.UTC(2026, 0, 16, 9, 0, 0);
    for (let i = 0; i < 3; i++) expect(await send()).toBe(200);
    const next = payloads(await deliver(h.t, hook.secret, r.received.length));
    expect(next.map((p) => [p.data.threshold_percent, p.data.period_started_at])).toEqual([[50, "2026-01-16T00:00:00.000Z"]]);
  });

  test("a crossing noted twice (a restart's checks, a retry) is sent once", async () => {
    const hook = await webhook(["budget.threshold"]);
    const keys = await keyPair({ budget_usd: 1 });
    const crossing = { holder: "key" as const, id: keys.proxyKeyId, threshold: 80 as const, budgetMicros: 1_000_000, spendMicros: 850_000, periodStartedAt: 0 };
    h.t.services.alerts.noteCrossing(crossing);
    expect(payloads(await deliver(h.t, hook.secret, 0)).map((p) => p.data.threshold_percent)).toEqual([80]);
    h.t.services.alerts.noteCrossing({ ...crossing, spendMicros: 900_000 });
    expect(await deliver(h.t, hook.secret, 1)).toEqual([]);
  });
});

describe("a receiver that never answers", () => {
  test("does not slow proxied requests", async () => {
    r.fallback = "hang";
    const hook = await webhook(["key.revoked"]);
    const keys = await keyPair();
    const latency = async () => {
      const started = performance.now();
      const res = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson("gpt-4o-mini", 10));
      expect(res.status).toBe(200);
      await res.text();
      return performance.now() - started;
    };
    const before: number[] = [];
    for (let i = 0; i < 10; i++) before.push(await latency());

    for (let i = 0; i < 12; i++) expectStatus(await h.t.call("POST", `/api/webhooks/${hook.id}/test`), 202);
    // Deliveries hang in flight (the dispatcher's own pass, not awaited), and the proxy keeps serving.
    const pass = h.t.services.webhookDispatcher.runOnce();
    await r.waitFor(2);
    const during: number[] = [];
    for (let i = 0; i < 20; i++) during.push(await latency());
    const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    // Generous bounds: a blocked proxy would take the delivery timeout (10 s), not milliseconds.
    expect(Math.max(...during)).toBeLessThan(1_000);
    expect(median(during)).toBeLessThan(Math.max(50, median(before) * 5));
    expect(r.received.length).toBe(2);
    await r.stop();
    await pass;
  });
});
