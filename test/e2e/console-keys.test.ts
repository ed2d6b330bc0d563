/**
 * The console's key pages in headless Chromium, against the compiled binary
 * and the mock provider: provider keys edited in place (the key replaced, an
 * OpenAI organization pinned, an Azure deployment mapped) and deleted with
 * their cascade counted; teams created, edited, disabled and deleted; a proxy
 * key's budget, limits, team and expiry changed and its secret rotated. Every
 * question is an in-page <dialog> (a native one fails the test), every page
 * passes axe, and nothing leaves 127.0.0.1. One server and one browser for the
 * file; the tests run in order on one signed-in page.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Locator, Page } from "playwright-core";
import { binaryAdmin, isolatedBinary, startKeyward, type RunningBinary } from "../helpers/binary.ts";
import { axeViolations, chromiumOrWarn, launchChromium, pageFaults, refuseOffMachine, type LaunchedChromium } from "../helpers/chromium.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";

const hasChromium = chromiumOrWarn("console key pages browser test");

let dir: string | undefined;
let server: RunningBinary;
let mock: MockProvider;
let browser: LaunchedChromium | undefined;
let page: Page;
let faults: string[] = [];
let blocked: string[] = [];
const requested: string[] = [];

/** The admin API as the test's own client, with the root token unless told otherwise. */
const admin = <T>(method: string, path: string, body?: unknown, token?: string) => binaryAdmin<T>(server, { method, path, body, token });

function chat(key: string): Promise<Response> {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", max_tokens: 100, messages: [{ role: "user", content: "hi" }] }),
  });
}

const dialog = (name: string): Locator => page.getByRole("dialog", { name });
const row = (text: string | RegExp): Locator => page.getByRole("row", { name: text });
const tab = async (name: string): Promise<void> => page.getByRole("link", { name, exact: true }).click();
const focused = (l: Locator): Promise<boolean> => l.evaluate((el) => el === document.activeElement);
/** Waits until the row named by `name` shows `text`. */
const shows = (name: RegExp, text: string): Promise<void> => row(name).getByText(text).waitFor();

beforeAll(async () => {
  if (!hasChromium) return;
  mock = await startMockProvider();
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
  await page.goto(`${server.url}/console`);
  await page.getByLabel("Admin token").fill(server.rootToken() as string);
  await page.getByLabel("Admin token").press("Enter");
  await page.getByRole("navigation", { name: "Console pages" }).waitFor();
});

afterAll(async () => {
  await browser?.cleanup();
  if (server && server.proc.exitCode === null) await server.stop("SIGTERM");
  await mock?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasChromium)("the console's key pages", () => {
  test("provider keys: replace the key, pin an organization, map an Azure deployment, delete with the cascade spelled out", async () => {
    await tab("Provider keys");
    const add = async (name: string, provider: string, key: string): Promise<void> => {
      await page.getByLabel("Name", { exact: true }).fill(name);
      await page.getByLabel("Provider", { exact: true }).selectOption(provider);
      await page.getByLabel("API key").fill(key);
      await page.getByLabel("Base URL (optional)").fill(mock.baseUrl);
      await page.getByRole("button", { name: "Add provider key" }).click();
      await row(new RegExp(`^${name} `)).waitFor();
    };
    await add("main-openai", "openai", "sk-mock-aaaaaaaaaaaa1111");
    expect(await row(/^main-openai /).innerText()).toContain("sk-…1111");

    // Edit opens a dialog with focus on its first field; Escape closes it and gives focus back.
    const edit = page.getByRole("button", { name: "Edit main-openai" });
    await edit.click();
    const form = dialog("Edit provider key main-openai");
    await expect(focused(form.getByLabel("Name"))).resolves.toBe(true);
    expect(await axeViolations(page)).toEqual([]);
    await page.keyboard.press("Escape");
    await form.waitFor({ state: "detached" });
    await expect(focused(edit)).resolves.toBe(true);

    // Replace the key and pin the organization: the hint changes, the pin shows.
    await edit.click();
    await form.getByLabel("Replace the key (empty: keep it)").fill("sk-mock-bbbbbbbbbbbb2222");
    await form.getByLabel("OpenAI organization (empty: not pinned)").fill("org-console42");
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByRole("status").getByText("its key is now sk-…2222").waitFor();
    await shows(/^main-openai /, "sk-…2222");
    expect(await row(/^main-openai /).innerText()).toContain("organization org-console42");

    // An Azure key: one deployment mapped to its model, by keyboard-reachable rows.
    await add("azure-eu", "azure-openai", "azure-key-cccccccccccc3333");
    await page.getByRole("button", { name: "Edit azure-eu" }).click();
    const azure = dialog("Edit provider key azure-eu");
    await azure.getByRole("button", { name: "Add deployment" }).click();
    await expect(focused(azure.getByLabel("Deployment name"))).resolves.toBe(true);
    await azure.getByLabel("Deployment name").fill("prod-4o");
    await azure.getByLabel("Model", { exact: true }).fill("gpt-4o");
    await azure.getByRole("button", { name: "Save" }).click();
    await shows(/^azure-eu /, "→ gpt-4o");
    const keys = await admin<{ data: { id: string; name: string; deployments: Record<string, string> | null }[] }>("GET", "/api/provider-keys");
    const azureKey = keys.json.data.find((k) => k.name === "azure-eu");
    expect(azureKey?.deployments).toEqual({ "prod-4o": "gpt-4o" });

    // Delete: the dialog counts what goes with it (one live key revoked, two records deleted).
    const minted = await admin<{ id: string }>("POST", "/api/proxy-keys", { name: "az-1", provider_key_id: azureKey?.id });
    await admin("POST", "/api/proxy-keys", { name: "az-2", provider_key_id: azureKey?.id });
    await admin("POST", `/api/proxy-keys/${minted.json.id}/revoke`);
    await page.getByRole("button", { name: "Delete azure-eu" }).click();
    const remove = dialog("Delete provider key azure-eu?");
    await remove.getByText("1 proxy key still working").waitFor();
    expect(await remove.innerText()).toContain("2 proxy keys in all");
    await expect(focused(remove.getByRole("button", { name: "Cancel" }))).resolves.toBe(true);
    expect(await axeViolations(page)).toEqual([]);
    await remove.getByRole("button", { name: "Delete provider key" }).click();
    await page.getByRole("status").getByText("Deleted azure-eu; revoked 1 proxy key.").waitFor();
    await expect(row(/^azure-eu /).count()).resolves.toBe(0);
  });

  test("teams and proxy keys: create a team, change a key's budget, limits, team and expiry, rotate it; a team with keys is not deleted", async () => {
    await tab("Teams");
    await page.getByLabel("Team name").fill("research");
    await page.getByLabel("Budget (USD)").fill("50");
    await page.getByLabel("Budget period").selectOption("monthly");
    await page.getByRole("button", { name: "Create team" }).click();
    await row(/^research /).waitFor();
    expect(await row(/^research /).innerText()).toMatch(/\$0\.00 of \$50\.00\s+monthly/);

    await page.getByRole("button", { name: "Edit research" }).click();
    const team = dialog("Edit team research");
    await expect(team.getByLabel("Budget (USD)").inputValue()).resolves.toBe("50");
    await team.getByLabel("Budget (USD)").fill("75");
    await team.getByLabel("Requests per minute").fill("100");
    await team.getByRole("button", { name: "Save" }).click();
    await shows(/^research /, "of $75.00");
    expect(await row(/^research /).innerText()).toContain("100 rpm");
    await page.getByRole("button", { name: "Disable research" }).click();
    await shows(/^research /, "disabled");
    await page.getByRole("button", { name: "Enable research" }).click();
    await shows(/^research /, "enabled");

    await page.getByLabel("Team name").fill("short-lived");
    await page.getByRole("button", { name: "Create team" }).click();
    await page.getByRole("button", { name: "Delete short-lived" }).click();
    await dialog("Delete team short-lived?").getByRole("button", { name: "Delete team" }).click();
    await page.getByRole("status").getByText("Deleted team short-lived.").waitFor();
    await expect(row(/^short-lived /).count()).resolves.toBe(0);
    expect(await axeViolations(page)).toEqual([]);

    // A key minted with a $5 budget: edited to $12.50, 30 rpm, team research, an expiry.
    await tab("Proxy keys");
    await page.locator("#px-provider option").first().waitFor({ state: "attached" });
    await page.getByLabel("Name", { exact: true }).fill("bob");
    await page.getByLabel("Budget (USD, optional)").fill("5");
    await page.getByRole("button", { name: "Mint key" }).click();
    const oldKey = await page.locator("#secret-value").inputValue();
    await page.getByRole("button", { name: "I have stored it" }).click();
    await page.getByRole("button", { name: "Edit bob" }).click();
    const key = dialog("Edit proxy key bob");
    await key.getByLabel("Budget (USD)").fill("12.5");
    await key.getByLabel("Requests per minute").fill("30");
    await key.getByLabel("Team").selectOption({ label: "research" });
    await key.getByLabel("Expires at (UTC; empty: never)").fill("2031-01-02T03:04");
    expect(await axeViolations(page)).toEqual([]);
    await key.getByRole("button", { name: "Save" }).click();
    await shows(/bob/, "of $12.50");
    const shown = await row(/bob/).innerText();
    expect(shown).toContain("30 rpm");
    expect(shown).toContain("research");
    expect(shown).toContain("2031-01-02 03:04:00 UTC");
    const stored = await admin<{ data: { name: string; budget_usd: number; rpm: number; team_id: string | null; expires_at: string }[] }>(
      "GET",
      "/api/proxy-keys",
    );
    const bob = stored.json.data.find((k) => k.name === "bob");
    expect(bob).toMatchObject({ budget_usd: 12.5, rpm: 30, expires_at: "2031-01-02T03:04:00.000Z" });
    expect(bob?.team_id).toStartWith("tm_");

    // Rotate without grace: the new key is shown once, the old one stops at once.
    await page.getByRole("button", { name: "Rotate bob" }).click();
    const rotate = dialog("Rotate proxy key bob");
    await rotate.getByLabel("Old key keeps working for (hours; 0: stops now)").fill("0");
    await rotate.getByRole("button", { name: "Rotate" }).click();
    await page.getByText("it won't be shown again").waitFor();
    const newKey = await page.locator("#secret-value").inputValue();
    expect(newKey).not.toBe(oldKey);
    expect((await chat(oldKey)).status).toBe(401);
    expect((await chat(newKey)).status).toBe(200);
    await page.getByRole("button", { name: "I have stored it" }).click();

    // The API's refusal shows in the dialog: research still has bob.
    await tab("Teams");
    await page.getByRole("button", { name: "Delete research" }).click();
    const refused = dialog("Delete team research?");
    await refused.getByRole("button", { name: "Delete team" }).click();
    await refused.getByRole("alert").waitFor();
    expect(await refused.getByRole("alert").innerText()).toMatch(/Cannot delete team/);
    // Chromium logs every 4xx answer as a console error: this one was asked for.
    const logged = faults.findIndex((f) => f.includes("409 (Conflict)"));
    expect(logged).toBeGreaterThanOrEqual(0);
    faults.splice(logged, 1);
    await refused.getByRole("button", { name: "Cancel" }).click();
    await expect(row(/^research /).count()).resolves.toBe(1);
  });

  test("no native dialog, page error or console error; nothing left 127.0.0.1", () => {
    const origin = new URL(server.url).origin;
    expect(requested.filter((u) => !u.startsWith("data:") && new URL(u).origin !== origin)).toEqual([]);
    expect(blocked).toEqual([]);
    expect(faults).toEqual([]);
  });
});
