/**
 * The console's administration pages in headless Chromium, against the
 * compiled binary and a webhook receiver: admin tokens created (shown once,
 * a keys:issue token with its policy) and revoked, OIDC trust policies created
 * and deleted, webhooks created (secret shown once), tested, followed and
 * deleted. Every question is an in-page <dialog> (a native one fails the
 * test), every page passes axe, and nothing leaves 127.0.0.1. One server and
 * one browser for the file; the tests run in order on one signed-in page.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Locator, Page } from "playwright-core";
import { binaryAdmin, isolatedBinary, startKeyward, type RunningBinary } from "../helpers/binary.ts";
import { axeViolations, chromiumOrWarn, launchChromium, pageFaults, refuseOffMachine, type LaunchedChromium } from "../helpers/chromium.ts";
import { startWebhookReceiver, verifyStandardWebhook, type WebhookReceiver } from "../helpers/webhook-receiver.ts";

const hasChromium = chromiumOrWarn("console admin pages browser test");

let dir: string | undefined;
let server: RunningBinary;
let receiver: WebhookReceiver;
let browser: LaunchedChromium | undefined;
let page: Page;
let faults: string[] = [];
let blocked: string[] = [];
const requested: string[] = [];

/** The admin API as the test's own client, with the root token unless told otherwise. */
const admin = <T>(method: string, path: string, body?: unknown, token?: string) => binaryAdmin<T>(server, { method, path, body, token });

const dialog = (name: string): Locator => page.getByRole("dialog", { name });
const row = (text: string | RegExp): Locator => page.getByRole("row", { name: text });
const tab = async (name: string): Promise<void> => page.getByRole("link", { name, exact: true }).click();
/** Waits until the row named by `name` shows `text`. */
const shows = (name: RegExp, text: string): Promise<void> => row(name).getByText(text).waitFor();

beforeAll(async () => {
  if (!hasChromium) return;
  receiver = startWebhookReceiver();
  const bin = await isolatedBinary();
  dir = bin.dir;
  server = await startKeyward([bin.bin, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", join(dir, "data"), "--allow-http-upstreams"], {
    cwd: dir,
  });
  browser = await launchChromium({ viewport: { width: 1280, height: 900 } });
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  page.on("request", (r) => requested.push(r.url()));
  faults = pageFaults(page);
  blocked = await refuseOffMachine(browser.context);
  // The provider key the keys:issue policy and the trust policy name: never called, so it points nowhere.
  await admin("POST", "/api/provider-keys", { name: "main-openai", provider: "openai", key: "sk-mock-aaaaaaaaaaaa1111", base_url: "http://127.0.0.1:9/v1" });
  await page.goto(`${server.url}/console`);
  await page.getByLabel("Admin token").fill(server.rootToken() as string);
  await page.getByLabel("Admin token").press("Enter");
  await page.getByRole("navigation", { name: "Console pages" }).waitFor();
});

afterAll(async () => {
  await browser?.cleanup();
  if (server && server.proc.exitCode === null) await server.stop("SIGTERM");
  await receiver?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasChromium)("the console's admin pages", () => {
  test("admin tokens: create one (shown once), create a keys:issue token with its policy, revoke", async () => {
    await tab("Admin tokens");
    await page.getByLabel("Token name").fill("dashboards");
    await page.getByLabel("read: lists, usage and logs").check();
    await page.getByRole("button", { name: "Create token" }).click();
    await page.getByText("Copy this token now: it won't be shown again.").waitFor();
    await expect(page.getByRole("button", { name: "Copy" }).isVisible()).resolves.toBe(true);
    const token = await page.locator("#secret-value").inputValue();
    expect(token).toMatch(/^kwa_/);
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole("button", { name: "I have stored it" }).click();
    expect((await admin<{ scopes: string[] }>("GET", "/api/admin-tokens/self", undefined, token)).json.scopes).toEqual(["read"]);

    await page.getByLabel("Token name").fill("ci-issuer");
    await page.getByLabel("keys:issue: mint proxy keys within a policy (for CI)").check();
    await page.getByLabel("main-openai (openai)").check();
    await page.getByLabel("Longest key lifetime (hours)").fill("2");
    await page.getByLabel("Largest key budget (USD)").fill("3");
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole("button", { name: "Create token" }).click();
    await page.getByRole("button", { name: "I have stored it" }).click();
    expect(await row(/^ci-issuer/).innerText()).toContain("≤ 2 h, ≤ $3.00 per key");

    await page.getByRole("button", { name: "Revoke dashboards" }).click();
    await dialog("Revoke admin token dashboards?").getByRole("button", { name: "Revoke token" }).click();
    await shows(/^dashboards/, "revoked");
    expect((await admin("GET", "/api/admin-tokens/self", undefined, token)).status).toBe(401);
  });

  test("OIDC trust policies: create, list, delete", async () => {
    await tab("OIDC");
    await page.locator("#tp-provider option").first().waitFor({ state: "attached" });
    await page.getByLabel("Policy name (also the prefix of minted keys' names)").fill("ci-main");
    await page.getByLabel("Allowed values").fill("acme/api");
    await page.getByRole("button", { name: "Add claim" }).click();
    await page.getByLabel("Claim name").nth(1).fill("ref");
    await page.getByLabel("Allowed values").nth(1).fill("refs/heads/main, refs/heads/release");
    await page.getByLabel("Key budget (USD)").fill("2");
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole("button", { name: "Create policy" }).click();
    await row(/^ci-main /).waitFor();
    const listed = await row(/^ci-main /).innerText();
    expect(listed).toContain("repository = acme/api");
    expect(listed).toContain("ref = refs/heads/main | refs/heads/release");
    expect(listed).toContain("main-openai");
    expect(listed).toContain("60 min, $2.00");
    await page.getByRole("button", { name: "Delete ci-main" }).click();
    await dialog("Delete trust policy ci-main?").getByRole("button", { name: "Delete policy" }).click();
    await page.getByRole("status").getByText("Deleted trust policy ci-main.").waitFor();
    expect((await admin<{ data: unknown[] }>("GET", "/api/oidc/trust-policies")).json.data).toEqual([]);
  });

  test("webhooks: create (secret shown once), send a test event, see it delivered, delete", async () => {
    await tab("Webhooks");
    await page.getByLabel("URL", { exact: true }).fill(`${receiver.url}/hook`);
    await page.getByLabel("key.revoked: a proxy key was revoked").check();
    await page.getByRole("button", { name: "Create webhook" }).click();
    await page.getByText("Copy this signing secret now: it won't be shown again.").waitFor();
    const secret = await page.locator("#secret-value").inputValue();
    expect(secret).toMatch(/^whsec_/);
    await page.getByRole("button", { name: "I have stored it" }).click();

    await page.getByRole("button", { name: `Send test event ${receiver.url}/hook` }).click();
    await page.getByRole("status").getByText("queued").waitFor();
    const [delivery] = await receiver.waitFor(1);
    expect(JSON.parse(delivery?.body ?? "{}")).toMatchObject({ type: "webhook.test" });
    expect(verifyStandardWebhook(secret, delivery as NonNullable<typeof delivery>)).toBe(true);

    await page.getByRole("button", { name: `Deliveries ${receiver.url}/hook` }).click();
    const deliveries = dialog(`Deliveries to ${receiver.url}/hook`);
    await deliveries
      .getByRole("row", { name: /webhook\.test/ })
      .getByText("delivered")
      .waitFor({ timeout: 15_000 });
    expect(await axeViolations(page)).toEqual([]);
    await deliveries.getByRole("button", { name: "Close" }).click();

    await page.getByRole("button", { name: `Delete ${receiver.url}/hook` }).click();
    await dialog("Delete this webhook?").getByRole("button", { name: "Delete webhook" }).click();
    await page.getByText("No webhooks yet.").waitFor();
    expect(await axeViolations(page)).toEqual([]);
  });

  test("no native dialog, page error or console error; nothing left 127.0.0.1", () => {
    const origin = new URL(server.url).origin;
    expect(requested.filter((u) => !u.startsWith("data:") && new URL(u).origin !== origin)).toEqual([]);
    expect(blocked).toEqual([]);
    expect(faults).toEqual([]);
  });
});
