/**
 * The floor keyward is measured against: a Bun forwarder with no auth, no
 * limits, no logging. fetch upstream, hand its body to `new Response`.
 * Usage: bun bare-forwarder.ts <upstream-origin>; prints its URL on stdout.
 */
const upstream = process.argv[2];
if (!upstream) throw new Error("usage: bare-forwarder.ts <upstream-origin>");

const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  idleTimeout: 0,
  async fetch(request) {
    const url = new URL(request.url);
    const response = await fetch(upstream + url.pathname + url.search, {
      method: request.method,
      headers: request.headers,
      body: request.body,
    });
    return new Response(response.body, { status: response.status, headers: response.headers });
  },
});
process.stdout.write(`http://127.0.0.1:${server.port}\n`);
export {};
