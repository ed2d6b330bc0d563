import { AZURE_DEPLOYMENT_ENDPOINTS, OPENAI_BATCH_PRICE_PERCENT, openaiStyleEndpoints } from "./endpoints.ts";
import type { ProviderAdapter } from "./types.ts";

/** Base URL is per resource, e.g. `https://RESOURCE.openai.azure.com/openai/v1`. */
export const azureOpenai: ProviderAdapter = {
  id: "azure-openai",
  auth: "api-key",
  passHeaders: [],
  openaiStyleStreams: true,
  endpoints: [...openaiStyleEndpoints({ chatCap: "max_tokens", batchPricePercent: OPENAI_BATCH_PRICE_PERCENT }), ...AZURE_DEPLOYMENT_ENDPOINTS],
};
