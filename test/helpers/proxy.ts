/**
 * Shared pieces for the forwarding-proxy suites (test/integration/proxy-*,
 * limits-*, test/e2e/proxy-*): an in-process keyward served on a real port
 * next to a mock provider (or the compiled binary), hooked into a suite by
 * useProxyHarness / useBinaryHarness, key setup, the OpenAI error-shape
 * assertion and SSE reading.
 */
import { afterAll, beforeAll, beforeEach, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adminApi, randomMasterKey, type AdminApi } from "./admin-api.ts";
import { createTestApp, TestClock, type TestApp, type TestAppOptions } from "./app.ts";
import { isolatedBinary, startKeyward, type RunningBinary } from "./binary.ts";
import { startMockProvider, type MockBehaviourInput, type MockProvider, type RecordedRequest } from "./mock-provider.ts";

export interface ProxyHarness {
  t: TestApp;
  clock: TestClock;
  mock: MockProvider;
  /** `http://127.0.0.1:PORT` of the served in-process keyward (the Anthropic SDK's baseURL). */
  url: string;
  /** `url + "/v1"` (the OpenAI SDK's baseURL). */
  baseUrl: string;
  stop(): Promise<void>;
}

export type ProxyHarnessOptions = Omit<TestAppOptions, "clock"> & { mock?: MockBehaviourInput };

/**
 * keyward in process, served on port 0 (so SDKs and raw sockets reach it over
 * real HTTP), plus a mock provider. Always `stop()` it (afterAll/finally).
 */
export async function startProxyHarness(options: ProxyHarnessOptions = {}): Promise<ProxyHarness> {
  const clock = new TestClock();
  const mock = await startMockProvider(options.mock);
  const t = await createTestApp({ ...options, clock });
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", idleTimeout: 0, fetch: (r) => t.app.handle(r) });
  const url = `http://127.0.0.1:${server.port}`;
  return {
    t,
    clock,
    mock,
    url,
    baseUrl: `${url}/v1`,
    async stop() {
      await server.stop(true);
      await mock.stop();
      await t.cleanup();
    },
  };
}

export interface ProxySuite extends ProxyHarness {
  /** The suite's provider key and proxy key on it (only with the `keys` option). */
  keys: KeyPair;
}

export type ProxySuiteOptions = ProxyHarnessOptions & {
  /**
   * Create a provider key and a proxy key on it before the tests: `true`, or fields for them
   * (`base_url` defaults to the mock's; a function is called in beforeAll, after earlier hooks).
   */
  keys?: true | Partial<KeyPairInput> | (() => Partial<KeyPairInput>);
};

/**
 * One harness shared by the tests of a file (or of the describe it is called in): started
 * in beforeAll (with a key pair when asked), the mock reset before each test, stopped in
 * afterAll. The returned object is filled in beforeAll: use it inside hooks and tests.
 */
export function useProxyHarness(options: ProxySuiteOptions = {}): ProxySuite {
  const { keys, ...harnessOptions } = options;
  const suite = {} as ProxySuite;
  let harness: ProxyHarness | undefined;
  beforeAll(async () => {
    harness = await startProxyHarness(harnessOptions);
    Object.assign(suite, harness);
    // The suites sharing a harness test rate and concurrency limits as one instance holds them whole
    // (on PostgreSQL a new instance waits a few seconds for its share); waited for after the key setup.
    const whole = harness.t.wholeRateLimits();
    // Awaited below; a failure must not count as unhandled while the keys are made.
    whole.catch(() => {});
    if (keys === undefined) {
      Object.defineProperty(suite, "keys", {
        get: () => {
          throw new Error("no key pair: pass `keys` to useProxyHarness");
        },
      });
    } else {
      const input = keys === true ? {} : typeof keys === "function" ? keys() : keys;
      suite.keys = await createKeyPair(harness.t, { base_url: harness.mock.baseUrl, ...input });
    }
    await whole;
  });
  beforeEach(() => suite.mock.reset());
  afterAll(() => harness?.stop());
  return suite;
}

let counter = 0;

export interface KeyPair {
  providerKeyId: string;
  /** The real provider key keyward must put upstream. */
  providerSecret: string;
  /** The full `kwp_…` proxy key handed to clients. */
  proxyKey: string;
  proxyKeyId: string;
}

export interface KeyPairInput {
  provider?: string;
  base_url: string;
  key?: string;
  inject_stream_usage?: boolean;
  /** Extra proxy-key fields (ttl_seconds, expires_at…). */
  proxy?: Record<string, unknown>;
}

/** A provider key (pointing at the mock) and one proxy key on it, through the admin API. */
export async function createKeyPair(t: TestApp, input: KeyPairInput): Promise<KeyPair> {
  counter++;
  const providerSecret = input.key ?? `sk-upstream-${counter}-${crypto.randomUUID()}`;
  const provider = await t.call("POST", "/api/provider-keys", {
    name: `proxy-test-provider-${counter}`,
    provider: input.provider ?? "openai",
    key: providerSecret,
    base_url: input.base_url,
    ...(input.inject_stream_usage === undefined ? {} : { inject_stream_usage: input.inject_stream_usage }),
  });
  if (provider.status !== 201) throw new Error(`cannot create provider key: ${provider.status} ${provider.text}`);
  const proxy = await t.call("POST", "/api/proxy-keys", {
    name: `proxy-test-key-${counter}`,
    provider_key_id: provider.json.id,
    ...input.proxy,
  });
  if (proxy.status !== 201) throw new Error(`cannot create proxy key: ${proxy.status} ${proxy.text}`);
  return { providerKeyId: provider.json.id, providerSecret, proxyKey: proxy.json.key, proxyKeyId: proxy.json.id };
}

/** The same, over HTTP against a running binary. */
export async function createKeyPairOver(api: AdminApi, input: KeyPairInput): Promise<KeyPair> {
  counter++;
  const providerSecret = input.key ?? `sk-upstream-${counter}-${crypto.randomUUID()}`;
  const provider = await api.createProviderKey({
    name: `proxy-e2e-provider-${counter}`,
    provider: input.provider ?? "openai",
    key: providerSecret,
    base_url: input.base_url,
  });
  if (provider.status !== 201) throw new Error(`cannot create provider key: ${provider.status} ${provider.text}`);
  const proxy = await api.mintProxyKey({ name: `proxy-e2e-key-${counter}`, provider_key_id: provider.body.id });
  if (proxy.status !== 201) throw new Error(`cannot create proxy key: ${proxy.status} ${proxy.text}`);
  return { providerKeyId: provider.body.id, providerSecret, proxyKey: proxy.body.key, proxyKeyId: proxy.body.id };
}

/** The secret part of a `kwp_<id>_<secret><crc>` key (what must never leak). */
export function secretOf(proxyKey: string): string {
  return proxyKey.slice(proxyKey.lastIndexOf("_") + 1);
}

/** Everything a recorded upstream request carried, as one searchable string. */
export function wireText(rec: RecordedRequest): string {
  return JSON.stringify({ path: rec.path, query: rec.query, headers: rec.headers, body: rec.body });
}

/** Asserts that no upstream request carried the proxy key (nor its secret part) anywhere. */
export function expectProxyKeyNeverUpstream(mock: MockProvider, proxyKey: string): void {
  expect(mock.requests.length).toBeGreaterThan(0);
  for (const rec of mock.requests) {
    const text = wireText(rec);
    expect(text).not.toContain(proxyKey);
    expect(text).not.toContain(secretOf(proxyKey));
  }
}

export interface ProxyErrorBody {
  error: { message: string; type: string; code: string; param?: string | null };
}

/**
 * Asserts keyward's own error shape on `/v1/*`, exactly:
 * `{"error":{"message","type","code"}}` (plus OpenAI's `param`: the request
 * field at fault, or null).
 * Returns the parsed body for further checks.
 */
export function expectProxyError(res: { status: number; headers: Headers; text: string }, status: number, code: string): ProxyErrorBody {
  if (res.status !== status) throw new Error(`expected ${status} ${code}, got ${res.status}: ${res.text}`);
  expect(res.headers.get("content-type") ?? "").toContain("application/json");
  const body = JSON.parse(res.text) as ProxyErrorBody;
  expect(Object.keys(body)).toEqual(["error"]);
  const keys = Object.keys(body.error)
    .filter((k) => k !== "param")
    .sort();
  expect(keys).toEqual(["code", "message", "type"]);
  if ("param" in body.error && body.error.param !== null) expect(typeof body.error.param).toBe("string");
  expect(body.error.code).toBe(code);
  expect(typeof body.error.type).toBe("string");
  expect(body.error.type.length).toBeGreaterThan(0);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(0);
  return body;
}

/** A response's status, headers and whole text (for error checks). */
export async function readText(response: Response): Promise<{ status: number; headers: Headers; text: string }> {
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** `fetch` that returns status, headers and the whole text (for error checks). */
export async function fetchText(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; text: string }> {
  return readText(await fetch(url, init));
}

/**
 * The assistant text of a chat-completions answer, JSON or SSE. A stream must end with
 * `[DONE]` (it throws otherwise), so a cut stream fails the test that reads it.
 */
export function chatAnswerText(body: string): string {
  if (body.trimStart().startsWith("{")) {
    const json = JSON.parse(body) as { choices?: Array<{ message?: { content?: string | null } }> };
    return json.choices?.[0]?.message?.content ?? "";
  }
  const events = sseData(body);
  if (events.at(-1) !== "[DONE]") throw new Error(`stream did not end with [DONE]: ${body.slice(-300)}`);
  return events
    .slice(0, -1)
    .map((event) => (JSON.parse(event) as { choices?: Array<{ delta?: { content?: string | null } }> }).choices?.[0]?.delta?.content ?? "")
    .join("");
}

/** The `data:` payloads of an SSE text, in order. */
export function sseData(text: string): string[] {
  return text
    .split("\n\n")
    .filter((block) => block.includes("data: "))
    .map((block) => block.slice(block.indexOf("data: ") + 6));
}

/** A JSON chat-completions body. */
export function chatBody(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], ...extra });
}

/**
 * A fetch for SDK clients that keeps a copy of every response (status,
 * headers, full body text), so a test can check what the client saw.
 */
export function recordingFetch(): { fetch: typeof fetch; seen: Array<Promise<string>> } {
  const seen: Array<Promise<string>> = [];
  const wrapped = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const response = await fetch(input, init);
    const headerText = JSON.stringify([...response.headers]);
    if (!response.body) {
      seen.push(Promise.resolve(headerText));
      return response;
    }
    const [forClient, forTest] = response.body.tee();
    seen.push(new Response(forTest).text().then((body) => `${headerText}\n${body}`));
    return new Response(forClient, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
  return { fetch: Object.assign(wrapped, { preconnect: fetch.preconnect }), seen };
}

/** A port nothing listens on (bound once, then released). */
export async function closedPort(): Promise<number> {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
  const port = probe.port;
  await probe.stop(true);
  if (port === undefined) throw new Error("no port");
  return port;
}

// ---------- compiled binary ----------

export interface BinaryHarness {
  server: RunningBinary;
  api: AdminApi;
  mock: MockProvider;
  /** Kills whatever is still running and removes the temp dirs. */
  cleanup(): Promise<void>;
}

/** The compiled binary (supervised, as in production) in a temp dir, plus a mock provider. */
export async function startBinaryHarness(mockOptions: MockBehaviourInput = {}, env: Record<string, string> = {}): Promise<BinaryHarness> {
  const mock = await startMockProvider(mockOptions);
  const { dir, bin } = await isolatedBinary();
  const dataDir = mkdtempSync(join(tmpdir(), "keyward-proxy-e2e-"));
  let server: RunningBinary | undefined;
  const cleanup = async () => {
    if (server && server.proc.exitCode === null && server.proc.signalCode === null) {
      server.proc.kill("SIGKILL");
      await server.proc.exited;
    }
    await mock.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    server = await startKeyward([bin, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, "--allow-http-upstreams"], {
      cwd: dir,
      env: { KEYWARD_MASTER_KEY: randomMasterKey(), KEYWARD_LOG_LEVEL: "info", ...env },
    });
    // The banner (stdout) and the listening line (stderr) travel on different pipes.
    const running = server;
    let token = running.rootToken();
    for (let i = 0; i < 100 && !token; i++) {
      await Bun.sleep(20);
      token = running.rootToken();
    }
    if (!token) throw new Error(`no root token printed: ${running.stdout()}`);
    return { server, api: adminApi(server.url, token), mock, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * The compiled binary and a mock provider shared by the tests of a file, with a provider
 * key on the mock and a proxy key on it: started in beforeAll, cleaned up in afterAll.
 * The returned object is filled in beforeAll: use it inside hooks and tests.
 */
export function useBinaryHarness(mockOptions: MockBehaviourInput = {}): BinaryHarness & { keys: KeyPair } {
  const suite = {} as BinaryHarness & { keys: KeyPair };
  let harness: BinaryHarness | undefined;
  beforeAll(async () => {
    harness = await startBinaryHarness(mockOptions);
    Object.assign(suite, harness);
    suite.keys = await createKeyPairOver(harness.api, { base_url: harness.mock.baseUrl });
  });
  afterAll(() => harness?.cleanup());
  return suite;
}
