/**
 * The floor for scenario 5: a Bun server that refuses every request with a
 * 401 in OpenAI's error shape and does nothing else. The same flood aimed
 * here instead of at keyward shows what the flood costs the machine (the
 * generator and the kernel on the same two cores), apart from what it costs
 * keyward to refuse it.
 * Usage: bun bare-refuser.ts; prints its URL on stdout.
 */
const body = JSON.stringify({
  error: { message: "Cannot verify proxy key: key is invalid", type: "authentication_error", param: null, code: "invalid_api_key" },
});

const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  idleTimeout: 0,
  fetch: () => new Response(body, { status: 401, headers: { "content-type": "application/json" } }),
});
process.stdout.write(`http://127.0.0.1:${server.port}\n`);
export {};
