import { GEMINI_NATIVE_ENDPOINTS, openaiStyleEndpoints } from "./endpoints.ts";
import type { ProviderAdapter } from "./types.ts";

/** Google's OpenAI-compatible endpoint, so OpenAI SDKs work unchanged. */
export const gemini: ProviderAdapter = {
  id: "gemini",
  defaultBaseUrl: "https://generativelanguage.googleapis.com/v1beta/openai",
  auth: "bearer",
  passHeaders: [],
  openaiStyleStreams: true,
  // Google's own API as @google/genai calls it (`/v1beta/models/{model}:generateContent`), beside the compatible one.
  endpoints: [...openaiStyleEndpoints({ chatCap: "max_tokens" }), ...GEMINI_NATIVE_ENDPOINTS],
};
