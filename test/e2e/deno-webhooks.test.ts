/**
 * Webhooks on Deno: the same Web Crypto signing, timers and fetch deliver a
 * signed event that an independent verifier accepts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adminApi } from "../helpers/admin-api.ts";
import { REPO_ROOT, startKeyward, type RunningBinary } from "../helpers/binary.ts";
import { startWebhookReceiver, verifyStandardWebhook } from "../helpers/webhook-receiver.ts";

const deno = Bun.which("deno");
if (!deno) {
  console.warn("\n!!! deno is not on PATH: SKIPPING the Deno webhook test. Install it with `npm install -g deno` (.ci/run does). !!!\n");
}

const receiver = startWebhookReceiver();
const dataDir = mkdtempSync(join(tmpdir(), "keyward-deno-webhooks-"));
let running: RunningBinary | undefined;

afterAll(async () => {
  await running?.stop();
  await receiver.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe.skipIf(!deno)("webhooks on Deno", () => {
  test("a test event arrives signed as Standard Webhooks describes", async () => {
    running = await startKeyward(
      [
        deno as string,
        "run",
        "-A",
        join(REPO_ROOT, "src/main.ts"),
        "serve",
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--data-dir",
        dataDir,
        "--allow-http-upstreams",
      ],
      // Deno may compile and cache on its first run.
      { cwd: REPO_ROOT, timeoutMs: 120_000 },
    );
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
