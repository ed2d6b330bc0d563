/**
 * kill -9 under load: the supervised binary (supervisor and serving child,
 * both SIGKILLed at once) while proxy traffic runs and admins create and
 * revoke keys. After a restart every key whose creation was acknowledged is
 * there, every acknowledged revocation holds, and spend never goes below what
 * had been committed (the request-log writer commits spend every 200 ms with
 * relaxed durability: WAL without fsync, which survives a process kill).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { MOCK_TEXT, startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { killServer, Leftovers, opsBinary, proxyLoad, queryFile, startServe, type OpsBinary } from "../helpers/ops.ts";
import { chatAnswerText, chatBody, createKeyPairOver, expectProxyError, readText, type KeyPair } from "../helpers/proxy.ts";

const left = new Leftovers();
let binary: OpsBinary;
let mock: MockProvider;

beforeAll(async () => {
  binary = await opsBinary(left);
  mock = await startMockProvider();
});

afterAll(async () => {
  await left.cleanupAll();
  await mock.stop();
});

const spendOf = async (dbPath: string, ids: string[]) =>
  new Map(
    (await queryFile(dbPath, `SELECT id, spend_micros FROM proxy_keys WHERE id IN (${ids.map((id) => `'${id}'`).join(",")})`)).map(
      ([id, spend]) => [String(id), Number(spend)] as const,
    ),
  );

test("SIGKILL under load loses no acknowledged key, revocation or committed spend", async () => {
  const dataDir = join(left.dir(), "data");
  const dbPath = join(dataDir, "keyward.db");
  const live = await startServe(left, binary, dataDir);
  const traffic: KeyPair[] = [];
  for (let i = 0; i < 4; i++) traffic.push(await createKeyPairOver(live.api, { base_url: mock.baseUrl }));
  const providerKeyId = traffic[0]?.providerKeyId as string;
  const trafficIds = traffic.map((p) => p.proxyKeyId);

  // Every request costs the same (same model, same usage from the mock): measure one, once committed.
  const warm = await fetch(`${live.server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${traffic[0]?.proxyKey}`, "content-type": "application/json" },
    body: chatBody(),
  });
  expect(warm.status).toBe(200);
  expect(chatAnswerText(await warm.text())).toBe(MOCK_TEXT);
  await Bun.sleep(500);
  const unitMicros = (await spendOf(dbPath, trafficIds)).get(trafficIds[0] as string) ?? 0;
  expect(unitMicros).toBeGreaterThan(0);

  const load = proxyLoad(
    live.server.url,
    traffic.map((p) => p.proxyKey),
    { concurrency: 6, maxRequests: 50_000 },
  );

  // Admin writers: mint keys, revoke every third one; only acknowledged (201/200) operations are recorded.
  const created = new Map<string, string>();
  const revoked = new Set<string>();
  let writing = true;
  const writer = async (w: number) => {
    for (let i = 0; writing && i < 2_000; i++) {
      try {
        const minted = await live.api.mintProxyKey({ name: `durable-${w}-${i}`, provider_key_id: providerKeyId });
        if (minted.status !== 201) continue;
        created.set(minted.body.id, minted.body.key);
        if (i % 3 === 0) {
          const done = await live.api.revokeProxyKey(minted.body.id, {});
          if (done.status === 200) revoked.add(minted.body.id);
        }
      } catch {
        // The server died under this request: not acknowledged, not counted.
      }
    }
  };
  const writers = [writer(0), writer(1)];

  // Committed spend, read from the file as the server writes it: it must only ever grow.
  let committed = await spendOf(dbPath, trafficIds);
  const snapshots: Array<Map<string, number>> = [committed];
  const started = performance.now();
  while (performance.now() - started < 1_500) {
    await Bun.sleep(100);
    const now = await spendOf(dbPath, trafficIds);
    for (const id of trafficIds) expect(now.get(id) ?? 0).toBeGreaterThanOrEqual(committed.get(id) ?? 0);
    committed = now;
    snapshots.push(now);
  }
  // The last committed values, then the kill at a moment nobody chose.
  committed = await spendOf(dbPath, trafficIds);
  await Bun.sleep(Math.random() * 150);
  await killServer(live.server, dataDir);
  writing = false;
  const stats = await load.stop();
  await Promise.all(writers);
  const logRowsBefore = Number((await queryFile(dbPath, "SELECT count(*) FROM request_log"))[0]?.[0]);

  const after = await startServe(left, binary, dataDir, { token: live.token });
  try {
    for (const id of created.keys()) {
      const key = await after.api.getProxyKey(id);
      expect(key.status, `created key ${id}`).toBe(200);
      expect(key.body.status).toBe(revoked.has(id) ? "revoked" : "active");
    }
    const restored = new Map<string, number>();
    for (const id of trafficIds) {
      const view = await after.api.call<{ spend_usd: number }>("GET", `/api/proxy-keys/${id}`);
      restored.set(id, Math.round(view.body.spend_usd * 1_000_000));
      expect(restored.get(id) ?? 0).toBeGreaterThanOrEqual(committed.get(id) ?? 0);
    }
    // A key minted before the kill works after it, and a revoked one stays refused.
    const active = [...created.keys()].find((id) => !revoked.has(id));
    const gone = [...revoked][0];
    for (const [id, expected] of [
      [active, 200],
      [gone, 401],
    ] as const) {
      if (!id) continue;
      const response = await fetch(`${after.server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${created.get(id)}`, "content-type": "application/json" },
        body: chatBody(),
      });
      const answer = await readText(response);
      if (expected === 200) {
        expect(answer.status).toBe(200);
        expect(chatAnswerText(answer.text)).toBe(MOCK_TEXT);
      } else {
        expectProxyError(answer, 401, "invalid_api_key");
      }
    }
    // Requests answered to a client whose spend was still in memory (up to one 200 ms flush) are what a kill loses.
    const answered = stats.ok + 1;
    const persisted = Math.round(trafficIds.reduce((sum, id) => sum + (restored.get(id) ?? 0), 0) / unitMicros);
    console.log(
      `[ops] kill -9 under load: ${created.size} keys created and ${revoked.size} revoked, all acknowledged ones present after restart; ` +
        `${answered} proxied requests answered before the kill, spend of ${persisted} on disk after it ` +
        `(${answered - persisted} answered in the last flush interval lost), ${logRowsBefore} request-log rows; ` +
        `spend never below the last committed value`,
    );
    expect(persisted).toBeLessThanOrEqual(answered + 6);
    expect(created.size).toBeGreaterThan(0);
    expect(revoked.size).toBeGreaterThan(0);
    expect(stats.ok).toBeGreaterThan(0);
  } finally {
    expect(await after.server.stop("SIGTERM")).toBe(0);
  }
  // The last connection to close checkpoints the WAL into keyward.db and removes it, so a copy of
  // the file alone is complete. A connection left open (the log worker's) would keep it.
  expect(existsSync(`${dbPath}-wal`), "a clean shutdown leaves no WAL beside the database").toBe(false);
});
