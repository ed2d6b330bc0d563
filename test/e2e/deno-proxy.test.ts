/**
 * The proxy under Deno: the same `/v1` forwarding, streaming and metering as
 * on Bun (Deno's `request.signal` is not a disconnect signal, so the runtime
 * adapter gives the proxy none; everything else is shared code).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { generateKey } from "../../src/vault/key-format.ts";
import { denoOrWarn, postCreated, startKeywardOnDeno, type KeywardOnDeno } from "../helpers/deno.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";

const deno = denoOrWarn("Deno proxy test");

let server: KeywardOnDeno | undefined;
let mock: MockProvider | undefined;
const admin = generateKey("admin").token;

beforeAll(async () => {
  if (!deno) return;
  mock = await startMockProvider({ chunks: 4, chunkDelayMs: 20, usage: { input: 9, output: 4 } });
  server = await startKeywardOnDeno(deno, "proxy", { KEYWARD_ADMIN_TOKEN: admin });
});

afterAll(async () => {
  await server?.cleanup();
  await mock?.stop();
});

const post = <T>(path: string, body: unknown) => postCreated<T>(`${server?.url}`, admin, path, body);

describe.skipIf(!deno)("proxy on Deno", () => {
  test("plain and streamed chat completions are forwarded, metered and logged", async () => {
    const provider = await post<{ id: string }>("/api/provider-keys", {
      name: "mock",
      provider: "openai",
      key: "sk-deno-upstream-1234",
      base_url: mock?.baseUrl,
    });
    const key = await post<{ id: string; key: string }>("/api/proxy-keys", { name: "deno", provider_key_id: provider.id, budget_usd: 1 });
    const client = new OpenAI({ apiKey: key.key, baseURL: `${server?.url}/v1`, maxRetries: 0 });

    const plain = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    expect(plain.choices[0]?.message.content).toBeString();

    const stream = await client.chat.completions.create({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "hi" }] });
    let text = "";
    for await (const chunk of stream) {
      expect(chunk.usage ?? undefined).toBeUndefined();
      text += chunk.choices[0]?.delta.content ?? "";
    }
    expect(text.length).toBeGreaterThan(0);
    expect(mock?.requests.every((r) => r.headers.authorization === "Bearer sk-deno-upstream-1234")).toBe(true);

    const logs = await fetch(`${server?.url}/api/logs?proxy_key_id=${key.id}`, { headers: { authorization: `Bearer ${admin}` } });
    const entries = ((await logs.json()) as { data: { status: number; streamed: boolean; output_tokens: number }[] }).data;
    expect(entries.toSorted((a, b) => Number(a.streamed) - Number(b.streamed)).map((e) => [e.status, e.streamed, e.output_tokens])).toEqual([
      [200, false, 4],
      [200, true, 4],
    ]);
    // Those rows came from the log worker: it started under Deno and did not hand over to the server thread.
    expect(server?.stderr()).not.toContain("Request log moves to the server thread");
    // The key's first request was verified by an argon2 worker, which started under Deno too.
    expect(server?.stderr()).not.toContain("argon2 verifications move to the runtime's threads");
  });

  test("a 204 that still names a JSON type passes through: Deno refuses a body with a null-body status", async () => {
    const bodiless = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      // Allowed, and seen in practice: the type of a body that is not there.
      fetch: () => new Response(null, { status: 204, headers: { "content-type": "application/json" } }),
    });
    try {
      const provider = await post<{ id: string }>("/api/provider-keys", {
        name: "bodiless",
        provider: "openai",
        key: "sk-deno-bodiless-1234",
        base_url: `http://127.0.0.1:${bodiless.port}/v1`,
      });
      const key = await post<{ key: string }>("/api/proxy-keys", { name: "deno-204", provider_key_id: provider.id });
      // A path outside the stored objects keyward keeps owners for: a file id would be another key's (404).
      const response = await fetch(`${server?.url}/v1/assistants/asst-1`, { method: "DELETE", headers: { authorization: `Bearer ${key.key}` } });
      expect(response.status).toBe(204);
      expect(await response.text()).toBe("");
    } finally {
      await bodiless.stop(true);
    }
  });
});
