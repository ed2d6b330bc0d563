import { openaiStyleEndpoints } from "./endpoints.ts";
import type { ProviderAdapter } from "./types.ts";

export const openai: ProviderAdapter = {
  id: "openai",
  defaultBaseUrl: "https://api.openai.com/v1",
  auth: "bearer",
  passHeaders: ["openai-organization", "openai-project", "openai-beta"],
  openaiStyleStreams: true,
  endpoints: openaiStyleEndpoints({ chatCap: "max_completion_tokens" }),
};
