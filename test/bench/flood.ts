/**
 * Wrong-secret flood: requests with real key ids and fresh random secrets
 * (valid checksums, so each one reaches the secret check) at a fixed rate.
 * Usage: bun flood.ts <url> <rps> <seconds> <id,id,…>; prints JSON counts.
 */
import { generateKey } from "../../src/vault/key-format.ts";

const [url, rpsText, secondsText, idList] = process.argv.slice(2);
if (!url || !rpsText || !secondsText || !idList) throw new Error("usage: flood.ts <url> <rps> <seconds> <ids>");
const ids = idList.split(",");
const rps = Number(rpsText);
const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }] });
const statuses: Record<string, number> = {};
let sent = 0;
const inflight = new Set<Promise<void>>();
const tickMs = 10;
const perTick = Math.max(1, Math.round((rps * tickMs) / 1000));
const end = performance.now() + Number(secondsText) * 1000;

while (performance.now() < end) {
  const tickStart = performance.now();
  for (let i = 0; i < perTick; i++) {
    const token = generateKey("proxy", ids[sent % ids.length]).token;
    sent++;
    const p = fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body,
    })
      .then(async (r) => {
        await r.arrayBuffer();
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      })
      .catch(() => {
        statuses.error = (statuses.error ?? 0) + 1;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  }
  const wait = tickMs - (performance.now() - tickStart);
  if (wait > 0) await Bun.sleep(wait);
}
await Promise.all(inflight);
process.stdout.write(`${JSON.stringify({ sent, statuses })}\n`);
