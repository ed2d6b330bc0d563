/**
 * Provider adapters: small records, one file each. Adding a provider means
 * adding a file and listing it here.
 */
import { anthropic } from "./anthropic.ts";
import { azureOpenai } from "./azure-openai.ts";
import { gemini } from "./gemini.ts";
import { openai } from "./openai.ts";
import { openaiCompatible } from "./openai-compatible.ts";
import type { ProviderAdapter } from "./types.ts";

export type { ProviderAdapter } from "./types.ts";

export const PROVIDERS = {
  openai,
  anthropic,
  gemini,
  "azure-openai": azureOpenai,
  "openai-compatible": openaiCompatible,
} as const satisfies Record<string, ProviderAdapter>;

export type ProviderId = keyof typeof PROVIDERS;

export const PROVIDER_IDS = Object.keys(PROVIDERS) as ProviderId[];

export function isProviderId(value: string): value is ProviderId {
  return Object.hasOwn(PROVIDERS, value);
}
