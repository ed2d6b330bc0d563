/**
 * What the console offers each scope, and what its first load weighs, in
 * headless Chromium against the compiled binary: a `read` token sees every
 * list and no write control; a `keys:issue` token sees the mint form only and
 * gets the API's refusal when it asks past its policy; the page, script and
 * stylesheet together stay within 300 KB as served (gzip). One server and one
 * browser for the file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Locator, Page } from "playwright-core";
import { isolatedBinary, startKeyward, type RunningBinary } from "../helpers/binary.ts";
import { axeViolations, chromiumOrWarn, launchChromium, pageFaults, refuseOffMachine, type LaunchedChromium } from "../helpers/chromium.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";

const hasChromium = chromiumOrWarn("console scopes browser test");

/** The first load's budget: HTML + JS + CSS, compressed as served. */
const FIRST_LOAD_BUDGET = 300 * 1024;

let dir: string | undefined;
let server: RunningBinary;
let mock: MockProvider;
let browser: LaunchedChromium | undefined;
let page: Page;
let faults: string[] = [];
let blocked: string[] = [];
const tokens = { read: "", issue: "" };

async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.rootToken() as string}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function signIn(token: string): Promise<void> {
  await page.goto(`${server.url}/console`);
  await page.getByLabel("Admin token").fill(token);
  await page.getByLabel("Admin token").press("Enter");
  await page.getByRole("navigation", { name: "Console pages" }).waitFor();
}

const navLinks = (): Promise<string[]> => page.getByRole("navigation", { name: "Console pages" }).getByRole("link").allInnerTexts();
/** The visible label of each button in the page's main region (a row's name, for screen readers only, left out). */
const mainButtons = async (): Promise<string[]> => (await page.locator("main button").allInnerTexts()).map((b) => (b.split("\n")[0] ?? "").trim());

beforeAll(async () => {
  if (!hasChromium) return;
  mock = await startMockProvider();
  const bin = await isolatedBinary();
  dir = bin.dir;
  server = await startKeyward([bin.bin, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", join(dir, "data"), "--allow-http-upstreams"], {
    cwd: dir,
  });
  // Something on every page, so a page without write controls is not just an empty one.
  const pk = await admin<{ id: string }>("POST", "/api/provider-keys", {
    name: "mock-openai",
    provider: "openai",
    key: "sk-mock-abcdefghijkl",
    base_url: mock.baseUrl,
  });
  const team = await admin<{ id: string }>("POST", "/api/teams", { name: "ops", budget_usd: 10 });
  await admin("POST", "/api/proxy-keys", { name: "alice", provider_key_id: pk.id, team_id: team.id, budget_usd: 3 });
  await admin("POST", "/api/webhooks", { url: "http://127.0.0.1:9/hook", events: ["key.revoked"] });
  tokens.read = (await admin<{ token: string }>("POST", "/api/admin-tokens", { name: "reader", scopes: ["read"] })).token;
  tokens.issue = (
    await admin<{ token: string }>("POST", "/api/admin-tokens", {
      name: "ci",
      scopes: ["keys:issue"],
      policy: { provider_key_ids: [pk.id], max_ttl_seconds: 3600, max_budget_usd: 2, name_prefix: "ci-" },
    })
  ).token;
  browser = await launchChromium({ viewport: { width: 1280, height: 900 } });
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  faults = pageFaults(page);
  blocked = await refuseOffMachine(browser.context);
});

afterAll(async () => {
  await browser?.cleanup();
  if (server && server.proc.exitCode === null) await server.stop("SIGTERM");
  await mock?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasChromium)("the console per scope", () => {
  test("first load: HTML + JS + CSS are gzipped and weigh at most 300 KB as served", async () => {
    const encodings = new Map<string, string | undefined>();
    page.on("response", (r) => encodings.set(new URL(r.url()).pathname, r.headers()["content-encoding"]));
    await page.goto(`${server.url}/console`);
    await page.getByLabel("Admin token").waitFor();
    const sizes = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
      const assets = (performance.getEntriesByType("resource") as PerformanceResourceTiming[]).filter((r) => r.name.includes("/console/assets/"));
      return [nav, ...assets].map((r) => ({ path: new URL(r.name).pathname, encoded: r.encodedBodySize, decoded: r.decodedBodySize }));
    });
    expect(sizes.map((s) => s.path).toSorted()).toEqual(["/console", "/console/assets/console.css", "/console/assets/console.js"]);
    for (const s of sizes) {
      expect(encodings.get(s.path)).toBe("gzip");
      expect(s.encoded).toBeGreaterThan(0);
      expect(s.encoded).toBeLessThan(s.decoded);
    }
    const total = sizes.reduce((sum, s) => sum + s.encoded, 0);
    console.log(`console first load: ${sizes.map((s) => `${s.path} ${s.encoded} B (${s.decoded} B raw)`).join(", ")}; total ${total} B gzip`);
    expect(total).toBeLessThanOrEqual(FIRST_LOAD_BUDGET);

    // A client that does not take gzip (or refuses it with q=0) gets the plain text.
    for (const accept of ["identity", "gzip;q=0, identity"]) {
      const plain = await fetch(`${server.url}/console/assets/console.js`, { headers: { "accept-encoding": accept } });
      expect(plain.headers.get("content-encoding")).toBeNull();
      expect(plain.headers.get("vary")).toBe("accept-encoding");
      expect((await plain.arrayBuffer()).byteLength).toBe(sizes.find((s) => s.path.endsWith(".js"))?.decoded ?? -1);
    }
  });

  test("a read token sees every list and no write control", async () => {
    await signIn(tokens.read);
    expect(await navLinks()).toEqual(["Provider keys", "Proxy keys", "Usage", "Request log", "Teams", "Admin tokens", "Webhooks", "Audit log"]);
    // Each page, once loaded (a row or text that only its data brings): then its buttons and forms.
    const pages: [string, Locator][] = [
      ["Provider keys", page.getByRole("cell", { name: "mock-openai" })],
      ["Proxy keys", page.getByRole("meter", { name: "Spend of alice" })],
      ["Usage", page.getByRole("heading", { name: "Usage" })],
      ["Request log", page.getByText("No requests match.")],
      ["Teams", page.getByRole("meter", { name: "Spend of team ops" })],
      ["Admin tokens", page.getByRole("cell", { name: /^reader/ })],
      ["Webhooks", page.getByRole("cell", { name: "http://127.0.0.1:9/hook", exact: true })],
      ["Audit log", page.getByRole("cell", { name: "webhook.create" })],
    ];
    const readOnly = new Set(["First page", "Next page", "Filter", "Newest", "Older", "Deliveries"]);
    for (const [name, loaded] of pages) {
      await page.getByRole("link", { name, exact: true }).click();
      await loaded.waitFor();
      expect({ name, buttons: (await mainButtons()).filter((b) => !readOnly.has(b)) }).toEqual({ name, buttons: [] });
      const forms = await page.locator("main form").evaluateAll((fs) => fs.map((f) => f.getAttribute("aria-label")));
      expect({ name, forms: forms.filter((f) => f !== "Filter the request log") }).toEqual({ name, forms: [] });
      expect(await axeViolations(page)).toEqual([]);
    }
    // Deliveries are a read: the dialog opens, lists, closes.
    await page.getByRole("link", { name: "Webhooks", exact: true }).click();
    await page.getByRole("button", { name: "Deliveries http://127.0.0.1:9/hook" }).click();
    await page.getByRole("dialog", { name: "Deliveries to http://127.0.0.1:9/hook" }).getByText("No events sent to this webhook yet.").waitFor();
    await page.keyboard.press("Escape");
    await page.getByRole("dialog").waitFor({ state: "detached" });
  });

  test("a keys:issue token sees the mint form only, and the API's refusal past its policy", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await signIn(tokens.issue);
    expect(await navLinks()).toEqual(["Proxy keys"]);
    await page.getByText("listing keys needs the read scope").waitFor();
    expect(await mainButtons()).toEqual(["Mint key"]);
    expect(await axeViolations(page)).toEqual([]);

    // Past the policy's largest budget: the API says why, on the page.
    await page.getByLabel("Provider key").fill("mock-openai");
    await page.getByLabel("Budget (USD, optional)").fill("5");
    await page.getByRole("button", { name: "Mint key" }).click();
    await page.getByRole("alert").waitFor();
    expect(await page.getByRole("alert").innerText()).toMatch(/budget/i);
    const logged = faults.findIndex((f) => f.includes("403 (Forbidden)"));
    expect(logged).toBeGreaterThanOrEqual(0);
    faults.splice(logged, 1);

    // Within it: the key is shown once, named with the policy's prefix.
    await page.getByLabel("Budget (USD, optional)").fill("1");
    await page.getByRole("button", { name: "Mint key" }).click();
    await page.getByText("it won't be shown again").waitFor();
    expect(await page.locator("#secret-value").inputValue()).toMatch(/^kwp_/);
    expect(await page.getByRole("heading", { name: /^Key "ci-/ }).count()).toBe(1);
    expect(await axeViolations(page)).toEqual([]);
  });

  test("no native dialog, page error or console error; nothing left 127.0.0.1", () => {
    expect(blocked).toEqual([]);
    expect(faults).toEqual([]);
  });
});
