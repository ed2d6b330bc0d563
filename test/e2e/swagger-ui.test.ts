/**
 * Swagger UI at /docs in a real headless Chromium: it renders from assets the
 * binary serves itself (no CDN, no request leaves 127.0.0.1), and an operation
 * can be authorized and executed from the page.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { isolatedBinary, startKeyward, type RunningBinary } from "../helpers/binary.ts";
import { chromiumOrWarn, launchChromium, refuseOffMachine, type LaunchedChromium } from "../helpers/chromium.ts";

const hasChromium = chromiumOrWarn("Swagger UI browser test");

const SCREENSHOT = "/tmp/keyward-docs.png";

const tempDirs: string[] = [];
let server: RunningBinary | undefined;
let browser: LaunchedChromium | undefined;

beforeAll(async () => {
  if (!hasChromium) return;
  const { dir, bin } = await isolatedBinary();
  tempDirs.push(dir);
  server = await startKeyward([bin, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", join(dir, "data")], { cwd: dir });
  browser = await launchChromium({ viewport: { width: 1280, height: 900 } });
});

afterAll(async () => {
  await browser?.cleanup();
  if (server && server.proc.exitCode === null) await server.stop("SIGTERM");
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(!hasChromium)("Swagger UI in headless Chromium", () => {
  test("renders offline from the binary, and GET /api/provider-keys runs from the page", async () => {
    const running = server as RunningBinary;
    const ctx = (browser as LaunchedChromium).context;
    const origin = new URL(running.url).origin;
    const requested: string[] = [];
    const pageErrors: string[] = [];

    const page: Page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on("request", (request) => requested.push(request.url()));
    page.on("pageerror", (error) => pageErrors.push(error.message));
    // Anything not served by keyward on 127.0.0.1 is refused, and remembered to fail the test.
    const blocked = await refuseOffMachine(ctx);

    const response = await page.goto(`${running.url}/docs`, { waitUntil: "load" });
    expect(response?.status()).toBe(200);

    // The spec is fetched and rendered into operations.
    await page.locator(".opblock").first().waitFor({ state: "visible", timeout: 30_000 });
    expect(await page.locator(".opblock").count()).toBeGreaterThanOrEqual(8);
    await expect(page.locator('.opblock-summary-path[data-path="/api/provider-keys"]').first().isVisible()).resolves.toBe(true);
    await page.getByText("Mint a proxy key").first().waitFor({ state: "visible" });
    expect(await page.locator(".info .title").first().innerText()).toContain("keyward admin API");

    // Authorize with the root token from the banner.
    const token = running.rootToken();
    expect(token).toBeDefined();
    await page.locator(".auth-wrapper .btn.authorize").click();
    const modal = page.locator(".dialog-ux .modal-ux");
    await modal.waitFor({ state: "visible" });
    // Two schemes: the admin token (bearerAuth) and the OIDC exchange's ID token (oidcIdToken).
    const adminForm = modal.locator("form", { hasText: "bearerAuth" });
    await adminForm
      .locator("input")
      .first()
      .fill(token as string);
    await adminForm.locator(".auth-btn-wrapper .btn.authorize").click();
    await adminForm.locator(".auth-btn-wrapper .btn-done").click();
    await modal.waitFor({ state: "hidden" });
    // The padlock on the Authorize button now shows as locked.
    await page.locator(".auth-wrapper .btn.authorize.locked").waitFor({ state: "visible" });

    // GET /api/provider-keys: expand, Try it out, Execute.
    const operation = page.locator(".opblock.opblock-get", {
      has: page.locator('.opblock-summary-path[data-path="/api/provider-keys"]'),
    });
    await operation.locator(".opblock-summary").first().click();
    const tryOut = operation.locator("button.try-out__btn");
    await tryOut.waitFor({ state: "visible" });
    // `tryItOutEnabled` opens operations in try-out mode already; the button then reads "Cancel".
    if ((await tryOut.innerText()).trim() === "Try it out") await tryOut.click();
    await operation.locator("button.execute").click();

    const status = operation.locator(".live-responses-table .response .response-col_status").first();
    await status.waitFor({ state: "visible", timeout: 30_000 });
    expect((await status.innerText()).trim()).toBe("200");
    const body = await operation.locator(".live-responses-table .response .response-col_description pre").first().innerText();
    expect(JSON.parse(body)).toEqual({ data: [], next_cursor: null });
    // The request URL shown by Swagger UI targets this server (with the spec's default `limit`).
    const requestUrl = new URL(await operation.locator(".request-url pre").first().innerText());
    expect(`${requestUrl.origin}${requestUrl.pathname}`).toBe(`${origin}/api/provider-keys`);

    await operation.scrollIntoViewIfNeeded();
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    const network = requested.filter((u) => !u.startsWith("data:") && !u.startsWith("blob:"));
    expect(network.length).toBeGreaterThanOrEqual(4);
    expect(network.filter((u) => new URL(u).origin !== origin)).toEqual([]);
    expect(network.map((u) => new URL(u).pathname)).toEqual(
      expect.arrayContaining([
        "/docs",
        "/docs/assets/swagger-ui.css",
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/init.js",
        "/docs/json",
        "/api/provider-keys",
      ]),
    );
    expect(blocked).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
