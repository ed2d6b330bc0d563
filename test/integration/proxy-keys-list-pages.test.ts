/**
 * Pages of GET /api/proxy-keys are made on the read worker from each key's
 * stored spend, and sent as they are only when the budget ledger would show
 * the same: a key whose spend is not written yet is shown with the ledger's
 * figures, exactly as GET /api/proxy-keys/{id} shows it.
 */
import { expect, test } from "bun:test";
import type { PacedReads } from "../../src/admin/paced-reads.ts";
import type { ADMIN_READS } from "../../src/admin/reads.ts";
import { ThreadedReads } from "../../src/db/reads.ts";
import { chatBody, createKeyPair, fetchText, startProxyHarness } from "../helpers/proxy.ts";

interface KeyView {
  id: string;
  spend_usd: number;
}

test("a page is the worker's while stored spend is current, the ledger's views while a key's spend is not yet written", async () => {
  // Spend is written only when the test flushes.
  const h = await startProxyHarness({ config: { logFlushIntervalMs: 600_000 } });
  try {
    const budgeted = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: 5 } });
    await createKeyPair(h.t, { base_url: h.mock.baseUrl });
    const worker = (h.t.services.reads as PacedReads<typeof ADMIN_READS>).reads;
    if (!(worker instanceof ThreadedReads)) throw new Error("the test app reads on its worker");
    const list = async () => {
      const before = worker.workerReads;
      const res = await h.t.call("GET", "/api/proxy-keys?limit=50");
      expect(res.status).toBe(200);
      return { items: res.json.data as KeyView[], reads: worker.workerReads - before };
    };
    const one = async (id: string) => (await h.t.call("GET", `/api/proxy-keys/${id}`)).json as KeyView;
    const listed = (items: KeyView[]) => items.find((item) => item.id === budgeted.proxyKeyId);

    // Nothing spent: one read, the worker's page, and every key as its own view shows it.
    let page = await list();
    expect(page.reads).toBe(1);
    expect(page.items.length).toBe(2);
    for (const item of page.items) expect(item).toEqual(await one(item.id));

    // A request settles: the ledger has the spend, the row not yet.
    const chat = await fetchText(`${h.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${budgeted.proxyKey}`, "content-type": "application/json" },
      body: chatBody(),
    });
    expect(chat.status).toBe(200);
    const live = await one(budgeted.proxyKeyId);
    expect(live.spend_usd).toBeGreaterThan(0);
    expect(h.t.store.proxyKeys.byId(budgeted.proxyKeyId)?.spendMicros).toBe(0);
    page = await list();
    expect(page.reads).toBe(2);
    expect(listed(page.items)).toEqual(live);

    // Written: the worker's page again, with the same figures.
    await h.t.services.requestLog.flush();
    expect(h.t.store.proxyKeys.byId(budgeted.proxyKeyId)?.spendMicros).toBeGreaterThan(0);
    page = await list();
    expect(page.reads).toBe(1);
    expect(listed(page.items)).toEqual(live);
  } finally {
    await h.stop();
  }
});
