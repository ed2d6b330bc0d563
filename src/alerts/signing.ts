/**
 * Standard Webhooks signing (https://www.standardwebhooks.com/): the secret
 * is `whsec_` and the base64 of its key bytes; each attempt carries
 * `webhook-id` (the event id), `webhook-timestamp` (Unix seconds, the
 * attempt's) and `webhook-signature: v1,<base64 HMAC-SHA256 of
 * "<id>.<timestamp>.<body>">`, so any Standard Webhooks library verifies it.
 * Web Crypto, as the sealing of secrets, so Bun and Deno run the same code.
 */
import { Buffer } from "node:buffer";

export const WEBHOOK_SECRET_PREFIX = "whsec_";
/** The spec asks for 24 to 64 bytes of key; keyward generates 32. */
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;
const GENERATED_SECRET_BYTES = 32;

export function generateWebhookSecret(): string {
  return `${WEBHOOK_SECRET_PREFIX}${Buffer.from(crypto.getRandomValues(new Uint8Array(GENERATED_SECRET_BYTES))).toString("base64")}`;
}

/**
 * The key bytes of a `whsec_<base64>` secret, or undefined when it is not one
 * (wrong prefix, not canonical base64, fewer than 24 or more than 64 bytes):
 * a secret receivers' libraries would decode differently must not be stored.
 */
export function webhookSecretKey(secret: string): Uint8Array | undefined {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) return undefined;
  const encoded = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  const bytes = Buffer.from(encoded, "base64");
  if (bytes.toString("base64") !== encoded) return undefined;
  if (bytes.byteLength < MIN_SECRET_BYTES || bytes.byteLength > MAX_SECRET_BYTES) return undefined;
  return new Uint8Array(bytes);
}

/** `whsec_…wxyz`: enough to tell two secrets apart, nothing to sign with. */
export function webhookSecretHint(secret: string): string {
  return `${WEBHOOK_SECRET_PREFIX}…${secret.slice(-4)}`;
}

export function signingKey(key: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", new Uint8Array(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

const encoder = new TextEncoder();

/** The `webhook-signature` header value for one attempt. */
export async function webhookSignature(key: CryptoKey, eventId: string, timestampSeconds: number, body: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`${eventId}.${timestampSeconds}.${body}`));
  return `v1,${Buffer.from(mac).toString("base64")}`;
}
