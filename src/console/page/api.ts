/** The console's one way to the admin API: the session's token as a bearer, the API's own error messages. */
const TOKEN_KEY = "keyward.console.token";

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  save: (token: string): void => sessionStorage.setItem(TOKEN_KEY, token),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiFailure extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export type Json = Record<string, unknown>;

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

async function failure(res: Response): Promise<ApiFailure> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { error?: { message?: string } };
    if (body.error?.message) return new ApiFailure(body.error.message, res.status);
  } catch {
    // Not the API's error shape: say what the server answered.
  }
  return new ApiFailure(`HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}`, res.status);
}

export async function send(method: string, path: string, body?: unknown, init: { token?: string; accept?: string } = {}): Promise<Response> {
  const token = init.token ?? session.token() ?? "";
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: init.accept ?? "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit", cache: "no-store" });
  if (!res.ok) throw await failure(res);
  return res;
}

export async function api<T>(method: string, path: string, body?: unknown, init: { token?: string } = {}): Promise<T> {
  const res = await send(method, path, body, init);
  return (await res.json()) as T;
}

export const query = (params: Record<string, string | number | undefined | null>): string => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
};

export const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));
