import type { ProviderKeyRow } from "../db/store.ts";
import type { ProviderAdapter } from "../providers/index.ts";

/** Puts the provider key where this provider expects it, and nowhere else. */
export function attachProviderCredential(headers: Record<string, string>, auth: ProviderAdapter["auth"] | "x-goog-api-key", secret: string): void {
  switch (auth) {
    case "bearer":
      headers.authorization = `Bearer ${secret}`;
      return;
    case "x-api-key":
      headers["x-api-key"] = secret;
      return;
    case "api-key":
      headers["api-key"] = secret;
      return;
    case "x-goog-api-key":
      headers["x-goog-api-key"] = secret;
      return;
  }
}

/**
 * The organisation and project an admin pinned on the provider key. A
 * client's own `openai-organization`/`openai-project` are never forwarded
 * (the adapter does not pass them), pinned or not: a key holder must not
 * reach another organisation or project the provider key belongs to.
 */
export function attachPinnedAccount(headers: Record<string, string>, row: ProviderKeyRow): void {
  if (row.openaiOrganization !== null) headers["openai-organization"] = row.openaiOrganization;
  if (row.openaiProject !== null) headers["openai-project"] = row.openaiProject;
}
