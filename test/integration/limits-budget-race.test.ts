/**
 * Concurrent requests can never push settled spend past a budget, since each
 * one holds its worst-case cost against the budget before it goes upstream.
 * 60 requests at once (streamed and plain, through the OpenAI SDK)
 * on a key whose budget pays for about 10: spend stays within the budget,
 * the rest are refused with 429 insufficient_quota, and spend, the request
 * log and the usage summary agree to the micro-dollar. Run twice: with the
 * request log written on the server thread and from the log worker (as the
 * server runs it), where spend and rows travel to another connection.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { TEST_BACKEND } from "../helpers/app.ts";
import { allLogs, byteLength, getKey, micros, waitSettled } from "../helpers/limits.ts";
import { createKeyPair, useProxyHarness } from "../helpers/proxy.ts";

// gpt-4o-mini: $0.15 in, $0.60 out per million tokens.
const PROMPT = "x".repeat(3_000);
const MAX_TOKENS = 1_000;
// Realistic: the prompt (3000 one-byte characters) has at most as many tokens as bytes,
// and the answer stays within max_tokens.
const USAGE = { input: 3_000, output: MAX_TOKENS, cached: 0, cacheCreation: 0 };
const COST = 450 + 600; // µ$: 3000 × 0.15 + 1000 × 0.6
const BUDGET_USD = 0.011; // 11000 µ$: ten requests' worth and a half
const REQUESTS = 60;

for (const logWorker of [false, true]) {
  describe(logWorker ? "request log in its worker" : "request log inline", () => {
    const h = useProxyHarness({ mock: { usage: USAGE, chunks: 8 }, logWorker });

    test("60 concurrent requests on a 10-request budget: never over budget, the rest 429 insufficient_quota", async () => {
      const keys = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { budget_usd: BUDGET_USD } });
      const client = new OpenAI({ apiKey: keys.proxyKey, baseURL: h.baseUrl, maxRetries: 0 });
      const messages = [{ role: "user" as const, content: PROMPT }];
      // The bound keyward reserves with is the body's byte length: make sure the mock's input fits under it.
      expect(byteLength(JSON.stringify({ messages, model: "gpt-4o-mini", max_tokens: MAX_TOKENS }))).toBeGreaterThan(USAGE.input);

      // "ok", or what went wrong.
      const one = async (i: number): Promise<string> => {
        try {
          if (i % 2 === 0) {
            const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages, max_tokens: MAX_TOKENS, stream: true });
            let text = "";
            for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
            expect(text).toBe("Hello from the mock provider!");
          } else {
            const done = await client.chat.completions.create({ model: "gpt-4o-mini", messages, max_tokens: MAX_TOKENS });
            expect(done.choices[0]?.message.content).toBe("Hello from the mock provider!");
          }
          return "ok";
        } catch (err) {
          if (err instanceof OpenAI.APIError) return `${err.status} ${err.code}${err.headers?.get("retry-after") ? " retry-after" : ""}`;
          throw err;
        }
      };
      const outcomes = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => one(i)));
      await waitSettled(h.t);

      const succeeded = outcomes.filter((o) => o === "ok").length;
      const refused = outcomes.filter((o) => o === "429 insufficient_quota").length;
      expect(succeeded + refused).toBe(REQUESTS); // nothing else (no retry-after: a total budget never resets)
      expect(succeeded).toBeGreaterThanOrEqual(8);
      expect(refused).toBeGreaterThan(0);
      expect(h.mock.requests.length).toBe(succeeded); // refused requests never reached the provider

      const key = await getKey(h.t, keys.proxyKeyId);
      const spend = micros(key.spend_usd);
      expect(spend).toBeLessThanOrEqual(micros(BUDGET_USD));
      expect(spend).toBe(succeeded * COST);
      expect(key.reserved_usd).toBe(0);
      expect(micros(key.budget_remaining_usd ?? Number.NaN)).toBe(micros(BUDGET_USD) - spend);

      const logs = await allLogs(h.t, `proxy_key_id=${keys.proxyKeyId}`, 7);
      // Every request is in the log once; refusals are folded into one row per key, code and minute.
      expect(logs.reduce((sum, l) => sum + l.count, 0)).toBe(REQUESTS);
      expect(logs.filter((l) => l.status === 200).length).toBe(succeeded);
      expect(new Set(logs.map((l) => l.request_id)).size).toBe(logs.length);
      const rejections = logs.filter((l) => l.status === 429);
      expect(rejections.length).toBeLessThanOrEqual(2); // the race may straddle a minute
      expect(rejections.reduce((sum, l) => sum + l.count, 0)).toBe(refused);
      for (const r of rejections) {
        expect(r.error_code).toBe("insufficient_quota");
        expect(r.cost_usd).toBe(0);
      }
      for (const ok of logs.filter((l) => l.status === 200)) {
        expect(ok.input_tokens).toBe(USAGE.input);
        expect(ok.output_tokens).toBe(USAGE.output);
        expect(micros(ok.cost_usd)).toBe(COST);
      }
      expect(logs.filter((l) => l.status === 200 && l.streamed).length).toBeGreaterThan(0);
      expect(logs.filter((l) => l.status === 200 && !l.streamed).length).toBeGreaterThan(0);
      const logged = logs.reduce((sum, l) => sum + micros(l.cost_usd), 0);
      expect(logged).toBe(spend);

      const usage = await h.t.call("GET", "/api/usage?group_by=proxy_key");
      expect(usage.status).toBe(200);
      const row = (usage.json.data as Array<Record<string, unknown>>).find((r) => Object.values(r).includes(keys.proxyKeyId));
      expect(row).toBeDefined();
      expect(row?.requests).toBe(REQUESTS);
      expect(micros(Number(row?.cost_usd))).toBe(spend);

      // And once spent, the key stays refused: the remainder fits no request.
      const after = await one(1);
      expect(after).toBe("429 insufficient_quota");

      // What a restart would read: the spend committed to the file matches too. On PostgreSQL there is no
      // such file (the mirror holds no spend): budget leases carry it, and the answers above are what count.
      if (TEST_BACKEND === "postgres") return;
      await h.t.flushLog();
      const db = new Database(h.t.dbPath, { readonly: true });
      try {
        const stored = db.query("SELECT spend_micros AS spend FROM proxy_keys WHERE id = ?").get(keys.proxyKeyId) as { spend: number };
        expect(stored.spend).toBe(spend);
        const rows = db.query("SELECT sum(count) AS n, sum(cost_micros) AS cost FROM request_log WHERE proxy_key_id = ?").get(keys.proxyKeyId) as {
          n: number;
          cost: number;
        };
        expect(rows).toEqual({ n: REQUESTS + 1, cost: spend });
      } finally {
        db.close();
      }
    });
  });
}
