/**
 * Standard Webhooks signing, checked against the spec's published example
 * and against an independent HMAC (node:crypto), not against itself.
 */
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { generateWebhookSecret, signingKey, webhookSecretHint, webhookSecretKey, webhookSignature } from "../../src/alerts/signing.ts";
import { verifyStandardWebhook } from "../helpers/webhook-receiver.ts";

describe("webhook signatures", () => {
  test("the Standard Webhooks example signs to the published signature", async () => {
    // The example of the spec and its reference libraries: secret, id, timestamp, body and signature.
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const key = await signingKey(webhookSecretKey(secret) as Uint8Array);
    const signature = await webhookSignature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}');
    expect(signature).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  test("a generated secret signs what an independent HMAC-SHA256 verifies", async () => {
    for (let i = 0; i < 20; i++) {
      const secret = generateWebhookSecret();
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      const bytes = webhookSecretKey(secret) as Uint8Array;
      expect(bytes.byteLength).toBe(32);
      const body = JSON.stringify({ type: "key.revoked", timestamp: new Date().toISOString(), data: { n: i, text: "ünïcödé ✓" } });
      const signature = await webhookSignature(await signingKey(bytes), `msg_${i}`, 1_700_000_000 + i, body);
      const expected = createHmac("sha256", Buffer.from(secret.slice(6), "base64"))
        .update(`msg_${i}.${1_700_000_000 + i}.${body}`)
        .digest("base64");
      expect(signature).toBe(`v1,${expected}`);
      expect(verifyStandardWebhook(secret, { id: `msg_${i}`, timestamp: String(1_700_000_000 + i), signature, body })).toBe(true);
      // Any change to what is signed fails.
      expect(verifyStandardWebhook(secret, { id: `msg_${i}`, timestamp: String(1_700_000_001 + i), signature, body })).toBe(false);
      expect(verifyStandardWebhook(secret, { id: `msg_${i}x`, timestamp: String(1_700_000_000 + i), signature, body })).toBe(false);
      expect(verifyStandardWebhook(secret, { id: `msg_${i}`, timestamp: String(1_700_000_000 + i), signature, body: `${body} ` })).toBe(false);
      expect(verifyStandardWebhook(generateWebhookSecret(), { id: `msg_${i}`, timestamp: String(1_700_000_000 + i), signature, body })).toBe(false);
    }
  });

  test("only whsec_ secrets of 24 to 64 bytes in canonical base64 are accepted", () => {
    const b64 = (n: number) => Buffer.alloc(n, 7).toString("base64");
    expect(webhookSecretKey(`whsec_${b64(24)}`)?.byteLength).toBe(24);
    expect(webhookSecretKey(`whsec_${b64(64)}`)?.byteLength).toBe(64);
    for (const bad of [
      b64(32),
      `whsec_${b64(23)}`,
      `whsec_${b64(65)}`,
      `whsec_${b64(32).replace(/=+$/, "")}`,
      `whsec_${b64(32)} `,
      `whsec_${b64(32).replaceAll("+", "-")}x`,
      "whsec_",
      `WHSEC_${b64(32)}`,
    ]) {
      expect({ bad, key: webhookSecretKey(bad) }).toEqual({ bad, key: undefined });
    }
  });

  test("the hint shows the prefix and last four characters only", () => {
    expect(webhookSecretHint("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).toBe("whsec_…LaSw");
  });
});
