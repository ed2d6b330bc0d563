/**
 * A process of its own that times proxied requests, one at a time, while a
 * test (or the benchmark) runs admin work against the same keyward. Apart
 * from the test's process so that nothing the test does (parsing a large
 * answer, spawning a command) delays a request's timing; it also serves
 * the upstream those requests reach, for the same reason.
 *
 * Protocol, one JSON object per line: it prints `{"upstream": url}` at once;
 * on stdin `{"start": {"url", "key"}}` starts the requests (2 ms apart), and
 * `{"stop": true}` makes it print `{"samples": [[startedAt, ms, status], …]}`
 * and exit. `startedAt` is `performance.timeOrigin + performance.now()`,
 * comparable across processes on one machine.
 */

export {};

const COMPLETION = JSON.stringify({
  id: "chatcmpl-probe",
  object: "chat.completion",
  created: 0,
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
});

const upstream = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(request) {
    await request.arrayBuffer();
    return new Response(COMPLETION, { headers: { "content-type": "application/json" } });
  },
});
console.log(JSON.stringify({ upstream: `http://127.0.0.1:${upstream.port}` }));

const samples: Array<[number, number, number]> = [];
let running = false;

async function probe(url: string, key: string): Promise<void> {
  const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
  while (running) {
    const started = performance.now();
    let status = 0;
    try {
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body,
      });
      await response.arrayBuffer();
      status = response.status;
    } catch {
      status = -1;
    }
    samples.push([performance.timeOrigin + started, performance.now() - started, status]);
    await Bun.sleep(2);
  }
}

let probing: Promise<void> = Promise.resolve();
for await (const line of console) {
  const command = JSON.parse(line) as { start?: { url: string; key: string }; stop?: true };
  if (command.start) {
    running = true;
    probing = probe(command.start.url, command.start.key);
  }
  if (command.stop) {
    running = false;
    await probing;
    console.log(JSON.stringify({ samples }));
    await upstream.stop(true);
    process.exit(0);
  }
}
