/**
 * A real HTTP receiver for keyward's webhooks on 127.0.0.1 (port 0), and a
 * Standard Webhooks verifier written apart from keyward's own signing, with
 * node:crypto: a test that signs and verifies with the same code would pass
 * with a wrong scheme.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export interface ReceivedWebhook {
  id: string;
  timestamp: string;
  signature: string;
  contentType: string | null;
  body: string;
  /** When it arrived (wall clock, ms). */
  at: number;
}

/** How the receiver answers one delivery: a status, a redirect, or never. */
export type Answer = number | "hang" | { redirect: string };

export interface WebhookReceiver {
  url: string;
  /** Every delivery, in arrival order (hung ones included). */
  received: ReceivedWebhook[];
  /** Answers for the next deliveries, one each; then `fallback`. */
  answers: Answer[];
  fallback: Answer;
  /** Resolves once `count` deliveries have arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedWebhook[]>;
  stop(): Promise<void>;
}

export function startWebhookReceiver(options: { fallback?: Answer; port?: number } = {}): WebhookReceiver {
  const received: ReceivedWebhook[] = [];
  const hung: Array<() => void> = [];
  const receiver: WebhookReceiver = {
    url: "",
    received,
    answers: [],
    fallback: options.fallback ?? 200,
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`receiver got ${received.length} deliveries, expected ${count}`);
        await Bun.sleep(10);
      }
      return received.slice(0, count);
    },
    async stop() {
      for (const release of hung) release();
      await server.stop(true);
    },
  };
  const server = Bun.serve({
    port: options.port ?? 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(request) {
      const body = await request.text();
      received.push({
        id: request.headers.get("webhook-id") ?? "",
        timestamp: request.headers.get("webhook-timestamp") ?? "",
        signature: request.headers.get("webhook-signature") ?? "",
        contentType: request.headers.get("content-type"),
        body,
        at: Date.now(),
      });
      const answer = receiver.answers.shift() ?? receiver.fallback;
      if (answer === "hang") return new Promise<Response>((resolve) => hung.push(() => resolve(new Response("late", { status: 200 }))));
      if (typeof answer === "object") return new Response(null, { status: 302, headers: { location: answer.redirect } });
      return new Response(answer < 300 ? "ok" : "no", { status: answer });
    },
  });
  receiver.url = `http://127.0.0.1:${server.port}`;
  return receiver;
}

/**
 * Verifies a delivery as the Standard Webhooks spec says a receiver should:
 * the key is the base64 after `whsec_`, the signed text `<id>.<timestamp>.<body>`,
 * and any of the space-separated `v1,<base64>` signatures may match.
 */
export function verifyStandardWebhook(secret: string, delivery: Pick<ReceivedWebhook, "id" | "timestamp" | "signature" | "body">): boolean {
  if (!secret.startsWith("whsec_")) return false;
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const expected = Buffer.from(createHmac("sha256", key).update(`${delivery.id}.${delivery.timestamp}.${delivery.body}`).digest("base64"));
  return delivery.signature.split(" ").some((part) => {
    const [version, value] = part.split(",", 2);
    if (version !== "v1" || value === undefined) return false;
    const given = Buffer.from(value);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
