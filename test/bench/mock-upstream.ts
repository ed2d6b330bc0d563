/**
 * The benchmark's upstream: as cheap as a server can be, so that what the
 * benchmark sees is the proxies. `POST …/chat/completions` answers a fixed
 * completion at once, or with `"stream": true` paced SSE whose shape comes
 * from the query (`?chunks=20&delay=20`), which every proxy keeps.
 * Prints its URL on stdout.
 */
const COMPLETION = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "Hello!" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
});
const encoder = new TextEncoder();

function chunk(i: number, includeUsage: boolean): string {
  return `data: ${JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion.chunk",
    created: 1_700_000_000,
    model: "gpt-4o-mini",
    choices: [{ index: 0, delta: { content: `t${i}` }, finish_reason: null }],
    ...(includeUsage ? { usage: null } : {}),
  })}\n\n`;
}

function stream(chunks: number, delay: number, includeUsage: boolean): ReadableStream<Uint8Array> {
  let sent = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream({
    start(controller) {
      const next = () => {
        if (sent < chunks) {
          controller.enqueue(encoder.encode(chunk(sent++, includeUsage)));
          timer = setTimeout(next, delay);
          return;
        }
        if (includeUsage) {
          controller.enqueue(
            encoder.encode(
              `data: ${JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1_700_000_000, model: "gpt-4o-mini", choices: [], usage: { prompt_tokens: 12, completion_tokens: chunks, total_tokens: 12 + chunks } })}\n\n`,
            ),
          );
        }
        controller.enqueue(encoder.encode("data: [DONE]\n\n"));
        controller.close();
      };
      next();
    },
    cancel() {
      clearTimeout(timer);
    },
  });
}

const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  idleTimeout: 0,
  async fetch(request) {
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname.endsWith("/chat/completions")) {
      const body = (await request.json()) as { stream?: boolean; stream_options?: { include_usage?: boolean } };
      if (body.stream) {
        const chunks = Number(url.searchParams.get("chunks") ?? 20);
        const delay = Number(url.searchParams.get("delay") ?? 20);
        return new Response(stream(chunks, delay, body.stream_options?.include_usage === true), {
          headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
        });
      }
      return new Response(COMPLETION, { headers: { "content-type": "application/json" } });
    }
    if (url.pathname.endsWith("/models")) return Response.json({ object: "list", data: [] });
    return new Response("not found", { status: 404 });
  },
});
process.stdout.write(`http://127.0.0.1:${server.port}\n`);
export {};
