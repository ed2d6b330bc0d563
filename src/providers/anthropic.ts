import type { ProviderAdapter } from "./types.ts";

export const anthropic: ProviderAdapter = {
  id: "anthropic",
  defaultBaseUrl: "https://api.anthropic.com/v1",
  auth: "x-api-key",
  passHeaders: ["anthropic-version", "anthropic-beta"],
  openaiStyleStreams: false,
  paths: /^\/(messages(\/[^?]*)?|models(\/[^?]*)?|complete)$/,
};
