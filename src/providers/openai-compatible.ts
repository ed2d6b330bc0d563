import { openaiStyleEndpoints } from "./openai-endpoints.ts";
import type { ProviderAdapter } from "./types.ts";

/** Any host speaking the OpenAI API: vLLM, Ollama, OpenRouter, Groq… */
export const openaiCompatible: ProviderAdapter = {
  id: "openai-compatible",
  auth: "bearer",
  passHeaders: [],
  openaiStyleStreams: true,
  endpoints: openaiStyleEndpoints({ chatCap: "max_tokens" }),
};
