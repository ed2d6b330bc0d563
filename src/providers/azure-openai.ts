import { OPENAI_BATCH_PRICE_PERCENT } from "./endpoints.ts";
import { AZURE_DEPLOYMENT_ENDPOINTS, openaiStyleEndpoints } from "./openai-endpoints.ts";
import type { ProviderAdapter } from "./types.ts";

/**
 * Base URL is per resource, e.g. `https://RESOURCE.openai.azure.com/openai/v1`
 * (the v1 API); requests with a dated `api-version` go to the dated API beside it.
 */
export const azureOpenai: ProviderAdapter = {
  id: "azure-openai",
  auth: "api-key",
  passHeaders: [],
  openaiStyleStreams: true,
  datedApiVersion: true,
  endpoints: [...openaiStyleEndpoints({ chatCap: "max_tokens", batchPricePercent: OPENAI_BATCH_PRICE_PERCENT }), ...AZURE_DEPLOYMENT_ENDPOINTS],
};
