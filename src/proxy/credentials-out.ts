import type { ProviderAdapter } from "./providers/index.ts";

/** Puts the provider key where this provider expects it, and nowhere else. */
export function attachProviderCredential(headers: Headers, adapter: ProviderAdapter, secret: string): void {
  switch (adapter.auth) {
    case "bearer":
      headers.set("authorization", `Bearer ${secret}`);
      return;
    case "x-api-key":
      headers.set("x-api-key", secret);
      return;
    case "api-key":
      headers.set("api-key", secret);
      return;
  }
}
