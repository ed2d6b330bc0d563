/**
 * keyward from source under Deno (`deno run -A src/main.ts serve`) for the
 * Deno suites (test/e2e/deno-*): started and taken down one way, so the
 * suites differ only in what they check.
 */
import { expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT, startKeyward, type RunningBinary } from "./binary.ts";

/** The `deno` on PATH, or null; says loudly that `suite` is skipped without it. */
export function denoOrWarn(suite: string): string | null {
  const deno = Bun.which("deno");
  if (!deno) console.warn(`\n!!! deno is not on PATH: SKIPPING the ${suite}. Install it with \`npm install -g deno\` (.ci/run does). !!!\n`);
  return deno;
}

export interface KeywardOnDeno extends RunningBinary {
  /** Stops the server if it still runs and removes its data dir. */
  cleanup(): Promise<void>;
}

/**
 * Runs `deno run -A src/main.ts serve` on 127.0.0.1, port 0, with HTTP
 * upstreams allowed, on a fresh data dir (`keyward-deno-<name>-…`), with
 * `args` after those (e.g. `--database-url`), and waits for it to listen: up
 * to two minutes, as Deno may compile and cache on its first run.
 */
export async function startKeywardOnDeno(deno: string, name: string, env: Record<string, string> = {}, args: string[] = []): Promise<KeywardOnDeno> {
  const tmp = mkdtempSync(join(tmpdir(), `keyward-deno-${name}-`));
  const removeTmp = () => rmSync(tmp, { recursive: true, force: true });
  let server: RunningBinary;
  try {
    server = await startKeyward(
      [
        deno,
        "run",
        "-A",
        join(REPO_ROOT, "src/main.ts"),
        "serve",
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--data-dir",
        join(tmp, "data"),
        "--allow-http-upstreams",
        ...args,
      ],
      { cwd: REPO_ROOT, env, timeoutMs: 120_000 },
    );
  } catch (err) {
    removeTmp();
    throw err;
  }
  return Object.assign(server, {
    async cleanup() {
      if (server.proc.exitCode === null) await server.stop();
      removeTmp();
    },
  });
}

/** POSTs `body` as JSON to `baseUrl` with the admin `token`, expects 201 and returns the created object. */
export async function postCreated<T>(baseUrl: string, token: string, path: string, body: unknown): Promise<T> {
  const response = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as T;
}
