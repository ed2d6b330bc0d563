import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type postgres from "postgres";
import { openSharedDatabase, type OpenedSharedDatabase } from "../../src/db/cluster/open.ts";
import { openPostgres } from "../../src/db/pg/connect.ts";
import type { AppliedRow, ProviderKeyRow, ProxyKeyRow } from "../../src/db/store.ts";
import { detectRuntime } from "../../src/runtime/index.ts";
import { usePostgres } from "../helpers/postgres.ts";

function providerKey(id: string, name: string): ProviderKeyRow {
  return {
    id,
    name,
    provider: "openai",
    baseUrl: "https://api.openai.com/v1",
    keyVersion: 1,
    nonce: Buffer.from("000102030405060708090a0b", "hex"),
    ciphertext: Buffer.from("deadbeef", "hex"),
    keyHint: "sk-…abcd",
    disabled: false,
    injectStreamUsage: true,
    deployments: { gpt: "gpt-4o" },
    openaiOrganization: null,
    openaiProject: null,
    createdAt: 1,
    updatedAt: 1,
  };
}

function proxyKey(id: string, providerKeyId: string): ProxyKeyRow {
  return {
    id,
    name: id,
    providerKeyId,
    secretHash: "$argon2id$fake",
    keyHint: "kw-…",
    expiresAt: null,
    revokedAt: null,
    metadata: { team: "x" },
    createdBy: "test",
    createdAt: 2,
    updatedAt: 2,
    allowedModels: ["gpt-4o"],
    rpm: null,
    tpm: null,
    maxConcurrency: null,
    budgetMicros: 5_000_000,
    budgetPeriod: "total",
    spendMicros: 0,
    periodStartedAt: 0,
    unboundedReservationMicros: null,
    teamId: null,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
  };
}

describe("cluster store", () => {
  const dir = mkdtempSync(join(tmpdir(), "kw-cluster-"));
  const pg = usePostgres();
  const clients: postgres.Sql[] = [];
  const instances: OpenedSharedDatabase[] = [];

  async function instance(name: string): Promise<OpenedSharedDatabase> {
    const sql = openPostgres({ url: pg.url, max: 4 });
    clients.push(sql);
    const opened = await openSharedDatabase(await detectRuntime(), {
      sql,
      mirrorDir: join(dir, name),
      instanceId: name,
      freshnessMs: 2000,
      pollMs: 200,
      onError: (err) => console.error(err),
    });
    instances.push(opened);
    return opened;
  }

  afterAll(async () => {
    for (const opened of instances) await opened.store.shared.stop();
    for (const opened of instances) opened.mirror.client.close();
    for (const sql of clients) await sql.end();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a write on one instance is in every other's mirror when it resolves, blobs and json intact", async () => {
    const a = await instance("a");
    const b = await instance("b");
    const seen: AppliedRow[] = [];
    b.store.shared.onRemoteChange((rows) => seen.push(...rows));
    await a.store.write((tx) => {
      tx.providerKeys.insert(providerKey("pk_1", "main"));
      tx.proxyKeys.insert(proxyKey("kw_1", "pk_1"));
    });
    const copied = b.store.providerKeys.byId("pk_1");
    expect(copied?.nonce.toString("hex")).toBe("000102030405060708090a0b");
    expect(copied?.deployments).toEqual({ gpt: "gpt-4o" });
    expect(copied?.disabled).toBe(false);
    expect(b.store.proxyKeys.byId("kw_1")?.metadata).toEqual({ team: "x" });
    expect(seen.map((row) => row.table).sort()).toEqual(["provider_keys", "proxy_keys"]);

    await b.store.write((tx) => tx.proxyKeys.update("kw_1", { revokedAt: 99 }));
    expect(a.store.proxyKeys.byId("kw_1")?.revokedAt).toBe(99);

    // A third instance starting now loads the same state from PostgreSQL.
    const c = await instance("c");
    expect(c.store.proxyKeys.byId("kw_1")?.revokedAt).toBe(99);
    expect(c.store.providerKeys.byId("pk_1")?.ciphertext.toString("hex")).toBe("deadbeef");
  });

  test("concurrent writes on two instances both commit, each decided on the state it commits onto", async () => {
    const [a, b] = instances as [OpenedSharedDatabase, OpenedSharedDatabase];
    const names = Array.from({ length: 10 }, (_, i) => i);
    await Promise.all(
      names.map((i) =>
        (i % 2 === 0 ? a : b).store.write((tx) => {
          // Read-modify-write: a lost update would leave fewer than 10 entries.
          const row = tx.proxyKeys.byId("kw_1");
          const list = (row?.metadata?.list as number[] | undefined) ?? [];
          tx.proxyKeys.update("kw_1", { metadata: { list: [...list, i] } });
        }),
      ),
    );
    const list = ((a.store.proxyKeys.byId("kw_1")?.metadata?.list ?? []) as number[]).toSorted((x, y) => x - y);
    expect(list).toEqual(names);
    expect(b.store.proxyKeys.byId("kw_1")?.metadata).toEqual(a.store.proxyKeys.byId("kw_1")?.metadata ?? {});
  });

  test("a failed function changes nothing anywhere", async () => {
    const [a, b] = instances as [OpenedSharedDatabase, OpenedSharedDatabase];
    await expect(
      a.store.write((tx) => {
        tx.proxyKeys.update("kw_1", { name: "renamed" });
        throw new Error("refused");
      }),
    ).rejects.toThrow("refused");
    expect(a.store.proxyKeys.byId("kw_1")?.name).toBe("kw_1");
    expect(b.store.proxyKeys.byId("kw_1")?.name).toBe("kw_1");
  });
});
