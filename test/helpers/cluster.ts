/**
 * Instances of keyward sharing one PostgreSQL, started in this process with
 * `startServer` (as `keyward serve --database-url` would), each on a data dir
 * of its own, all with the same master key and root admin token.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadServeConfig } from "../../src/config.ts";
import { detectRuntime } from "../../src/runtime/index.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { silentLogger } from "../../src/telemetry/logger.ts";
import { generateKey } from "../../src/vault/key-format.ts";
import { randomMasterKey } from "./admin-api.ts";

/** How current an instance must prove itself, shortened so a test sees a stale one refuse within seconds. */
export const FRESHNESS = { freshnessMs: 1500, pollMs: 200 };

export interface Cluster {
  masterKey: string;
  adminToken: string;
  dirs: string[];
  servers: RunningServer[];
}

export function newCluster(): Cluster {
  return { masterKey: randomMasterKey(), adminToken: generateKey("admin").token, dirs: [], servers: [] };
}

export async function startInstance(cluster: Cluster, url: string): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), "kw-instance-"));
  cluster.dirs.push(dir);
  const config = loadServeConfig(
    {
      port: "0",
      host: "127.0.0.1",
      "data-dir": dir,
      "database-url": url,
      "allow-http-upstreams": true,
    },
    { KEYWARD_MASTER_KEY: cluster.masterKey, KEYWARD_ADMIN_TOKEN: cluster.adminToken },
  );
  const server = await startServer({ config, runtime: await detectRuntime(), logger: silentLogger, print: () => {}, cluster: FRESHNESS });
  cluster.servers.push(server);
  return server;
}

export async function stopCluster(cluster: Cluster): Promise<void> {
  await Promise.all(cluster.servers.map((server) => server.stop()));
  for (const dir of cluster.dirs) rmSync(dir, { recursive: true, force: true });
}

/** One small chat completion through `server` with proxy key `key`. */
export function chat(server: RunningServer, key: string): Promise<Response> {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }),
  });
}

/** The answer's status, its body discarded. */
export async function statusOf(response: Promise<Response>): Promise<number> {
  const answer = await response;
  await answer.body?.cancel();
  return answer.status;
}
