/**
 * Webhooks on Deno: the same Web Crypto signing, timers and fetch deliver a
 * signed event that an independent verifier accepts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { adminApi } from "../helpers/admin-api.ts";
import { denoOrWarn, startKeywardOnDeno, type KeywardOnDeno } from "../helpers/deno.ts";
import { startWebhookReceiver, verifyStandardWebhook } from "../helpers/webhook-receiver.ts";

const deno = denoOrWarn("Deno webhook test");

const receiver = startWebhookReceiver();
let running: KeywardOnDeno | undefined;

afterAll(async () => {
  await running?.cleanup();
  await receiver.stop();
});

describe.skipIf(!deno)("webhooks on Deno", () => {
  test("a test event arrives signed as Standard Webhooks describes", async () => {
    running = await startKeywardOnDeno(deno as string, "webhooks");
    let token = running.rootToken();
    for (let i = 0; i < 100 && !token; i++) {
      await Bun.sleep(20);
      token = running.rootToken();
    }
    const api = adminApi(running.url, token);
    const created = await api.call<{ id: string; secret: string }>("POST", "/api/webhooks", { url: `${receiver.url}/hook`, events: ["key.revoked"] });
    expect(created.status).toBe(201);
    const queued = await api.call<{ event_id: string }>("POST", `/api/webhooks/${created.body.id}/test`);
    expect(queued.status).toBe(202);
    const [delivery] = await receiver.waitFor(1, 15_000);
    expect(delivery?.id).toBe(queued.body.event_id);
    expect(verifyStandardWebhook(created.body.secret, delivery!)).toBe(true);
  });
});
