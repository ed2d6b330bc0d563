import { openaiStyleEndpoints } from "./endpoints.ts";
import type { ProviderAdapter } from "./types.ts";

/** Google's OpenAI-compatible endpoint, so OpenAI SDKs work unchanged. */
export const gemini: ProviderAdapter = {
  id: "gemini",
  defaultBaseUrl: "https://generativelanguage.googleapis.com/v1beta/openai",
  auth: "bearer",
  passHeaders: [],
  openaiStyleStreams: true,
  endpoints: openaiStyleEndpoints({ chatCap: "max_tokens" }),
};
