/**
 * keyward from a source tree without the console bundle (src/console/dist/
 * missing, as in a fresh clone): Bun bundles the page on the first request;
 * Deno, which cannot run Bun.build, answers a 503 page that says how to build
 * it, while the admin API keeps working. Both run from one copy of the tree
 * (src/, drizzle/, package.json, node_modules linked), so the repository's own
 * dist/ is never touched.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT, startKeyward, type RunningBinary } from "../helpers/binary.ts";
import { denoOrWarn } from "../helpers/deno.ts";

const deno = denoOrWarn("console-not-built test on Deno");

let tree: string;
const running: RunningBinary[] = [];

/** `runtime … src/main.ts serve` in the copied tree, on its own data dir. */
function serve(cmd: string[], name: string): Promise<RunningBinary> {
  const args = ["serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", join(tree, `data-${name}`), "--allow-http-upstreams"];
  return startKeyward([...cmd, join(tree, "src/main.ts"), ...args], { cwd: tree, timeoutMs: 120_000 }).then((server) => {
    running.push(server);
    return server;
  });
}

beforeAll(() => {
  tree = mkdtempSync(join(tmpdir(), "keyward-unbuilt-"));
  for (const part of ["src", "drizzle", "package.json"]) {
    cpSync(join(REPO_ROOT, part), join(tree, part), { recursive: true, filter: (path) => !path.startsWith(join(REPO_ROOT, "src/console/dist")) });
  }
  symlinkSync(join(REPO_ROOT, "node_modules"), join(tree, "node_modules"));
});

afterAll(async () => {
  for (const server of running) if (server.proc.exitCode === null) await server.stop();
  rmSync(tree, { recursive: true, force: true });
});

describe("the console without its bundle", () => {
  test("on Bun, the first request bundles the page from its sources", async () => {
    expect(existsSync(join(tree, "src/console/dist"))).toBe(false);
    const server = await serve(["bun"], "bun");
    const page = await fetch(`${server.url}/console`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module" src="/console/assets/console.js">');
    const js = await fetch(`${server.url}/console/assets/console.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    // The page's own code (its session key), minified: bundled, not a placeholder.
    const code = await js.text();
    expect(code).toContain("keyward.console.token");
    expect(code.length).toBeGreaterThan(50_000);
    expect((await fetch(`${server.url}/console/assets/console.css`)).status).toBe(200);
    // Bundled in memory: the tree gets no dist/.
    expect(existsSync(join(tree, "src/console/dist"))).toBe(false);
  });

  test.skipIf(!deno)(
    "on Deno, the page is a clear 503 saying how to build it; the admin API still answers",
    async () => {
      const server = await serve([deno as string, "run", "-A"], "deno");
      const page = await fetch(`${server.url}/console`);
      expect(page.status).toBe(503);
      expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
      const body = await page.text();
      expect(body).toContain("<h1>The console is not built</h1>");
      expect(body).toContain("<code>bun src/console/build.ts</code>");
      const js = await fetch(`${server.url}/console/assets/console.js`);
      expect(js.status).toBe(503);
      expect(await js.text()).toBe("console not built\n");
      const self = await fetch(`${server.url}/api/admin-tokens/self`, { headers: { authorization: `Bearer ${server.rootToken() as string}` } });
      expect(self.status).toBe(200);
      expect(((await self.json()) as { scopes: string[] }).scopes).toEqual(["admin"]);
    },
    150_000,
  );
});
