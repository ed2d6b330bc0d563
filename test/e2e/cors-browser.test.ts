/**
 * A page in a real headless Chromium calls /v1/chat/completions on the
 * compiled binary with a proxy key: from an origin `--cors-origins` lists it
 * reads the answer (plain and streamed) and the exposed `x-keyward-request-id`; from
 * any other origin the browser refuses the call and nothing reaches the
 * provider. The pages are served by two small servers on 127.0.0.1, so the
 * two origins differ by port.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chromiumOrWarn, launchChromium, type LaunchedChromium } from "../helpers/chromium.ts";
import { MOCK_TEXT } from "../helpers/mock-provider.ts";
import { createKeyPairOver, startBinaryHarness, type BinaryHarness, type KeyPair } from "../helpers/proxy.ts";

const hasChromium = chromiumOrWarn("CORS browser test");

const page = () => new Response("<!doctype html><title>app</title>", { headers: { "content-type": "text/html" } });

let listedSite: ReturnType<typeof Bun.serve> | undefined;
let otherSite: ReturnType<typeof Bun.serve> | undefined;
let h: BinaryHarness | undefined;
let keys: KeyPair | undefined;
let browser: LaunchedChromium | undefined;

beforeAll(async () => {
  if (!hasChromium) return;
  listedSite = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: page });
  otherSite = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: page });
  h = await startBinaryHarness({}, { KEYWARD_CORS_ORIGINS: `http://127.0.0.1:${listedSite.port}` });
  keys = await createKeyPairOver(h.api, { base_url: h.mock.baseUrl });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.cleanup();
  await h?.cleanup();
  await listedSite?.stop(true);
  await otherSite?.stop(true);
});

interface PageCall {
  ok: boolean;
  status?: number;
  requestId?: string | null;
  text?: string;
  error?: string;
}

/** Runs `fetch` inside a page loaded from `site`, the way a browser app would call keyward. */
async function callFromPage(site: string, stream: boolean): Promise<PageCall> {
  const tab = await (browser as LaunchedChromium).context.newPage();
  try {
    await tab.goto(site);
    const args = { url: `${h?.server.url}/v1/chat/completions`, key: keys?.proxyKey ?? "", stream };
    return await tab.evaluate(async ({ url, key, stream }): Promise<PageCall> => {
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-stainless-lang": "js" },
          body: JSON.stringify({ model: "gpt-4o-mini", stream, messages: [{ role: "user", content: "hi" }] }),
        });
        return { ok: true, status: response.status, requestId: response.headers.get("x-keyward-request-id"), text: await response.text() };
      } catch (err) {
        return { ok: false, error: String(err) };
      }
    }, args);
  } finally {
    await tab.close();
  }
}

/** The assistant text of a JSON answer or an SSE stream. */
function answerText(body: string): string {
  if (body.startsWith("{")) return (JSON.parse(body) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content ?? "";
  return body
    .split("\n\n")
    .map((block) => block.slice(block.indexOf("data: ") + 6))
    .filter((data) => data.startsWith("{"))
    .map((data) => (JSON.parse(data) as { choices: Array<{ delta?: { content?: string } }> }).choices[0]?.delta?.content ?? "")
    .join("");
}

describe.skipIf(!hasChromium)("CORS in headless Chromium", () => {
  test("a page on a listed origin calls /v1/chat/completions with a proxy key, plain and streamed", async () => {
    for (const stream of [false, true]) {
      const call = await callFromPage(`http://127.0.0.1:${listedSite?.port}/`, stream);
      expect([stream, call.ok, call.status, call.error]).toEqual([stream, true, 200, undefined]);
      expect(call.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(answerText(call.text ?? "")).toBe(MOCK_TEXT);
    }
    expect(h?.mock.requests).toHaveLength(2);
  });

  test("a page on any other origin is refused by the browser, and nothing reaches the provider", async () => {
    h?.mock.reset();
    const call = await callFromPage(`http://127.0.0.1:${otherSite?.port}/`, false);
    expect(call.ok).toBe(false);
    expect(call.error).toContain("Failed to fetch");
    expect(h?.mock.requests).toHaveLength(0);
    // The refused preflight has its access line.
    expect(h?.server.stderr()).toMatch(/"method":"OPTIONS","path":"\/v1\/chat\/completions","status":403/);
  });
});
