import type { Endpoint } from "./endpoints.ts";

export interface ProviderAdapter {
  id: string;
  /** Includes the version segment; `undefined` means admins must supply one. */
  defaultBaseUrl?: string;
  /** How the provider key is attached to upstream requests. */
  auth: "bearer" | "x-api-key" | "api-key";
  /** Extra client headers this provider understands and we pass on. */
  passHeaders: readonly string[];
  /** Whether chat streams are OpenAI-style (usage via `stream_options.include_usage`). */
  openaiStyleStreams: boolean;
  /** What each known endpoint costs and where its model and output bounds are. */
  endpoints: readonly Endpoint[];
  /**
   * Azure: a request with a dated `api-version` (`2024-10-21`, `2025-04-01-preview`)
   * belongs to the dated API, which lives at the base URL without its `/v1`.
   */
  datedApiVersion?: true;
  /** Paths (after `/v1`) this provider serves; others get 404 without a round trip. Absent: all. */
  paths?: RegExp;
}
