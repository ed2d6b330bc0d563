/**
 * Shared pieces for the operations suites (test/e2e/ops-*): the compiled
 * binary on a data dir of its own, bounded proxy load, killing a supervised
 * server outright, reading sealed provider keys straight from the file, and
 * self-signed certificates made with openssl.
 */
import { spawn } from "bun";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runningServerPid } from "../../src/ops/pidfile.ts";
import { detectRuntime } from "../../src/runtime/index.ts";
import { unlockCheckValue } from "../../src/vault/keyring.ts";
import { decodeMasterKey } from "../../src/vault/master-key.ts";
import { providerKeyContext } from "../../src/vault/provider-keys.ts";
import { adminApi, type AdminApi } from "./admin-api.ts";
import { isolatedBinary, startKeyward, type RunningBinary } from "./binary.ts";
import { chatBody } from "./proxy.ts";

/** Temp dirs and processes a suite made; `cleanupAll()` in afterAll removes and kills them. */
export class Leftovers {
  private readonly dirs: string[] = [];
  private readonly servers: RunningBinary[] = [];

  dir(prefix = "keyward-ops-"): string {
    const d = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }

  track(dir: string): string {
    this.dirs.push(dir);
    return dir;
  }

  server(running: RunningBinary): RunningBinary {
    this.servers.push(running);
    return running;
  }

  async cleanupAll(): Promise<void> {
    for (const running of this.servers) {
      if (running.proc.exitCode === null && running.proc.signalCode === null) {
        running.proc.kill("SIGKILL");
        await running.proc.exited;
      }
    }
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

export interface OpsBinary {
  dir: string;
  bin: string;
}

export async function opsBinary(left: Leftovers): Promise<OpsBinary> {
  const { dir, bin } = await isolatedBinary();
  left.track(dir);
  return { dir, bin };
}

export interface StartedServer {
  server: RunningBinary;
  api: AdminApi;
  token: string;
}

/** `keyward serve` on port 0 with http upstreams allowed; waits for the root token when one is printed. */
export async function startServe(
  left: Leftovers,
  binary: OpsBinary,
  dataDir: string,
  opts: { env?: Record<string, string>; args?: string[]; token?: string } = {},
): Promise<StartedServer> {
  const server = left.server(
    await startKeyward([binary.bin, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, "--allow-http-upstreams", ...(opts.args ?? [])], {
      cwd: binary.dir,
      env: opts.env,
    }),
  );
  let token = opts.token ?? server.rootToken();
  for (let i = 0; i < 100 && !token; i++) {
    await Bun.sleep(20);
    token = server.rootToken();
  }
  if (!token) throw new Error(`no root token: ${server.stdout()} ${server.stderr()}`);
  return { server, api: adminApi(server.url, token), token };
}

/**
 * SIGKILL to the supervisor and its serving child at once (the child's pid is
 * in keyward.pid), as a power cut or the OOM killer would: nothing gets to flush.
 */
export async function killServer(server: RunningBinary, dataDir: string): Promise<void> {
  const child = runningServerPid(dataDir);
  if (child !== undefined) process.kill(child, "SIGKILL");
  server.proc.kill("SIGKILL");
  await server.proc.exited;
  for (let i = 0; child !== undefined && i < 100; i++) {
    try {
      process.kill(child, 0);
      await Bun.sleep(10);
    } catch {
      break;
    }
  }
}

export interface LoadStats {
  ok: number;
  failed: number;
  /** Requests that completed with status 200 and a whole body, per proxy key. */
  perKey: Map<string, number>;
}

/**
 * Proxy traffic through keyward until `stop()` says so or `maxRequests` ran
 * (bounded either way): `concurrency` loops each sending chat completions.
 */
export function proxyLoad(
  url: string,
  keys: string[],
  opts: { concurrency: number; maxRequests: number; stream?: boolean },
): { stats: LoadStats; stop(): Promise<LoadStats> } {
  const stats: LoadStats = { ok: 0, failed: 0, perKey: new Map() };
  let stopped = false;
  let sent = 0;
  const loop = async (worker: number) => {
    for (let i = 0; !stopped && sent < opts.maxRequests; i++) {
      sent++;
      const key = keys[(worker + i) % keys.length] as string;
      try {
        const response = await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: chatBody(opts.stream ? { stream: true } : {}),
        });
        await response.text();
        if (response.status === 200) {
          stats.ok++;
          stats.perKey.set(key, (stats.perKey.get(key) ?? 0) + 1);
        } else stats.failed++;
      } catch {
        stats.failed++;
      }
    }
  };
  const loops = Array.from({ length: opts.concurrency }, (_, i) => loop(i));
  return {
    stats,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return stats;
    },
  };
}

/**
 * Every provider key of the database decrypted with `keyBase64`, straight
 * from the file (as a server would after restart), or the error.
 */
export async function decryptAll(dataDir: string, keyBase64: string): Promise<Map<string, string>> {
  const runtime = await detectRuntime();
  const client = runtime.openSqlite(join(dataDir, "keyward.db"));
  try {
    client.exec("PRAGMA busy_timeout = 5000");
    const check = client.prepare("SELECT value FROM meta WHERE key = 'master_key_check'").values()[0]?.[0];
    const sealer = await unlockCheckValue(String(check), decodeMasterKey(keyBase64, "test"));
    const out = new Map<string, string>();
    for (const [id, keyVersion, nonce, ciphertext] of client.prepare("SELECT id, key_version, nonce, ciphertext FROM provider_keys").values()) {
      out.set(
        String(id),
        await sealer.open({ keyVersion: Number(keyVersion), nonce: nonce as Uint8Array, ciphertext: ciphertext as Uint8Array }, providerKeyContext(String(id))),
      );
    }
    return out;
  } finally {
    client.close();
  }
}

/** Runs a query on a database file from the test process (WAL readers never block the server). */
export async function queryFile(dbPath: string, sql: string): Promise<unknown[][]> {
  const runtime = await detectRuntime();
  const client = runtime.openSqlite(dbPath);
  try {
    client.exec("PRAGMA busy_timeout = 5000");
    return client.prepare(sql).values();
  } finally {
    client.close();
  }
}

export const hasOpenssl = Bun.which("openssl") !== null;

/** A self-signed certificate for 127.0.0.1 and localhost, with `name` as CN, made by openssl. */
export async function selfSignedCert(dir: string, name: string): Promise<{ certFile: string; keyFile: string; cert: string }> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const proc = spawn(
    [
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    { stdout: "ignore", stderr: "pipe" },
  );
  if ((await proc.exited) !== 0) throw new Error(`openssl failed: ${await new Response(proc.stderr).text()}`);
  return { certFile, keyFile, cert: readFileSync(certFile, "utf8") };
}

/** The subject CN of the certificate a fresh TLS connection to `port` is served (openssl s_client). */
export async function servedCertificateCn(port: number): Promise<string> {
  const proc = spawn(["sh", "-c", `openssl s_client -connect 127.0.0.1:${port} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -subject`], {
    stdout: "pipe",
    stderr: "ignore",
  });
  const text = await new Response(proc.stdout).text();
  await proc.exited;
  return /CN\s*=\s*([^,\n/]+)/.exec(text)?.[1]?.trim() ?? "";
}

/** Parsed JSON log lines of a server's stderr. */
export function jsonLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
