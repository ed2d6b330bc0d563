/**
 * Batch checks and charges are vault state: written through `Store.write`,
 * mirrored by every instance sharing PostgreSQL, and a charge is closed once
 * even when two instances settle the same batch at the same moment (a client
 * reading it on one, the background check on the leader).
 */
import { expect, test } from "bun:test";
import type { BatchChargeRow } from "../../src/db/store.ts";
import { useClusterStores } from "../helpers/cluster-stores.ts";

const { instance } = useClusterStores();

const charge: BatchChargeRow = {
  providerKeyId: "pk_b",
  batchId: "batch_1",
  proxyKeyId: "kw_b",
  teamId: null,
  model: "gpt-4o-mini",
  pricePercent: 50,
  chargedMicros: 5_000,
  periodStartedAt: 0,
  teamPeriodStartedAt: null,
  createdAt: 1,
  settledAt: null,
  costMicros: null,
};

test("a checked file and an open charge written on one instance are on every other; two closing it at once close it once", async () => {
  const a = await instance("a");
  const b = await instance("b");
  await a.store.write((tx) => {
    tx.providerKeys.insert({
      id: "pk_b",
      name: "batches",
      provider: "openai",
      baseUrl: "https://api.openai.com/v1",
      keyVersion: 1,
      nonce: Buffer.alloc(12),
      ciphertext: Buffer.from("00", "hex"),
      keyHint: "sk-…abcd",
      disabled: false,
      injectStreamUsage: true,
      deployments: null,
      openaiOrganization: null,
      openaiProject: null,
      createdAt: 1,
      updatedAt: 1,
    });
    tx.batches.recordFile({
      providerKeyId: "pk_b",
      fileId: "file-1",
      proxyKeyId: "kw_b",
      url: "/v1/chat/completions",
      model: "gpt-4o-mini",
      lines: 3,
      worstMicros: 5_000,
      pricePercent: 50,
      createdAt: 1,
    });
    tx.batches.openCharge(charge);
  });
  expect(b.store.batches.file("pk_b", "file-1")?.worstMicros).toBe(5_000);
  expect(b.store.batches.openCharges(10)).toEqual([charge]);

  const closed = await Promise.all([a, b].map((one, i) => one.store.write((tx) => tx.batches.close("pk_b", "batch_1", 1_000 + i, 2))));
  expect(closed.filter(Boolean)).toHaveLength(1);
  const settled = a.store.batches.charge("pk_b", "batch_1");
  expect(b.store.batches.charge("pk_b", "batch_1")).toEqual(settled);
  expect(settled?.settledAt).toBe(2);
  expect(b.store.batches.openCharges(10)).toEqual([]);
});
