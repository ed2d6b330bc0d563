/**
 * /api/webhooks and delivery, against a real receiver on 127.0.0.1: the
 * secret shown once and stored sealed, URL rules shared with provider base
 * URLs, Standard Webhooks signatures checked by an independent verifier,
 * retries with backoff, redirects not followed, the outbox bound and age
 * limit with their metric and log line, and the deliveries list.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { DEFAULT_ALERT_OPTIONS, type AlertOptions } from "../../src/alerts/options.ts";
import { createLogger } from "../../src/telemetry/logger.ts";
import { expectError, expectStatus, listAll, useApp } from "../helpers/admin-fixtures.ts";
import type { TestApp } from "../helpers/app.ts";
import { startWebhookReceiver, verifyStandardWebhook, type WebhookReceiver } from "../helpers/webhook-receiver.ts";

/** Only the tests drive delivery (`runOnce`), so what a test sees never depends on a timer. */
const MANUAL: Partial<AlertOptions> = { pollIntervalMs: 3_600_000, checkIntervalMs: 3_600_000, expiryScanIntervalMs: 3_600_000 };

const receivers: WebhookReceiver[] = [];
function receiver(): WebhookReceiver {
  const r = startWebhookReceiver();
  receivers.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.stop()));
});

async function createWebhook(app: TestApp, body: Record<string, unknown>) {
  const res = await app.call("POST", "/api/webhooks", body);
  expectStatus(res, 201);
  return res.json as { id: string; url: string; events: string[]; secret: string; secret_hint: string };
}

async function deliveries(app: TestApp, id: string) {
  const res = await app.call("GET", `/api/webhooks/${id}/deliveries`);
  expectStatus(res, 200);
  return res.json.data as Array<Record<string, unknown> & { status: string; attempts: number; event_id: string }>;
}

async function metric(app: TestApp, name: string, labels: string): Promise<number> {
  const res = await app.call("GET", "/metrics", undefined, { token: null });
  const line = res.text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return Number(line?.split(" ").pop() ?? Number.NaN);
}

describe("webhooks API", () => {
  const app = useApp(() => ({ config: { alerts: MANUAL } }));

  test("create returns the secret once; lists and gets show only its hint", async () => {
    const created = await createWebhook(app(), { url: "https://hooks.example.com/keyward?team=ops", events: ["key.revoked", "budget.threshold"] });
    expect(created.id).toMatch(/^wh_[0-9A-Za-z]{12}$/);
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.secret_hint).toBe(`whsec_…${created.secret.slice(-4)}`);
    expect(created.url).toBe("https://hooks.example.com/keyward?team=ops");
    expect(created.events).toEqual(["key.revoked", "budget.threshold"]);

    const got = await app().call("GET", `/api/webhooks/${created.id}`);
    expectStatus(got, 200);
    expect(got.json).toEqual({
      id: created.id,
      url: created.url,
      events: created.events,
      secret_hint: created.secret_hint,
      created_by: expect.any(String),
      created_at: "2026-01-15T12:00:00.000Z",
    });
    const listed = await app().call("GET", "/api/webhooks");
    expect(listed.json.data).toEqual([got.json]);
    for (const text of [got.text, listed.text]) expect(text).not.toContain(created.secret.slice(6, -4));

    // Stored sealed: neither the row nor the audit log holds it.
    const row = app().store.webhooks.byId(created.id);
    expect(Buffer.from(row?.ciphertext ?? []).toString("latin1")).not.toContain(created.secret);
    const audit = app()
      .store.audit.page({ limit: 10 })
      .find((a) => a.action === "webhook.create");
    expect(audit?.details).toEqual({ origin: "https://hooks.example.com", events: ["key.revoked", "budget.threshold"] });
  });

  test("a given whsec_ secret is kept; anything else is refused naming the field", async () => {
    const secret = `whsec_${Buffer.alloc(24, 9).toString("base64")}`;
    expect((await createWebhook(app(), { url: "https://a.example.com/", events: ["key.expiring"], secret })).secret).toBe(secret);
    for (const bad of ["not-a-secret", `whsec_${Buffer.alloc(16, 1).toString("base64")}`, "whsec_!!!!"]) {
      expectError(
        await app().call("POST", "/api/webhooks", { url: "https://a.example.com/", events: ["key.expiring"], secret: bad }),
        422,
        "validation_failed",
        "secret",
      );
    }
  });

  test("URLs follow the provider base-URL rules: no credentials, an absolute URL, no fragment", async () => {
    for (const url of [
      "https://user:pass@hooks.example.com/x",
      "https://:pass@hooks.example.com/x",
      "ftp://hooks.example.com/x",
      "/relative",
      "not a url",
      "https://hooks.example.com/x#frag",
    ]) {
      const res = await app().call("POST", "/api/webhooks", { url, events: ["key.revoked"] });
      expectError(res, 422, "validation_failed", "url");
    }
    expect(app().store.webhooks.all()).toEqual([]);
  });

  test("events come from the closed list; unknown fields are refused", async () => {
    for (const events of [["webhook.test"], [], ["key.revoked", "key.revoked"], ["key.revoked", "KEY.REVOKED"]]) {
      const res = await app().call("POST", "/api/webhooks", { url: "https://a.example.com/", events });
      expectError(res, 422, "validation_failed", res.json.error.field);
      // The list or the item at fault (`events[0]`).
      expect(res.json.error.field).toMatch(/^events(\[\d+\])?$/);
    }
    const extra = await app().call("POST", "/api/webhooks", { url: "https://a.example.com/", events: ["key.revoked"], headers: {} });
    expect([extra.status, extra.json.error.code]).toEqual([422, "validation_failed"]);
    expect(app().store.webhooks.all()).toEqual([]);
  });

  test("delete: gone from the list, its deliveries with it; unknown ids are 404", async () => {
    const hook = await createWebhook(app(), { url: "https://127.0.0.1:9/x", events: ["key.revoked"] });
    expectStatus(await app().call("POST", `/api/webhooks/${hook.id}/test`), 202);
    expect(app().store.webhookOutbox.pending()).toBe(1);
    expect((await app().call("DELETE", `/api/webhooks/${hook.id}`)).json).toEqual({ deleted: true, id: hook.id });
    expect(app().store.webhookOutbox.pending()).toBe(0);
    for (const [method, path] of [
      ["GET", `/api/webhooks/${hook.id}`],
      ["DELETE", `/api/webhooks/${hook.id}`],
      ["POST", `/api/webhooks/${hook.id}/test`],
      ["GET", `/api/webhooks/${hook.id}/deliveries`],
    ] as const) {
      expectError(await app().call(method, path), 404, "not_found");
    }
  });
});

describe("plain-http targets", () => {
  const app = useApp(() => ({ config: { alerts: MANUAL, allowHttpUpstreams: false } }));

  test("are refused without --allow-http-upstreams, as provider base URLs are", async () => {
    const res = await app().call("POST", "/api/webhooks", { url: "http://hooks.example.com/x", events: ["key.revoked"] });
    expectError(res, 422, "validation_failed", "url");
    expect(res.json.error.message).toContain("--allow-http-upstreams");
    expectStatus(await app().call("POST", "/api/webhooks", { url: "https://hooks.example.com/x", events: ["key.revoked"] }), 201);
  });
});

describe("delivery", () => {
  const lines: string[] = [];
  const app = useApp(() => {
    lines.length = 0;
    return { config: { alerts: { ...MANUAL, maxPending: 3, timeoutMs: 300 } }, logger: createLogger("json", "debug", (line) => lines.push(line)) };
  });

  test("a test event arrives signed as Standard Webhooks describes, and is listed as delivered", async () => {
    const r = receiver();
    const hook = await createWebhook(app(), { url: `${r.url}/hook`, events: ["key.revoked"] });
    const queued = await app().call("POST", `/api/webhooks/${hook.id}/test`);
    expectStatus(queued, 202);
    expect(queued.json).toEqual({ event_id: expect.stringMatching(/^msg_[0-9a-f]{32}$/), webhook_id: hook.id });

    await app().services.webhookDispatcher.runOnce();
    const [got] = await r.waitFor(1);
    expect(got?.id).toBe(queued.json.event_id);
    expect(got?.timestamp).toBe(String(Math.floor(app().clock.now() / 1000)));
    expect(got?.contentType).toBe("application/json");
    expect(verifyStandardWebhook(hook.secret, got!)).toBe(true);
    expect(JSON.parse(got!.body)).toEqual({ type: "webhook.test", timestamp: "2026-01-15T12:00:00.000Z", data: { webhook_id: hook.id } });

    const [row] = await deliveries(app(), hook.id);
    expect(row).toEqual({
      id: expect.any(Number),
      event_id: queued.json.event_id,
      event_type: "webhook.test",
      status: "delivered",
      attempts: 1,
      last_status: 200,
      last_error: null,
      created_at: "2026-01-15T12:00:00.000Z",
      next_attempt_at: null,
      delivered_at: "2026-01-15T12:00:00.000Z",
      dropped_at: null,
      payload: JSON.parse(got!.body),
    });
    expect(await metric(app(), "keyward_webhook_deliveries_total", 'result="delivered"')).toBe(1);
    // Delivered once: another pass sends nothing.
    await app().services.webhookDispatcher.runOnce();
    expect(r.received).toHaveLength(1);
  });

  test("a receiver answering 500 is retried after the backoff, with the same webhook-id and a fresh signature", async () => {
    const r = receiver();
    r.answers.push(500, 503);
    const hook = await createWebhook(app(), { url: `${r.url}/hook`, events: ["key.revoked"] });
    const queued = (await app().call("POST", `/api/webhooks/${hook.id}/test`)).json.event_id as string;
    const start = app().clock.now();

    await app().services.webhookDispatcher.runOnce();
    let [row] = await deliveries(app(), hook.id);
    expect(row).toMatchObject({
      status: "pending",
      attempts: 1,
      last_status: 500,
      last_error: "HTTP 500",
      next_attempt_at: new Date(start + 5_000).toISOString(),
    });

    // Not due before its backoff.
    app().clock.advance(4_999);
    await app().services.webhookDispatcher.runOnce();
    expect(r.received).toHaveLength(1);
    app().clock.advance(1);
    await app().services.webhookDispatcher.runOnce();
    [row] = await deliveries(app(), hook.id);
    expect(row).toMatchObject({ status: "pending", attempts: 2, last_status: 503, next_attempt_at: new Date(start + 5_000 + 30_000).toISOString() });

    app().clock.advance(30_000);
    await app().services.webhookDispatcher.runOnce();
    [row] = await deliveries(app(), hook.id);
    expect(row).toMatchObject({ status: "delivered", attempts: 3, last_status: 200, last_error: null });
    expect(r.received.map((d) => d.id)).toEqual([queued, queued, queued]);
    expect(r.received.map((d) => Number(d.timestamp) - start / 1000)).toEqual([0, 5, 35]);
    for (const d of r.received) expect(verifyStandardWebhook(hook.secret, d)).toBe(true);
    expect(new Set(r.received.map((d) => d.signature)).size).toBe(3);
    expect(await metric(app(), "keyward_webhook_deliveries_total", 'result="failed"')).toBe(2);
  });

  test("a redirect is not followed: it counts as a failed attempt", async () => {
    const r = receiver();
    const elsewhere = receiver();
    r.answers.push({ redirect: `${elsewhere.url}/stolen` });
    const hook = await createWebhook(app(), { url: `${r.url}/hook`, events: ["key.revoked"] });
    expectStatus(await app().call("POST", `/api/webhooks/${hook.id}/test`), 202);
    await app().services.webhookDispatcher.runOnce();
    const [row] = await deliveries(app(), hook.id);
    expect(row).toMatchObject({ status: "pending", attempts: 1, last_status: 302, last_error: "redirect (HTTP 302) not followed" });
    expect(elsewhere.received).toHaveLength(0);
  });

  test("a receiver that never answers is given up on after the timeout, and tried again later", async () => {
    const r = receiver();
    r.answers.push("hang");
    const hook = await createWebhook(app(), { url: `${r.url}/hook`, events: ["key.revoked"] });
    expectStatus(await app().call("POST", `/api/webhooks/${hook.id}/test`), 202);
    const started = performance.now();
    await app().services.webhookDispatcher.runOnce();
    expect(performance.now() - started).toBeLessThan(3_000);
    const [row] = await deliveries(app(), hook.id);
    expect(row).toMatchObject({ status: "pending", attempts: 1, last_status: null, last_error: "no answer within 0.3 s" });
    app().clock.advance(5_000);
    await app().services.webhookDispatcher.runOnce();
    expect((await deliveries(app(), hook.id))[0]).toMatchObject({ status: "delivered", attempts: 2 });
  });

  test("a receiver that refuses connections is retried until the age limit; then the event is dropped, counted and logged", async () => {
    const refusing = `https://127.0.0.1:9/hook`;
    const hook = await createWebhook(app(), { url: refusing, events: ["key.revoked"] });
    expectStatus(await app().call("POST", `/api/webhooks/${hook.id}/test`), 202);
    const start = app().clock.now();
    // Every retry until the age limit; the last is capped at the limit itself.
    for (let i = 0; i < 40 && app().store.webhookOutbox.pending() > 0; i++) {
      await app().services.webhookDispatcher.runOnce();
      const [row] = await deliveries(app(), hook.id);
      if (row?.status !== "pending") break;
      expect(typeof row.last_error).toBe("string");
      app().clock.current = Date.parse(row.next_attempt_at as string);
    }
    const [row] = await deliveries(app(), hook.id);
    expect(row).toMatchObject({ status: "dropped", dropped_at: new Date(start + DEFAULT_ALERT_OPTIONS.maxAgeMs).toISOString() });
    expect(row?.last_error).toBe("dropped: not delivered within 24 h");
    // 5 s, 30 s, 2 min, 10 min, then hourly: 28 attempts fit in 24 hours.
    expect(row?.attempts).toBe(28);
    expect(await metric(app(), "keyward_webhook_events_dropped_total", 'reason="age"')).toBe(1);
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "Dropped undeliverable webhook events");
    expect(logged).toEqual([expect.objectContaining({ level: "warn", reason: "age", count: 1, webhook_ids: [hook.id], oldest_event_type: "webhook.test" })]);
  });

  test("the outbox is bounded: beyond it the oldest waiting events are dropped, counted and logged", async () => {
    const r = receiver();
    const hook = await createWebhook(app(), { url: `${r.url}/hook`, events: ["key.revoked"] });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await app().call("POST", `/api/webhooks/${hook.id}/test`)).json.event_id);
      app().clock.advance(1);
    }
    await app().services.webhookDispatcher.runOnce();
    await app().services.webhookDispatcher.runOnce();
    expect(r.received.map((d) => d.id).sort()).toEqual(ids.slice(2).sort());
    const rows = await deliveries(app(), hook.id);
    // Newest first: the three newest delivered, the two oldest dropped.
    expect(rows.map((d) => [d.event_id, d.status])).toEqual(ids.toReversed().map((id, i) => [id, i < 3 ? "delivered" : "dropped"]));
    expect(rows[4]?.last_error).toBe("dropped: the outbox was full");
    expect(await metric(app(), "keyward_webhook_events_dropped_total", 'reason="outbox_full"')).toBe(2);
    expect(lines.some((l) => l.includes('"reason":"outbox_full"') && l.includes('"count":2'))).toBe(true);
  });

  test("deliveries page newest first with the shared cursor; history past retention is pruned", async () => {
    const r = receiver();
    const hook = await createWebhook(app(), { url: `${r.url}/hook`, events: ["key.revoked"] });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) expectStatus(await app().call("POST", `/api/webhooks/${hook.id}/test`), 202);
      await app().services.webhookDispatcher.runOnce();
    }
    const { ids, pages } = await listAll(app(), `/api/webhooks/${hook.id}/deliveries`, 2);
    expect(ids).toHaveLength(9);
    expect(pages).toBe(5);
    expect(ids.map(Number)).toEqual(ids.map(Number).toSorted((a, b) => b - a));
    expectError(await app().call("GET", `/api/webhooks/${hook.id}/deliveries?cursor=abc`), 422, "validation_failed", "cursor");

    app().clock.advance(DEFAULT_ALERT_OPTIONS.retentionMs + 1);
    await app().services.webhookDispatcher.runOnce();
    expect(await deliveries(app(), hook.id)).toEqual([]);
  });

  test("deliveries to one webhook never take every slot: another webhook's events still go out", async () => {
    const stuck = receiver();
    stuck.fallback = "hang";
    const fine = receiver();
    const slow = await createWebhook(app(), { url: `${stuck.url}/hook`, events: ["key.revoked"] });
    const fast = await createWebhook(app(), { url: `${fine.url}/hook`, events: ["key.revoked"] });
    for (let i = 0; i < 6; i++) expectStatus(await app().call("POST", `/api/webhooks/${slow.id}/test`), 202);
    expectStatus(await app().call("POST", `/api/webhooks/${fast.id}/test`), 202);
    const pass = app().services.webhookDispatcher.runOnce();
    await fine.waitFor(1);
    await stuck.waitFor(2);
    await Bun.sleep(50);
    // Two at a time per webhook: the other four wait their turn.
    expect(stuck.received).toHaveLength(2);
    await stuck.stop();
    await pass;
  });
});
