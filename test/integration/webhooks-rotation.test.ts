/**
 * Master key rotation re-encrypts webhook secrets with the provider keys: after
 * it, the server opens with the new key and still signs with the secret the
 * receiver was given; the old key opens nothing.
 */
import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { webhookContext } from "../../src/alerts/webhooks.ts";
import type { AlertOptions } from "../../src/alerts/options.ts";
import { openDatabase } from "../../src/db/open.ts";
import { createSqliteStore } from "../../src/db/sqlite-store.ts";
import { detectRuntime } from "../../src/runtime/index.ts";
import { CHECK_KEY, unlockCheckValue } from "../../src/vault/keyring.ts";
import { rotateMasterKey } from "../../src/vault/rotation.ts";
import { Sealer } from "../../src/vault/sealing.ts";
import { expectStatus } from "../helpers/admin-fixtures.ts";
import { createTestApp, TestClock } from "../helpers/app.ts";
import { startWebhookReceiver, verifyStandardWebhook, type WebhookReceiver } from "../helpers/webhook-receiver.ts";

const MANUAL: Partial<AlertOptions> = { pollIntervalMs: 3_600_000, checkIntervalMs: 3_600_000, expiryScanIntervalMs: 3_600_000 };

let receiver: WebhookReceiver | undefined;
let dataDir: string | undefined;
afterEach(async () => {
  await receiver?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("rotation re-encrypts webhook secrets: deliveries after it are signed with the same secret", async () => {
  receiver = startWebhookReceiver();
  const oldKey = crypto.getRandomValues(new Uint8Array(32));
  const newKey = crypto.getRandomValues(new Uint8Array(32));
  const clock = new TestClock();
  const first = await createTestApp({ masterKey: oldKey, clock, config: { alerts: MANUAL } });
  dataDir = first.dataDir;
  const created = await first.call("POST", "/api/webhooks", { url: `${receiver.url}/hook`, events: ["key.revoked"] });
  expectStatus(created, 201);
  const secret = created.json.secret as string;
  const id = created.json.id as string;
  const rootToken = first.rootToken;
  await first.close();

  // As `keyward rotate-master-key` does, with the server stopped.
  const opened = openDatabase(await detectRuntime(), dataDir);
  const store = createSqliteStore(opened.db, () => opened.client.close());
  try {
    const sealer = await unlockCheckValue(store.meta.get(CHECK_KEY) as string, oldKey);
    const result = await rotateMasterKey(store, sealer, newKey, clock);
    expect(result).toMatchObject({ fromVersion: 1, toVersion: 2, webhooks: 1 });
    const row = store.webhooks.byId(id);
    expect(row?.keyVersion).toBe(2);
    // The new key opens it; the old one, relabelled to the new version, does not.
    const fresh = await Sealer.create(newKey, 2);
    expect(await fresh.open({ keyVersion: 2, nonce: row!.nonce, ciphertext: row!.ciphertext }, webhookContext(id))).toBe(secret);
    const stale = await Sealer.create(oldKey, 2);
    await expect(stale.open({ keyVersion: 2, nonce: row!.nonce, ciphertext: row!.ciphertext }, webhookContext(id))).rejects.toThrow();
    expect(store.audit.page({ limit: 1 })[0]?.details).toMatchObject({ webhooks: 1 });
  } finally {
    store.close();
  }

  const second = await createTestApp({ dataDir, masterKey: newKey, clock, rootToken, config: { alerts: MANUAL } });
  try {
    const queued = await second.call("POST", `/api/webhooks/${id}/test`);
    expectStatus(queued, 202);
    await second.services.webhookDispatcher.runOnce();
    const [delivery] = await receiver.waitFor(1);
    expect(delivery?.id).toBe(queued.json.event_id);
    expect(verifyStandardWebhook(secret, delivery!)).toBe(true);
  } finally {
    await second.close();
  }
});
