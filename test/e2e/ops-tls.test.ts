/**
 * HTTPS from the binary itself (--tls-cert/--tls-key), a renewed certificate
 * applied on SIGHUP without dropping a stream in flight, a bad renewal that
 * keeps the old certificate, and --trust-proxy's client address.
 * Certificates are made with openssl (Debian ships it).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runKeyward } from "../helpers/binary.ts";
import { startMockProvider, type MockProvider } from "../helpers/mock-provider.ts";
import { hasOpenssl, jsonLines, Leftovers, opsBinary, selfSignedCert, servedCertificateCn, startServe, type OpsBinary } from "../helpers/ops.ts";
import { chatBody } from "../helpers/proxy.ts";

if (!hasOpenssl) console.warn("\n!!! openssl is not on PATH: SKIPPING the TLS tests (apt-get install openssl) !!!\n");

const left = new Leftovers();
let binary: OpsBinary;
let mock: MockProvider;

beforeAll(async () => {
  binary = await opsBinary(left);
  // A slow stream: 12 events 150 ms apart, long enough to reload the certificate in the middle.
  mock = await startMockProvider({ chunks: 12, chunkDelayMs: 150 });
});

afterAll(async () => {
  await left.cleanupAll();
  await mock.stop();
});

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (check()) return;
    await Bun.sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.skipIf(!hasOpenssl)("TLS", () => {
  test("serves HTTPS; SIGHUP applies a renewed certificate to new connections while a stream in flight finishes", async () => {
    const certs = left.dir();
    const first = await selfSignedCert(certs, "keyward-first");
    const second = await selfSignedCert(certs, "keyward-second");
    // The paths the server reads; renewal replaces their contents, as certbot does.
    const certFile = join(certs, "server.crt");
    const keyFile = join(certs, "server.key");
    copyFileSync(first.certFile, certFile);
    copyFileSync(first.keyFile, keyFile);

    const { server, token } = await startServe(left, binary, join(left.dir(), "data"), { args: ["--tls-cert", certFile, "--tls-key", keyFile] });
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const port = Number(new URL(server.url).port);
    const trustFirst = { tls: { ca: first.cert } };
    const health = await fetch(`${server.url}/healthz`, trustFirst);
    expect(health.status).toBe(200);
    expect(await servedCertificateCn(port)).toBe("keyward-first");
    // Plain HTTP on the TLS port gets nothing useful.
    const plain = await fetch(server.url.replace("https:", "http:") + "/healthz")
      .then((r) => r.status)
      .catch(() => "refused");
    expect(plain).not.toBe(200);

    // The admin API over TLS: a provider key on the mock and a proxy key.
    const post = async (path: string, body: unknown) => {
      const response = await fetch(`${server.url}${path}`, {
        ...trustFirst,
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(201);
      return (await response.json()) as { id: string; key: string };
    };
    const providerKey = await post("/api/provider-keys", { name: "tls", provider: "openai", key: "sk-tls-0123456789", base_url: mock.baseUrl });
    const proxyKey = (await post("/api/proxy-keys", { name: "tls", provider_key_id: providerKey.id })).key;

    const stream = await fetch(`${server.url}/v1/chat/completions`, {
      ...trustFirst,
      method: "POST",
      headers: { authorization: `Bearer ${proxyKey}`, "content-type": "application/json" },
      body: chatBody({ stream: true }),
    });
    expect(stream.status).toBe(200);
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    let received = new TextDecoder().decode((await reader.read()).value);

    copyFileSync(second.certFile, certFile);
    copyFileSync(second.keyFile, keyFile);
    server.proc.kill("SIGHUP");
    await waitFor(() => server.stderr().includes("TLS certificate reloaded"), "the reload");
    expect(await servedCertificateCn(port)).toBe("keyward-second");
    const fresh = await fetch(`${server.url}/healthz`, { tls: { ca: second.cert } });
    expect(fresh.status).toBe(200);
    // The stream was still going when the new certificate took over.
    expect(mock.requests.at(-1)?.completedAt).toBeUndefined();

    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += new TextDecoder().decode(value);
    }
    expect(received).toContain("data: [DONE]");
    expect(received.split("\n\n").filter((e) => e.includes('"content"')).length).toBeGreaterThanOrEqual(12);

    // A broken renewal is refused and the server keeps the certificate it has.
    writeFileSync(certFile, "not a certificate");
    server.proc.kill("SIGHUP");
    await waitFor(() => server.stderr().includes("TLS reload failed"), "the failed reload");
    expect(await servedCertificateCn(port)).toBe("keyward-second");
    expect((await fetch(`${server.url}/healthz`, { tls: { ca: second.cert } })).status).toBe(200);

    expect(await server.stop("SIGTERM")).toBe(0);
  });

  test("--tls-cert without --tls-key is a usage error; unreadable files stop the start", async () => {
    const half = await runKeyward([binary.bin, "serve", "--port", "0", "--data-dir", join(left.dir(), "d"), "--tls-cert", "/nope.crt"], { cwd: binary.dir });
    expect(half.code).toBe(2);
    expect(half.stderr.trim()).toBe("keyward: Invalid --tls-cert: --tls-key (KEYWARD_TLS_KEY) is required too");
    const missing = await runKeyward(
      [binary.bin, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", join(left.dir(), "d"), "--tls-cert", "/nope.crt", "--tls-key", "/nope.key"],
      { cwd: binary.dir },
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("Cannot read TLS certificate /nope.crt");
  });
});

describe("--trust-proxy", () => {
  test("the client address is the last X-Forwarded-For entry with it, the socket's without", async () => {
    for (const trust of [true, false]) {
      const { server } = await startServe(left, binary, join(left.dir(), "data"), { args: trust ? ["--trust-proxy"] : [] });
      const health = await fetch(`${server.url}/healthz`, { headers: { "x-forwarded-for": "6.6.6.6, 203.0.113.9", "x-request-id": "xff" } });
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: "ok" });
      expect(await server.stop("SIGTERM")).toBe(0);
      const line = jsonLines(server.stderr()).find((l) => l.request_id === "xff");
      expect(line?.client).toBe(trust ? "203.0.113.9" : "127.0.0.1");
    }
  });
});
