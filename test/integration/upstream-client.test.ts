/**
 * keyward's own upstream client on Bun's real sockets, against raw TCP
 * servers that script exactly what a provider (or a broken one) sends:
 * connection reuse, the stale kept-alive connection, backpressure on a
 * large streamed body, abort, compression, TLS verification, and the
 * hand-off to `fetch` when several exchanges wait at once.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { bunConnect } from "../../src/runtime/bun-connect.ts";
import { createUpstreamClient, type UpstreamClient } from "../../src/upstream/client.ts";
import { hasOpenssl, selfSignedCert } from "../helpers/ops.ts";

interface Script {
  /** Answers one request (its head and body as text); return null to close without answering. */
  answer(request: string, index: number): string | Uint8Array | null;
}

interface RawServer {
  url: string;
  connections: number;
  requests: string[];
  stop: () => void;
}

/** A TCP server that reads whole requests (content-length bodies) and writes scripted bytes back. */
function rawServer(script: Script): RawServer {
  const state = { connections: 0, requests: [] as string[] };
  const listener = Bun.listen<{ buffer: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        state.connections++;
        socket.data = { buffer: "" };
      },
      data(socket, bytes) {
        socket.data.buffer += new TextDecoder("latin1").decode(bytes);
        for (;;) {
          const headEnd = socket.data.buffer.indexOf("\r\n\r\n");
          if (headEnd < 0) return;
          const length = Number(/content-length: (\d+)/i.exec(socket.data.buffer.slice(0, headEnd))?.[1] ?? 0);
          if (socket.data.buffer.length < headEnd + 4 + length) return;
          const request = socket.data.buffer.slice(0, headEnd + 4 + length);
          socket.data.buffer = socket.data.buffer.slice(request.length);
          state.requests.push(request);
          const answer = script.answer(request, state.requests.length - 1);
          if (answer === null) socket.end();
          else socket.write(answer);
        }
      },
    },
  });
  return {
    url: `http://127.0.0.1:${listener.port}`,
    get connections() {
      return state.connections;
    },
    requests: state.requests,
    stop: () => listener.stop(true),
  };
}

const ok = (body: string, extra = "") => `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n${extra}\r\n${body}`;
const POST = { method: "POST", headers: { "content-type": "application/json" }, body: new TextEncoder().encode('{"a":1}') };

let client: UpstreamClient;
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  client?.close();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe("connections", () => {
  test("one kept-alive connection carries one exchange after another; the request arrives as written", async () => {
    const server = rawServer({ answer: () => ok('{"n":1}') });
    cleanups.push(server.stop);
    client = createUpstreamClient(bunConnect);
    for (let i = 0; i < 3; i++) {
      const response = await client.fetch(`${server.url}/v1/chat/completions?x=1`, { ...POST, headers: { ...POST.headers, authorization: "Bearer sk-1" } });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ n: 1 });
    }
    expect(server.connections).toBe(1);
    const first = server.requests[0] as string;
    expect(first.startsWith("POST /v1/chat/completions?x=1 HTTP/1.1\r\n")).toBe(true);
    expect(first).toContain(`host: ${server.url.slice("http://".length)}\r\n`);
    expect(first).toContain("authorization: Bearer sk-1\r\n");
    expect(first).toContain("content-length: 7\r\n");
    expect(first.endsWith('\r\n\r\n{"a":1}')).toBe(true);
  });

  test("a kept-alive connection the server dropped unanswered is retried once on a new one", async () => {
    // Answers the first request, then closes the connection on the next one without a word.
    const server = rawServer({ answer: (_, i) => (i === 1 ? null : ok("{}")) });
    cleanups.push(server.stop);
    client = createUpstreamClient(bunConnect);
    expect((await client.fetch(`${server.url}/v1/x`, POST)).status).toBe(200);
    const second = await client.fetch(`${server.url}/v1/x`, POST);
    expect(second.status).toBe(200);
    expect(server.connections).toBe(2);
    expect(server.requests).toHaveLength(3);
  });

  test("a new connection closed unanswered is not retried: the caller gets the failure", async () => {
    const server = rawServer({ answer: () => null });
    cleanups.push(server.stop);
    client = createUpstreamClient(bunConnect);
    await expect(client.fetch(`${server.url}/v1/x`, POST)).rejects.toThrow(/closed before an answer/);
    expect(server.requests).toHaveLength(1);
  });

  test("Connection: close is honoured: the next exchange opens a new connection", async () => {
    const server = rawServer({ answer: () => ok("{}", "connection: close\r\n") });
    cleanups.push(server.stop);
    client = createUpstreamClient(bunConnect);
    for (let i = 0; i < 2; i++) expect(await (await client.fetch(`${server.url}/v1/x`, POST)).json()).toEqual({});
    expect(server.connections).toBe(2);
  });

  test("a refused connection rejects at once", async () => {
    const server = rawServer({ answer: () => null });
    server.stop();
    client = createUpstreamClient(bunConnect);
    await expect(client.fetch(`${server.url}/v1/x`, POST)).rejects.toThrow(/Cannot reach provider/);
  });

  test("close() closes idle connections (nothing keeps a stopping server's process alive)", async () => {
    const closed: number[] = [];
    const listener = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: { data: (socket) => void socket.write(ok("{}")), close: () => void closed.push(1) },
    });
    cleanups.push(() => listener.stop(true));
    client = createUpstreamClient(bunConnect);
    expect(await (await client.fetch(`http://127.0.0.1:${listener.port}/v1/x`, POST)).json()).toEqual({});
    expect(closed).toHaveLength(0);
    client.close();
    for (let i = 0; i < 50 && closed.length === 0; i++) await Bun.sleep(10);
    expect(closed).toHaveLength(1);
  });
});

describe("bodies", () => {
  test("a large chunked body arrives intact to a slow reader, read with backpressure", async () => {
    const piece = new Uint8Array(64 * 1024).map((_, i) => (i * 7) % 251);
    const pieces = 128; // 8 MiB
    const upstream = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: () =>
        new Response(
          new ReadableStream({
            pull(controller) {
              controller.enqueue(piece.slice());
              if (++sent === pieces) controller.close();
            },
          }),
        ),
    });
    let sent = 0;
    cleanups.push(() => upstream.stop(true));
    client = createUpstreamClient(bunConnect);
    const response = await client.fetch(`http://127.0.0.1:${upstream.port}/v1/files/f/content`, { method: "GET", headers: {} });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const expected = new Bun.CryptoHasher("sha256");
    for (let i = 0; i < pieces; i++) expected.update(piece);
    const got = new Bun.CryptoHasher("sha256");
    let bytes = 0;
    let sentWhenHalfRead = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got.update(value);
      bytes += value.length;
      if (sentWhenHalfRead === 0 && bytes >= (pieces * piece.length) / 8) {
        // A reader that stops: the provider must be held back, not the body buffered whole.
        await Bun.sleep(200);
        sentWhenHalfRead = sent;
      }
    }
    expect(bytes).toBe(pieces * piece.length);
    expect(got.digest("hex")).toBe(expected.digest("hex"));
    expect(sentWhenHalfRead).toBeLessThan(pieces);
  });

  test("abort mid-body errors the body and drops the connection", async () => {
    const server = rawServer({ answer: () => "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n" });
    cleanups.push(server.stop);
    client = createUpstreamClient(bunConnect);
    const controller = new AbortController();
    const response = await client.fetch(`${server.url}/v1/x`, { ...POST, signal: controller.signal });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("hello");
    controller.abort(new Error("client left"));
    await expect(reader.read()).rejects.toThrow("client left");
    // The half-read connection is not reused.
    const next = client.fetch(`${server.url}/v1/x`, POST);
    await Bun.sleep(50);
    expect(server.connections).toBe(2);
    void next.catch(() => {});
  });

  test("an already aborted signal never sends the request", async () => {
    const server = rawServer({ answer: () => ok("{}") });
    cleanups.push(server.stop);
    let handedOff = 0;
    client = createUpstreamClient(bunConnect, {
      busy: (url, init) => {
        handedOff++;
        return fetch(url, init);
      },
    });
    await expect(client.fetch(`${server.url}/v1/x`, { ...POST, signal: AbortSignal.abort(new Error("gone")) })).rejects.toThrow("gone");
    await Bun.sleep(20);
    expect(server.requests).toHaveLength(0);
    // It no longer counts as waiting: the next exchange is the client's own, not handed off.
    expect(await (await client.fetch(`${server.url}/v1/x`, POST)).json()).toEqual({});
    expect(handedOff).toBe(0);
    expect(server.requests).toHaveLength(1);
  });

  test("a gzip answer (keyward offers gzip) is decoded; an encoding never offered is refused", async () => {
    const json = JSON.stringify({ text: "x".repeat(1000) });
    const zipped = gzipSync(json);
    const head = `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: ${zipped.length}\r\n\r\n`;
    const server = rawServer({
      answer: (request) =>
        request.includes("/br") ? "HTTP/1.1 200 OK\r\ncontent-encoding: br\r\ncontent-length: 2\r\n\r\nxx" : Buffer.concat([Buffer.from(head), zipped]),
    });
    cleanups.push(server.stop);
    client = createUpstreamClient(bunConnect);
    expect(await (await client.fetch(`${server.url}/v1/gz`, POST)).text()).toBe(json);
    expect(server.requests[0]).toContain("accept-encoding: gzip, deflate\r\n");
    await expect(client.fetch(`${server.url}/v1/br`, POST)).rejects.toThrow(/content-encoding br was not asked for/);
  });

  test("a malformed answer rejects with the parser's reason", async () => {
    const server = rawServer({ answer: () => "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nxx" });
    cleanups.push(server.stop);
    client = createUpstreamClient(bunConnect);
    await expect(client.fetch(`${server.url}/v1/x`, POST)).rejects.toThrow(/content-length is invalid or conflicting/);
  });
});

describe("requests", () => {
  test("a header value with CR or LF is refused before anything is sent (no request splitting)", async () => {
    const server = rawServer({ answer: () => ok("{}") });
    cleanups.push(server.stop);
    client = createUpstreamClient(bunConnect);
    await expect(client.fetch(`${server.url}/v1/x`, { ...POST, headers: { "x-a": "1\r\nx-injected: 1" } })).rejects.toThrow(/header x-a is not valid/);
    await Bun.sleep(20);
    expect(server.requests).toHaveLength(0);
  });

  test("Latin-1 header values go out as their bytes, not UTF-8", async () => {
    const server = rawServer({ answer: () => ok("{}") });
    cleanups.push(server.stop);
    client = createUpstreamClient(bunConnect);
    expect(await (await client.fetch(`${server.url}/v1/x`, { ...POST, headers: { "x-name": "café" } })).json()).toEqual({});
    expect(server.requests[0]).toContain("x-name: café\r\n"); // decoded as latin1 by the server above
  });
});

describe("hand-off to fetch", () => {
  test("while another exchange waits for its answer, the next one goes to `busy`", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const upstream = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: async () => {
        await gate;
        return Response.json({});
      },
    });
    cleanups.push(() => upstream.stop(true));
    const handedOff: string[] = [];
    client = createUpstreamClient(bunConnect, {
      handoffAt: 1,
      busy: (url, init) => {
        handedOff.push(url);
        return fetch(url, init);
      },
    });
    const url = `http://127.0.0.1:${upstream.port}/v1/x`;
    const first = client.fetch(url, POST);
    const second = client.fetch(url, POST);
    release();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect(handedOff).toEqual([url]);
    // Quiet again: back on the client's own connections.
    expect(await (await client.fetch(url, POST)).json()).toEqual({});
    expect(handedOff).toHaveLength(1);
  });

  test("an exchange handed to `busy` counts as waiting too, until its answer comes", async () => {
    const upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({}) });
    cleanups.push(() => upstream.stop(true));
    const handedOff: Array<(response: Response) => void> = [];
    client = createUpstreamClient(bunConnect, {
      handoffAt: 1,
      busy: () => new Promise<Response>((resolve) => handedOff.push(resolve)),
    });
    const url = `http://127.0.0.1:${upstream.port}/v1/x`;
    const first = client.fetch(url, POST);
    const second = client.fetch(url, POST);
    expect(handedOff).toHaveLength(1);
    expect(await (await first).json()).toEqual({});
    // The client's own exchange is done, but the handed-off one still waits: requests still overlap.
    const third = client.fetch(url, POST);
    expect(handedOff).toHaveLength(2);
    for (const answer of handedOff) answer(Response.json({ from: "busy" }));
    expect(await (await second).json()).toEqual({ from: "busy" });
    expect(await (await third).json()).toEqual({ from: "busy" });
    // Both answered: quiet again, so the next exchange is the client's own.
    expect(await (await client.fetch(url, POST)).json()).toEqual({});
    expect(handedOff).toHaveLength(2);
  });

  test("a hand-off that fails still stops counting as waiting", async () => {
    const upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({}) });
    cleanups.push(() => upstream.stop(true));
    let handedOff = 0;
    client = createUpstreamClient(bunConnect, {
      handoffAt: 1,
      busy: () => {
        handedOff++;
        return Promise.reject(new TypeError("connection refused"));
      },
    });
    const url = `http://127.0.0.1:${upstream.port}/v1/x`;
    const first = client.fetch(url, POST);
    await expect(client.fetch(url, POST)).rejects.toThrow("connection refused");
    expect(await (await first).json()).toEqual({});
    expect(await (await client.fetch(url, POST)).json()).toEqual({});
    expect(handedOff).toBe(1);
  });
});

/** An HTTPS provider on a self-signed certificate (for localhost), stopped after the test. */
async function tlsUpstream(answer: unknown): Promise<{ dir: string; certFile: string; url: string }> {
  const dir = mkdtempSync(join(tmpdir(), "keyward-upstream-tls-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const { certFile, keyFile } = await selfSignedCert(dir, "provider");
  const upstream = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    tls: { cert: Bun.file(certFile), key: Bun.file(keyFile) },
    fetch: () => Response.json(answer),
  });
  cleanups.push(() => upstream.stop(true));
  return { dir, certFile, url: `https://localhost:${upstream.port}/v1/x` };
}

describe.skipIf(!hasOpenssl)("TLS", () => {
  test("a provider whose certificate is not trusted is refused, as fetch refuses it", async () => {
    const { url } = await tlsUpstream({ leaked: true });
    client = createUpstreamClient(bunConnect);
    await expect(client.fetch(url, POST)).rejects.toThrow(/Cannot reach provider/);
    await expect(fetch(url, { method: "POST" })).rejects.toThrow();
  });

  test("a provider whose CA is added through NODE_EXTRA_CA_CERTS is trusted, as fetch trusts it", async () => {
    const { dir, certFile, url } = await tlsUpstream({ over: "tls" });
    // The variable is read at process start, so the client runs in a child that has it.
    const script = join(dir, "client.ts");
    await Bun.write(
      script,
      `import { bunConnect } from ${JSON.stringify(join(import.meta.dir, "../../src/runtime/bun-connect.ts"))};
import { createUpstreamClient } from ${JSON.stringify(join(import.meta.dir, "../../src/upstream/client.ts"))};
const client = createUpstreamClient(bunConnect);
const response = await client.fetch(process.argv[2], { method: "GET", headers: {} });
process.stdout.write(response.status + " " + (await response.text()));
client.close();`,
    );
    const child = Bun.spawn(["bun", script, url], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: certFile },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await new Response(child.stdout).text()).toBe('200 {"over":"tls"}');
    expect(await child.exited).toBe(0);
  });
});
