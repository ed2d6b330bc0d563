/**
 * The web console at /console in a real headless Chromium, against the
 * compiled binary and the mock provider: sign in, add a provider key, mint a
 * key and read it once, see proxied spend, revoke, mint an event's batch as
 * CSV, and see the usage chart drawn. Fails if any request leaves 127.0.0.1,
 * the page logs an error, or axe finds a WCAG A/AA violation.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { isolatedBinary, REPO_ROOT, startKeyward, type RunningBinary } from "../helpers/binary.ts";
import { axeViolations, chromiumOrWarn, launchChromium, pageFaults, refuseOffMachine, type LaunchedChromium } from "../helpers/chromium.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";

const hasChromium = chromiumOrWarn("console browser test");

/** README's picture of the usage page; rewritten only on request (UPDATE_SCREENSHOT=1), so a test run leaves the tree clean. */
const SCREENSHOT = process.env.UPDATE_SCREENSHOT === "1" ? join(REPO_ROOT, "test/e2e/fixtures/console-usage.png") : undefined;

const tempDirs: string[] = [];
let server: RunningBinary | undefined;
let mock: MockProvider | undefined;
let browser: LaunchedChromium | undefined;

beforeAll(async () => {
  if (!hasChromium) return;
  mock = await startMockProvider({ usage: { input: 100_000, output: 2_000 } });
  const { dir, bin } = await isolatedBinary();
  tempDirs.push(dir);
  server = await startKeyward([bin, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", join(dir, "data"), "--allow-http-upstreams"], { cwd: dir });
  browser = await launchChromium({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
});

afterAll(async () => {
  await browser?.cleanup();
  if (server && server.proc.exitCode === null) await server.stop("SIGTERM");
  await mock?.stop();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

function chat(url: string, key: string): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", max_tokens: 4000, messages: [{ role: "user", content: "hi" }] }),
  });
}

describe.skipIf(!hasChromium)("the console in headless Chromium", () => {
  test("sign in, keys, spend, revoke, batch CSV, usage chart; offline, no console errors, accessible", async () => {
    const running = server as RunningBinary;
    const provider = mock as MockProvider;
    const ctx = (browser as LaunchedChromium).context;
    const origin = new URL(running.url).origin;
    const requested: string[] = [];
    const page: Page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on("request", (request) => requested.push(request.url()));
    // The console asks in its own <dialog>s: a native prompt() or confirm() is a failure too.
    const errors = pageFaults(page);
    const blocked = await refuseOffMachine(ctx);

    const response = await page.goto(`${running.url}/console`, { waitUntil: "load" });
    expect(response?.status()).toBe(200);
    const headers = response?.headers() ?? {};
    expect(headers["content-security-policy"]).toContain("script-src 'self'");
    expect(headers["x-frame-options"]).toBe("DENY");
    expect(headers["referrer-policy"]).toBe("no-referrer");

    // Sign in: the sign-in page is accessible too.
    await page.getByLabel("Admin token").waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel("Admin token").fill(running.rootToken() as string);
    await page.getByLabel("Admin token").press("Enter");
    await page.getByRole("navigation", { name: "Console pages" }).waitFor();
    expect(await page.evaluate("document.cookie")).toBe("");
    expect(await page.evaluate("sessionStorage.length")).toBe(1);

    // Add a provider key.
    await page.getByRole("link", { name: "Provider keys" }).click();
    await page.getByLabel("Name", { exact: true }).fill("mock-openai");
    await page.getByLabel("API key").fill("sk-mock-abcdefghijklmnop");
    await page.getByLabel("Base URL (optional)").fill(provider.baseUrl);
    await page.getByRole("button", { name: "Add provider key" }).click();
    await page.getByRole("cell", { name: "mock-openai", exact: true }).waitFor();
    expect(await axeViolations(page)).toEqual([]);

    // Mint a key: shown once, with a copy button and the warning.
    await page.getByRole("link", { name: "Proxy keys" }).click();
    await page.locator("#px-provider option").first().waitFor({ state: "attached" });
    await page.getByLabel("Name", { exact: true }).fill("alice");
    await page.getByLabel("Budget (USD, optional)").fill("5");
    await page.getByRole("button", { name: "Mint key" }).click();
    await page.getByText("it won't be shown again").waitFor();
    await expect(page.getByRole("button", { name: "Copy" }).isVisible()).resolves.toBe(true);
    const key = await page.locator("#secret-value").inputValue();
    expect(key).toMatch(/^kwp_/);
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole("button", { name: "I have stored it" }).click();
    await expect(page.locator("#secret-value").count()).resolves.toBe(0);

    // Proxied requests from the test; their spend shows on the page.
    for (let i = 0; i < 3; i++) expect((await chat(running.url, key)).status).toBe(200);
    await page.getByRole("link", { name: "Usage" }).click();
    await page.getByRole("link", { name: "Proxy keys" }).click();
    const meter = page.getByRole("meter", { name: "Spend of alice" });
    await meter.waitFor();
    expect(Number(await meter.getAttribute("value"))).toBeGreaterThan(0);
    expect(await page.getByRole("row", { name: /alice/ }).innerText()).toMatch(/\$0\.0\d+ of \$5\.00/);

    // Revoke: the key's next request is refused.
    await page.getByRole("button", { name: "Revoke alice" }).click();
    const confirm = page.getByRole("dialog", { name: "Revoke proxy key alice?" });
    await expect(confirm.getByRole("button", { name: "Cancel" }).evaluate((b) => b === document.activeElement)).resolves.toBe(true);
    await confirm.getByRole("button", { name: "Revoke" }).click();
    await page.getByRole("row", { name: /alice/ }).getByText("revoked").waitFor();
    expect((await chat(running.url, key)).status).toBe(401);

    // An event: a batch into a new team, downloaded as CSV.
    await page.getByRole("link", { name: "Event" }).click();
    await page.locator("#ev-provider option").first().waitFor({ state: "attached" });
    await page.getByLabel("How many keys").fill("3");
    await page.getByLabel("Name prefix").fill("hack");
    await page.getByLabel("Or a new team named").fill("hackathon");
    await page.getByLabel("New team's budget (USD)").fill("20");
    await page.getByLabel("Expires after, hours (optional)").fill("24");
    const download = page.waitForEvent("download");
    await page.getByRole("button", { name: "Mint and download CSV" }).click();
    const csvPath = await (await download).path();
    const csv = readFileSync(csvPath, "utf8").trim().split("\n");
    expect(csv[0]).toContain("name,key");
    expect(csv).toHaveLength(4);
    expect(csv[1]).toContain("hack-001,kwp_");
    await page.getByRole("status").getByText("3 keys minted").waitFor();
    expect(await axeViolations(page)).toEqual([]);

    // Usage: the chart draws the model's series.
    await page.getByRole("link", { name: "Usage" }).click();
    await page.locator('.chart[data-drawn="true"] canvas').waitFor();
    const painted = await page.evaluate(`(() => {
      const c = document.querySelector(".chart canvas");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 37) < 8 && Math.abs(d[i + 1] - 99) < 8 && Math.abs(d[i + 2] - 235) < 8) n++;
      return n;
    })()`);
    expect(painted).toBeGreaterThan(100);
    await page
      .getByRole("cell", { name: /^\$0\.0\d+$/ })
      .first()
      .waitFor();
    const shot = await page.locator("main").screenshot(SCREENSHOT === undefined ? {} : { path: SCREENSHOT });
    expect(shot.byteLength).toBeGreaterThan(10_000);
    expect(await axeViolations(page)).toEqual([]);
    // Stacked by key and by team instead: the chart is drawn again with those bands.
    await page.getByLabel("Stack by").selectOption("proxy_key");
    await page.locator('.chart[data-drawn="true"][aria-label*="proxy key"] canvas').waitFor();
    await page.getByLabel("Stack by").selectOption("team");
    await page.locator('.chart[data-drawn="true"][aria-label*="team"] canvas').waitFor();
    expect(await page.locator(".chart").getAttribute("data-series")).toBe("1");

    // The request log lists the proxied requests; a read-only page for the other lists.
    await page.getByRole("link", { name: "Request log" }).click();
    await page.getByRole("cell", { name: "POST /chat/completions" }).first().waitFor();
    expect(await page.getByRole("cell", { name: "POST /chat/completions" }).count()).toBe(3);
    await page.getByRole("link", { name: "Teams" }).click();
    await page.getByRole("meter", { name: "Spend of team hackathon" }).waitFor();

    // Sign out forgets the token.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Admin token").waitFor();
    expect(await page.evaluate("sessionStorage.length")).toBe(0);

    const network = requested.filter((u) => !u.startsWith("data:") && !u.startsWith("blob:"));
    expect(network.filter((u) => new URL(u).origin !== origin)).toEqual([]);
    expect(blocked).toEqual([]);
    expect(errors).toEqual([]);
  }, 180_000);
});
