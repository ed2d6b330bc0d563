import { ANTHROPIC_ENDPOINTS } from "./anthropic-endpoints.ts";
import type { ProviderAdapter } from "./types.ts";

export const anthropic: ProviderAdapter = {
  id: "anthropic",
  defaultBaseUrl: "https://api.anthropic.com/v1",
  auth: "x-api-key",
  passHeaders: ["anthropic-version", "anthropic-beta"],
  openaiStyleStreams: false,
  endpoints: ANTHROPIC_ENDPOINTS,
  paths: /^\/(messages(\/[^?]*)?|models(\/[^?]*)?|files(\/[^?]*)?|complete)$/,
};
