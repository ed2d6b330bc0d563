/**
 * Opens N concurrent streamed chat completions and reads each to the end.
 * Runs as its own process so that BUN_CONFIG_MAX_HTTP_REQUESTS (set by the
 * caller at spawn) lifts Bun's 256-request fetch cap for the client side.
 * Usage: bun stream-clients.ts <url> <count> <token> <chunks> <delayMs>; prints JSON.
 */
const [url, countText, token, chunks, delay] = process.argv.slice(2);
if (!url || !countText || !token) throw new Error("usage: stream-clients.ts <url> <count> <token> <chunks> <delayMs>");
const body = JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "Hello" }] });

async function one(): Promise<boolean> {
  const response = await fetch(`${url}/v1/chat/completions?chunks=${chunks}&delay=${delay}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body,
  });
  const text = await response.text();
  return response.ok && text.includes("data: [DONE]");
}

const started = performance.now();
const results = await Promise.allSettled(Array.from({ length: Number(countText) }, () => one()));
const completed = results.filter((r) => r.status === "fulfilled" && r.value).length;
process.stdout.write(`${JSON.stringify({ completed, failed: results.length - completed, ms: performance.now() - started })}\n`);
export {};
