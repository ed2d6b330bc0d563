/**
 * Knowing a key id (ids are public: listings, logs) must not let a stranger
 * lock the key out. A keyward restarted on a data dir has verified no key yet;
 * a stranger then floods a key id with distinct wrong secrets (all well
 * formed, valid checksums) while the key's owner sends its first request from
 * another address. The owner must get through within 2 s, and argon2 must run
 * no more than each flooding address's allowance (5 a minute per key id for
 * proxy keys, 10 for admin tokens) plus the owner's own run.
 *
 * Real HTTP into the app wrapped by `withAccessLog` with `--trust-proxy`, as
 * `src/server.ts` serves it: the client address is the last X-Forwarded-For
 * entry, so one test process can speak from several addresses.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { withAccessLog } from "../../src/telemetry/access-log.ts";
import { generateKey, parseKey } from "../../src/vault/key-format.ts";
import { createTestApp, TestClock, type TestApp } from "../helpers/app.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { chatBody, createKeyPair, type KeyPair } from "../helpers/proxy.ts";

/** From src/app.ts: unverified tries per key id and client address per minute. */
const PROXY_ALLOWANCE = 5;
const ADMIN_ALLOWANCE = 10;
const OWNER = "198.51.100.7";
const MAX_WAIT_MS = 2_000;

let mock: MockProvider;
let t: TestApp;
let server: ReturnType<typeof Bun.serve>;
let url: string;
let pair: KeyPair;

beforeAll(async () => {
  mock = await startMockProvider();
  // The first run: the key is minted and used, so it worked before the restart.
  const first = await createTestApp({ clock: new TestClock() });
  pair = await createKeyPair(first, { base_url: mock.baseUrl });
  const used = await first.app.handle(
    new Request("http://localhost/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${pair.proxyKey}`, "content-type": "application/json" },
      body: chatBody(),
    }),
  );
  expect(used.status).toBe(200);
  await first.close();
  // The restart: same data dir and master key, nothing verified in this process.
  t = await createTestApp({ clock: new TestClock(), dataDir: first.dataDir, masterKey: first.masterKey, rootToken: first.rootToken });
  const handle = withAccessLog(t.fetch, { access: () => {}, trustProxy: true });
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    fetch: (request, srv) => handle(request, { remoteAddress: srv.requestIP(request)?.address }),
  });
  url = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server?.stop(true);
  await mock?.stop();
  if (t) {
    await t.close();
    rmSync(t.dataDir, { recursive: true, force: true });
  }
});

function proxyRequest(key: string, from: string): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-forwarded-for": from },
    body: chatBody(),
  });
}

function adminRequest(token: string, from: string): Promise<Response> {
  return fetch(`${url}/api/admin-tokens`, { headers: { authorization: `Bearer ${token}`, "x-forwarded-for": from } });
}

interface Flood {
  stop(): Promise<number[]>;
}

/**
 * `concurrency` requests in flight from each address, each with a secret never
 * sent before; with `sustained`, each is replaced as soon as it is answered,
 * until stopped.
 */
function startFlood(addresses: readonly string[], concurrency: number, sustained: boolean, send: (from: string) => Promise<Response>): Flood {
  const statuses: number[] = [];
  let running = true;
  const worker = async (from: string) => {
    do {
      const response = await send(from);
      await response.arrayBuffer();
      statuses.push(response.status);
    } while (sustained && running);
  };
  const workers = addresses.flatMap((from) => Array.from({ length: concurrency }, () => worker(from)));
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      return statuses;
    },
  };
}

/** Resolves once `condition` holds (polled), or fails the test after `ms`. */
async function until(condition: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error("condition not reached in time");
    await Bun.sleep(5);
  }
}

async function timed(request: () => Promise<Response>): Promise<{ status: number; ms: number; text: string }> {
  const started = performance.now();
  const response = await request();
  const text = await response.text();
  return { status: response.status, ms: performance.now() - started, text };
}

test("after a restart, 200 concurrent distinct wrong secrets a turn for a key id: the owner's first request passes within 2 s", async () => {
  const verifier = t.services.proxyVerifier;
  const before = verifier.argon2Runs;
  const flood = startFlood(["203.0.113.9"], 200, true, (from) => proxyRequest(generateKey("proxy", pair.proxyKeyId).token, from));
  // The flood has used up its allowance and runs on, refused without argon2.
  await until(() => verifier.argon2Runs - before >= PROXY_ALLOWANCE, 10_000);
  await Bun.sleep(200);

  const owner = await timed(() => proxyRequest(pair.proxyKey, OWNER));
  const statuses = await flood.stop();

  if (owner.status !== 200) throw new Error(`owner got ${owner.status}: ${owner.text}`);
  expect(owner.ms).toBeLessThanOrEqual(MAX_WAIT_MS);
  expect(statuses.length).toBeGreaterThan(200);
  expect(statuses.every((s) => s === 401)).toBe(true);
  // Bounded work: the flooding address's allowance, plus the owner's one run.
  expect(verifier.argon2Runs - before).toBeLessThanOrEqual(PROXY_ALLOWANCE + 1);
});

test("a flood from 40 addresses with 200 attempts queued: the owner of another key waits one verification per address, not per attempt", async () => {
  const other = await createKeyPair(t, { base_url: mock.baseUrl });
  const verifier = t.services.proxyVerifier;
  const before = verifier.argon2Runs;
  const addresses = Array.from({ length: 40 }, (_, i) => `203.0.113.${i + 1}`);
  // Five from each address, each address's allowance, so 200 argon2 runs queue at once. Not
  // sustained: refusals past the allowance are instant, and a client looping on them in this
  // process would take the CPU that argon2, at low priority, needs.
  const flood = startFlood(addresses, PROXY_ALLOWANCE, false, (from) => proxyRequest(generateKey("proxy", other.proxyKeyId).token, from));
  await until(() => verifier.argon2Runs - before >= 2, 10_000);
  await Bun.sleep(100);

  const owner = await timed(() => proxyRequest(other.proxyKey, OWNER));
  const statuses = await flood.stop();

  if (owner.status !== 200) throw new Error(`owner got ${owner.status}: ${owner.text}`);
  // In arrival order the owner would wait for ~200 runs (several seconds); round-robin over addresses, ≤ 40.
  expect(owner.ms).toBeLessThanOrEqual(MAX_WAIT_MS);
  expect(statuses.every((s) => s === 401)).toBe(true);
  expect(verifier.argon2Runs - before).toBeLessThanOrEqual(addresses.length * PROXY_ALLOWANCE + 1);
});

test("admin tokens: a flood of wrong secrets for a token's id does not lock the token out", async () => {
  // A token this process has not verified yet (the root token it has).
  const created = await t.call("POST", "/api/admin-tokens", { name: "dashboards", scopes: ["read"] });
  expect(created.status).toBe(201);
  const token: string = created.json.token;
  const id = parseKey("admin", token)?.id as string;
  const verifier = t.services.adminVerifier;
  const before = verifier.argon2Runs;
  const flood = startFlood(["203.0.113.200"], 100, true, (from) => adminRequest(generateKey("admin", id).token, from));
  await until(() => verifier.argon2Runs - before >= ADMIN_ALLOWANCE, 10_000);
  await Bun.sleep(100);

  const owner = await timed(() => adminRequest(token, OWNER));
  const statuses = await flood.stop();

  if (owner.status !== 200) throw new Error(`token got ${owner.status}: ${owner.text}`);
  expect(owner.ms).toBeLessThanOrEqual(MAX_WAIT_MS);
  expect(statuses.every((s) => s === 401)).toBe(true);
  expect(verifier.argon2Runs - before).toBeLessThanOrEqual(ADMIN_ALLOWANCE + 1);
});
