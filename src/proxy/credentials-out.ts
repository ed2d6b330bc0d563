import type { ProviderAdapter } from "../providers/index.ts";

/** Puts the provider key where this provider expects it, and nowhere else. */
export function attachProviderCredential(headers: Record<string, string>, adapter: ProviderAdapter, secret: string): void {
  switch (adapter.auth) {
    case "bearer":
      headers.authorization = `Bearer ${secret}`;
      return;
    case "x-api-key":
      headers["x-api-key"] = secret;
      return;
    case "api-key":
      headers["api-key"] = secret;
      return;
  }
}
