import { AZURE_DEPLOYMENT_ENDPOINTS, openaiStyleEndpoints } from "./endpoints.ts";
import type { ProviderAdapter } from "./types.ts";

/** Base URL is per resource, e.g. `https://RESOURCE.openai.azure.com/openai/v1`. */
export const azureOpenai: ProviderAdapter = {
  id: "azure-openai",
  auth: "api-key",
  passHeaders: [],
  openaiStyleStreams: true,
  endpoints: [...openaiStyleEndpoints({ chatCap: "max_tokens" }), ...AZURE_DEPLOYMENT_ENDPOINTS],
};
