/**
 * An error nothing else caught never shows its message or stack: each
 * runtime answers through the server's `onError` (a 500 in the error shape
 * both APIs' clients read, and a log line), and without one it still does not
 * fall back to Bun's development page. Bun in process, Deno in a child.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadServeConfig } from "../../src/config.ts";
import { bunRuntime } from "../../src/runtime/bun.ts";
import type { Runtime, ServeOptions } from "../../src/runtime/types.ts";
import { startServer } from "../../src/server.ts";
import type { Logger } from "../../src/telemetry/logger.ts";
import { REPO_ROOT } from "../helpers/binary.ts";

const SECRET = "secret-detail-4f1c";
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function expectNoLeak(status: number, text: string): void {
  expect(status).toBe(500);
  expect(text).not.toContain(SECRET);
  expect(text).not.toMatch(/\bat .*\(|<html/i);
}

for (const [name, fail] of [
  [
    "a thrown error",
    () => {
      throw new Error(SECRET);
    },
  ],
  ["a rejected promise", () => Promise.reject(new Error(SECRET))],
] as const) {
  test(`Bun: ${name} goes to onError`, async () => {
    const seen: unknown[] = [];
    const handled = await bunRuntime.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: fail,
      onError: (error) => {
        seen.push(error);
        return new Response("handled", { status: 500 });
      },
    });
    try {
      const answer = await fetch(`http://127.0.0.1:${handled.port}/v1/chat/completions`);
      expect([answer.status, await answer.text()]).toEqual([500, "handled"]);
      expect(seen.map((e) => (e as Error).message)).toEqual([SECRET]);
    } finally {
      await handled.stop({ closeActiveConnections: true });
    }
  });
}

test("the server's onError: a 500 in the shared error shape, and the error logged", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "keyward-errors-"));
  dirs.push(dataDir);
  const errors: Array<Record<string, unknown>> = [];
  const logger: Logger = { debug() {}, info() {}, warn() {}, error: (msg, fields) => void errors.push({ msg, ...fields }) };
  let options: ServeOptions | undefined;
  const runtime: Runtime = {
    ...bunRuntime,
    serve: (o) => {
      options = o;
      return bunRuntime.serve(o);
    },
  };
  const config = loadServeConfig({ port: "0", host: "127.0.0.1", "data-dir": dataDir }, {});
  const server = await startServer({ config, runtime, logger, print: () => {} });
  try {
    const answer = options?.onError?.(new Error("boom"));
    expect(answer?.status).toBe(500);
    expect(await answer?.json()).toEqual({ error: { message: "Internal error", type: "api_error", param: null, code: "internal_error" } });
    expect(errors).toContainEqual({ msg: "Unhandled server error", error: "boom" });
  } finally {
    await server.stop();
  }
});

/**
 * Each runtime in a child process (an uncaught handler error would fail the test runner itself):
 * one server with `onError`, one without, a request to each.
 */
async function childServers(command: string[], module: string, exportName: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "keyward-errors-child-"));
  dirs.push(dir);
  const script = join(dir, "serve.ts");
  writeFileSync(
    script,
    `import { ${exportName} as runtime } from ${JSON.stringify(join(REPO_ROOT, module))};
const fail = () => { throw new Error(${JSON.stringify(SECRET)}); };
const handled = await runtime.serve({ port: 0, hostname: "127.0.0.1", fetch: fail, onError: () => new Response("handled", { status: 500 }) });
const bare = await runtime.serve({ port: 0, hostname: "127.0.0.1", fetch: fail });
console.log(JSON.stringify([handled.port, bare.port]));
`,
  );
  const child = Bun.spawn([...command, script], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe" });
  try {
    const reader = child.stdout.getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`child exited: ${await new Response(child.stderr).text()}`);
      text += new TextDecoder().decode(value);
    }
    const [handledPort, barePort] = JSON.parse(text) as [number, number];
    const answer = await fetch(`http://127.0.0.1:${handledPort}/`);
    expect([answer.status, await answer.text()]).toEqual([500, "handled"]);
    const plain = await fetch(`http://127.0.0.1:${barePort}/`);
    expectNoLeak(plain.status, await plain.text());
  } finally {
    child.kill();
    await child.exited;
  }
}

test("Bun: without onError, a bare 500, not the development page with message and stack", () =>
  childServers([process.execPath], "src/runtime/bun.ts", "bunRuntime"));

const deno = Bun.which("deno");
test.if(deno !== null)("Deno: onError answers; without it, Deno's bare 500", () =>
  childServers([deno as string, "run", "-A"], "src/runtime/deno.ts", "denoRuntime"),
);
