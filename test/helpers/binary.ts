/**
 * Builds `dist/keyward` once per test run and runs copies of it as
 * subprocesses on port 0, reading the URL from its "keyward listening" log.
 */
import { spawn, type Subprocess } from "bun";
import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The repository root (where package.json and src/ live). */
export const REPO_ROOT = resolve(import.meta.dir, "../..");
const ROOT = REPO_ROOT;
let built: Promise<string> | undefined;

/** Path of the compiled binary, built on first use. */
export function buildBinary(): Promise<string> {
  built ??= (async () => {
    const proc = spawn(["bun", "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const code = await proc.exited;
    if (code !== 0) throw new Error(`bun run build failed: ${await new Response(proc.stderr).text()}`);
    return join(ROOT, "dist", "keyward");
  })();
  return built;
}

/** Copies the binary alone into a fresh empty directory, as on a clean VM. */
export async function isolatedBinary(): Promise<{ dir: string; bin: string }> {
  const source = await buildBinary();
  const dir = mkdtempSync(join(tmpdir(), "keyward-bin-"));
  const bin = join(dir, "keyward");
  copyFileSync(source, bin);
  return { dir, bin };
}

export interface RunningBinary {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  /** Everything printed on stdout so far (root token banner). */
  stdout: () => string;
  stderr: () => string;
  /** The root admin token from the first-start banner, if one was printed. */
  rootToken(): string | undefined;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

async function collect(stream: ReadableStream<Uint8Array>, sink: { text: string }, onChunk: () => void) {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    sink.text += decoder.decode(chunk, { stream: true });
    onChunk();
  }
}

/** Starts `cmd` (binary or `deno run …`) and waits for its listening line. */
export async function startKeyward(cmd: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunningBinary> {
  const proc = spawn(cmd, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = { text: "" };
  const err = { text: "" };
  let notify = () => {};
  void collect(proc.stdout, out, () => notify());
  void collect(proc.stderr, err, () => notify());
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => {
      // Never leave a half-started server behind.
      proc.kill("SIGKILL");
      reject(new Error(`keyward did not start: ${err.text}`));
    }, opts.timeoutMs ?? 30_000);
    const check = () => {
      const match = /"msg":"keyward listening","url":"([^"]+)"/.exec(err.text) ?? /keyward listening url=(\S+)/.exec(err.text);
      if (match?.[1]) {
        clearTimeout(timer);
        // Not checked again: each check reads the whole output so far, and a server logging every request
        // would make the test's own process spend a growing share of the cores on it.
        notify = () => {};
        resolveUrl(match[1]);
      }
    };
    notify = check;
    // Not awaited: it races the listening line above, and settles when the process ends.
    void proc.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`keyward exited with ${code} before listening: ${err.text}`));
    });
  });
  return {
    proc,
    url,
    stdout: () => out.text,
    stderr: () => err.text,
    rootToken: () => /^\s+(kwa_\S+)$/m.exec(out.text)?.[1],
    async stop(signal = "SIGTERM") {
      proc.kill(signal);
      return proc.exited;
    },
  };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a one-shot command (`keyward version`, `admin-token create`, a server
 * expected to refuse to start…) to completion. Killed after `timeoutMs`, so a
 * command that unexpectedly keeps running fails the test instead of hanging it.
 */
export async function runKeyward(cmd: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CommandResult> {
  const proc = spawn(cmd, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, opts.timeoutMs ?? 30_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (timedOut) throw new Error(`${cmd.join(" ")} did not exit in time; stderr: ${stderr}`);
  return { code, stdout, stderr };
}

/** The admin API of a running binary, as a test's own client: the root token unless told otherwise. */
export async function binaryAdmin<T>(
  server: RunningBinary,
  request: { method: string; path: string; body?: unknown; token?: string },
): Promise<{ status: number; json: T }> {
  const { method, path, body, token = server.rootToken() } = request;
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as T };
}
