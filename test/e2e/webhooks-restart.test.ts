/**
 * At least once across restarts, with the compiled binary: an event whose
 * delivery is cut short by a clean stop (SIGTERM) and then by a kill -9 is
 * delivered after the next start, with the same webhook-id, signed with the
 * same secret, and listed as delivered.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { killServer, Leftovers, opsBinary, startServe, type OpsBinary } from "../helpers/ops.ts";
import { startWebhookReceiver, verifyStandardWebhook, type WebhookReceiver } from "../helpers/webhook-receiver.ts";

const left = new Leftovers();
let binary: OpsBinary;
let receiver: WebhookReceiver;

beforeAll(async () => {
  binary = await opsBinary(left);
  receiver = startWebhookReceiver({ fallback: "hang" });
});

afterAll(async () => {
  await receiver.stop();
  await left.cleanupAll();
});

interface Delivery {
  event_id: string;
  status: string;
  attempts: number;
  last_status: number | null;
}

test("an event cut short by a stop and by a kill -9 is delivered after the next start", async () => {
  const dataDir = join(left.dir(), "data");
  const first = await startServe(left, binary, dataDir);
  const created = await first.api.call<{ id: string; secret: string }>("POST", "/api/webhooks", { url: `${receiver.url}/hook`, events: ["key.revoked"] });
  expect(created.status).toBe(201);
  const { id, secret } = created.body;
  const queued = await first.api.call<{ event_id: string }>("POST", `/api/webhooks/${id}/test`);
  expect(queued.status).toBe(202);
  const eventId = queued.body.event_id;

  // The receiver holds the first attempt open; a clean stop cuts it short without counting it.
  await receiver.waitFor(1, 15_000);
  expect(await first.server.stop("SIGTERM")).toBe(0);

  // Started again on the same data dir, it tries again at once; this time the process is killed outright.
  const second = await startServe(left, binary, dataDir, { token: first.token });
  await receiver.waitFor(2, 15_000);
  await killServer(second.server, dataDir);

  receiver.fallback = 200;
  const third = await startServe(left, binary, dataDir, { token: first.token });
  await receiver.waitFor(3, 15_000);
  expect(receiver.received.map((d) => d.id)).toEqual([eventId, eventId, eventId]);
  for (const delivery of receiver.received) expect(verifyStandardWebhook(secret, delivery)).toBe(true);

  // Recorded once the receiver's 200 is in: one attempt, the one that counted.
  let listed: Delivery[] = [];
  for (let i = 0; i < 100; i++) {
    listed = (await third.api.call<{ data: Delivery[] }>("GET", `/api/webhooks/${id}/deliveries`)).body.data;
    if (listed[0]?.status === "delivered") break;
    await Bun.sleep(50);
  }
  expect(listed).toEqual([expect.objectContaining({ event_id: eventId, status: "delivered", attempts: 1, last_status: 200 })]);
  // And not again: delivered is final.
  await Bun.sleep(1_500);
  expect(receiver.received).toHaveLength(3);
  expect(await third.server.stop("SIGTERM")).toBe(0);
});
