/** What the admin API answers, as far as the console reads it, and the pickers built from it. */
import type { VNode } from "preact";
import { api, query, type Page } from "./api.ts";
import { html } from "./html.ts";
import type { Limits } from "./limits.ts";

export interface ProviderKey {
  id: string;
  name: string;
  provider: string;
  base_url: string;
  key_hint: string;
  disabled: boolean;
  inject_stream_usage: boolean;
  deployments: Record<string, string> | null;
  openai_organization: string | null;
  openai_project: string | null;
}

export interface ProxyKey extends Limits {
  id: string;
  name: string;
  provider_key_id: string;
  key_hint: string;
  status: string;
  expires_at: string | null;
  spend_usd: number;
  team_id: string | null;
}

export interface Team extends Limits {
  id: string;
  name: string;
  spend_usd: number;
  disabled: boolean;
}

export const PROVIDERS = ["openai", "anthropic", "gemini", "azure-openai", "openai-compatible"];

/** Every page of a list (the API serves at most 200 rows a page). */
export async function loadAll<T>(path: string, params: Record<string, string> = {}): Promise<T[]> {
  const rows: T[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<T> = await api<Page<T>>("GET", `${path}${query({ ...params, limit: 200, cursor })}`);
    rows.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return rows;
}

export function providerOptions(keys: ProviderKey[] | undefined, current?: string): VNode[] {
  return (keys ?? []).map((k) => html`<option value=${k.id} selected=${k.id === current}>${k.name} (${k.provider})</option>`);
}

export function teamOptions(teams: Team[] | undefined, current?: string | null): VNode[] {
  return [
    html`<option value="" selected=${!current}>No team</option>`,
    ...(teams ?? []).map((t) => html`<option value=${t.id} selected=${t.id === current}>${t.name}</option>`),
  ];
}
