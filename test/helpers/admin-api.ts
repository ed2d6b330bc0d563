/**
 * A tiny typed client for keyward's admin API over real HTTP, for tests that
 * run keyward as a separate process (compiled binary or Deno).
 */

export interface ProviderKey {
  id: string;
  name: string;
  provider: string;
  base_url: string;
  key_hint: string;
  disabled: boolean;
  created_at: string;
  updated_at: string;
}

export interface ProxyKey {
  id: string;
  name: string;
  provider_key_id: string;
  key_hint: string;
  status: string;
  expires_at: string | null;
  revoked_at: string | null;
  metadata: Record<string, unknown> | null;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

export interface CreatedProxyKey extends ProxyKey {
  key: string;
}

export interface AuditEntry {
  id: number;
  at: string;
  actor_id: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  details: Record<string, unknown> | null;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface ApiErrorBody {
  error: { code: string; message: string; field?: string };
}

export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body; typed by the caller, checked by the test's assertions. */
  body: T;
}

export const PROXY_KEY_RE = /^kwp_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}$/;
export const ADMIN_TOKEN_RE = /^kwa_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}$/;

export function adminApi(baseUrl: string, token: string | undefined) {
  async function call<T>(method: string, path: string, body?: unknown, opts: { token?: string | null } = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = {};
    const bearer = opts.token === undefined ? token : opts.token;
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, text, body: parsed as T };
  }

  return {
    call,
    createProviderKey: (input: { name: string; provider: string; key: string; base_url?: string }) => call<ProviderKey>("POST", "/api/provider-keys", input),
    listProviderKeys: () => call<Page<ProviderKey>>("GET", "/api/provider-keys"),
    mintProxyKey: (input: { name: string; provider_key_id: string; ttl_seconds?: number; metadata?: Record<string, string> }) =>
      call<CreatedProxyKey>("POST", "/api/proxy-keys", input),
    listProxyKeys: () => call<Page<ProxyKey>>("GET", "/api/proxy-keys"),
    getProxyKey: (id: string) => call<ProxyKey>("GET", `/api/proxy-keys/${id}`),
    /** `body` is sent as JSON when given; a real client (curl, Swagger UI) sends none. */
    revokeProxyKey: (id: string, body?: unknown) => call<ProxyKey>("POST", `/api/proxy-keys/${id}/revoke`, body),
    audit: () => call<Page<AuditEntry>>("GET", "/api/audit?limit=200"),
  };
}

export type AdminApi = ReturnType<typeof adminApi>;

/** Base64 of 32 random bytes: a valid KEYWARD_MASTER_KEY. */
export function randomMasterKey(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
}
