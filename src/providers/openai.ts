import { OPENAI_BATCH_PRICE_PERCENT } from "./endpoints.ts";
import { openaiStyleEndpoints } from "./openai-endpoints.ts";
import type { ProviderAdapter } from "./types.ts";

export const openai: ProviderAdapter = {
  id: "openai",
  defaultBaseUrl: "https://api.openai.com/v1",
  auth: "bearer",
  // Not openai-organization nor openai-project: the provider key pins them (src/proxy/credentials-out.ts).
  passHeaders: ["openai-beta"],
  openaiStyleStreams: true,
  endpoints: openaiStyleEndpoints({ chatCap: "max_completion_tokens", batchPricePercent: OPENAI_BATCH_PRICE_PERCENT }),
};
