/**
 * The shared store on its own: a write through one instance is in every
 * other's mirror when it resolves, concurrent writes are serialised, and a
 * failed one changes nothing anywhere.
 */
import { describe, expect, test } from "bun:test";
import type { OpenedSharedDatabase } from "../../src/db/cluster/open.ts";
import type { AppliedRow, ProviderKeyRow, ProxyKeyRow } from "../../src/db/store.ts";
import { useClusterStores } from "../helpers/cluster-stores.ts";
import { proxyKeyRow } from "../helpers/rows.ts";

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
  return proxyKeyRow({
    id,
    name: id,
    providerKeyId,
    secretHash: "$argon2id$fake",
    metadata: { team: "x" },
    allowedModels: ["gpt-4o"],
    budgetMicros: 5_000_000,
  });
}

describe("cluster store", () => {
  const { instance, instances } = useClusterStores();

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
