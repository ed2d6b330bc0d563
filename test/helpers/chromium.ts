/**
 * Headless Chromium for the browser suites (test/e2e/console, cors-browser,
 * swagger-ui): one set of launch flags and a fresh profile per launch, so
 * every suite drives the same browser and leaves no profile behind.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);

/** Says loudly that `suite` is skipped when Chromium is missing; returns whether it is there. */
export function chromiumOrWarn(suite: string): boolean {
  if (!hasChromium) {
    console.warn(`\n!!! ${CHROMIUM} is missing: SKIPPING the ${suite}. Install it with \`apt-get install -y chromium\` (.ci/run does). !!!\n`);
  }
  return hasChromium;
}

/** Headless, no sandbox (containers), and nothing of Chromium's own that would reach the network (updates, sync, QUIC). */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Refuses every request of `context` that is not to 127.0.0.1 and returns the list it fills, so a test can fail on anything that tried to leave the machine. */
export async function refuseOffMachine(context: BrowserContext): Promise<string[]> {
  const blocked: string[] = [];
  await context.route("**/*", async (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === "127.0.0.1") return route.continue();
    blocked.push(url.href);
    return route.abort("blockedbyclient");
  });
  return blocked;
}

export interface LaunchedChromium {
  context: BrowserContext;
  /** Closes the browser and removes its profile; safe to call once the launch succeeded, whatever the test did. */
  cleanup(): Promise<void>;
}

/** Chromium on a fresh user-data-dir, with `options` (viewport, downloads…) passed to Playwright's persistent context. */
export async function launchChromium(options: { viewport?: { width: number; height: number }; acceptDownloads?: boolean } = {}): Promise<LaunchedChromium> {
  const userDataDir = mkdtempSync(join(tmpdir(), "keyward-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, ...options });
  } catch (err) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    context,
    async cleanup() {
      await context.close().catch(() => {});
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

let axeSource: string | undefined;

/** axe-core run in the page (evaluated over CDP, which the page's CSP does not govern): its WCAG 2 A/AA violations. */
export async function axeViolations(page: Page): Promise<string[]> {
  axeSource ??= readFileSync(resolve(import.meta.dir, "../../node_modules/axe-core/axe.min.js"), "utf8");
  // Once per document: the console changes pages by hash, so axe stays loaded across them.
  if (!(await page.evaluate("typeof axe !== 'undefined'"))) await page.evaluate(axeSource);
  return page.evaluate(
    "axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }).then((r) => r.violations.map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))",
  );
}

/**
 * Collects what a console page must never do: throw, log an error, or open a
 * native prompt()/confirm()/alert() (dismissed, so the page does not hang).
 * Returns the list it fills; a test expects it empty at the end.
 */
export function pageFaults(page: Page): string[] {
  const faults: string[] = [];
  page.on("pageerror", (error) => faults.push(`pageerror: ${error.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") faults.push(`console: ${msg.text()}`);
  });
  page.on("dialog", (dialog) => {
    faults.push(`native ${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return faults;
}
