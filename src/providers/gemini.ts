import { GEMINI_NATIVE_ENDPOINTS } from "./gemini-endpoints.ts";
import { openaiStyleEndpoints } from "./openai-endpoints.ts";
import type { ProviderAdapter } from "./types.ts";

/** Google's OpenAI-compatible endpoint, so OpenAI SDKs work unchanged. */
export const gemini: ProviderAdapter = {
  id: "gemini",
  defaultBaseUrl: "https://generativelanguage.googleapis.com/v1beta/openai",
  auth: "bearer",
  // Google's resumable upload protocol: what to upload, and where each chunk goes in it.
  passHeaders: [
    "x-goog-upload-protocol",
    "x-goog-upload-command",
    "x-goog-upload-offset",
    "x-goog-upload-header-content-length",
    "x-goog-upload-header-content-type",
    "x-goog-upload-file-name",
  ],
  openaiStyleStreams: true,
  // Google's own API as @google/genai calls it (`/v1beta/models/{model}:generateContent`), beside the compatible one.
  endpoints: [...openaiStyleEndpoints({ chatCap: "max_tokens" }), ...GEMINI_NATIVE_ENDPOINTS],
};
