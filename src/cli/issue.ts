import { ConfigError, loadIssueConfig, parseFlags, type Env, type IdTokenSource, type IssueConfig } from "../config.ts";

/** Exit codes of `keyward issue`, for CI scripts that branch on them. */
export const ISSUE_EXIT = { ok: 0, other: 1, usage: 2, auth: 3, policy: 4, unreachable: 5 } as const;

const TIMEOUT_MS = 30_000;

const FLAGS = {
  url: { type: "string" },
  token: { type: "string" },
  "provider-key": { type: "string" },
  ttl: { type: "string" },
  budget: { type: "string" },
  models: { type: "string" },
  name: { type: "string" },
  format: { type: "string" },
  oidc: { type: "boolean" },
  audience: { type: "string" },
  "id-token-env": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export const ISSUE_USAGE = `Usage:
  keyward issue --url URL --token TOKEN --provider-key NAME_OR_ID [--ttl 1h] [--budget 2]
                [--models a,b] [--name N] [--format key|json|env]
  keyward issue --oidc --url URL --audience AUD [--format key|json|env]          (GitHub Actions)
  keyward issue --oidc --url URL --id-token-env NAME [--format key|json|env]     (token in $NAME, e.g. GitLab)

Mints a short-lived proxy key on a remote keyward and prints it: the key alone (key),
the whole response (json), or SDK variables for \`>> $GITHUB_ENV\` (env).
--ttl takes 90s, 15m, 1h, 2d or seconds. Exit codes: 0 ok, 2 usage, 3 authentication
failed (401), 4 refused by policy (403), 5 server unreachable, 1 anything else.
`;

/** A one-line failure with its exit code. */
class IssueFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

interface Minted {
  key: string;
  provider: string;
}

async function request(url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    const why = err instanceof Error && err.name === "TimeoutError" ? `no answer in ${TIMEOUT_MS / 1000} s` : err instanceof Error ? err.message : String(err);
    throw new IssueFailure(`Cannot reach ${what} at ${new URL(url).origin}: ${why}`, ISSUE_EXIT.unreachable);
  }
}

/** The `error.message` of keyward's error shape, or the status line. */
async function failureOf(response: Response): Promise<IssueFailure> {
  const text = await response.text();
  let message = `keyward answered ${response.status}`;
  try {
    const body: unknown = JSON.parse(text);
    const error = typeof body === "object" && body !== null && "error" in body ? body.error : undefined;
    if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") message = error.message;
  } catch {
    // Not JSON (a proxy in between, say): keep the status.
  }
  const code = response.status === 401 ? ISSUE_EXIT.auth : response.status === 403 ? ISSUE_EXIT.policy : ISSUE_EXIT.other;
  return new IssueFailure(message.replace(/\s+/g, " "), code);
}

/** The token from its variable, or GitHub Actions' for the audience (`GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=…`). */
async function idToken(source: IdTokenSource): Promise<string> {
  if (source.from === "env") return source.value;
  const sep = source.requestUrl.includes("?") ? "&" : "?";
  const response = await request(
    `${source.requestUrl}${sep}audience=${encodeURIComponent(source.audience)}`,
    { headers: { authorization: `bearer ${source.requestToken}`, accept: "application/json" } },
    "GitHub's OIDC token endpoint",
  );
  const body: unknown = await response.json().catch(() => undefined);
  const value = typeof body === "object" && body !== null && "value" in body ? body.value : undefined;
  if (response.status !== 200 || typeof value !== "string") {
    throw new IssueFailure(`Cannot get an OIDC token from GitHub: its endpoint answered ${response.status}`, ISSUE_EXIT.other);
  }
  return value;
}

async function mint(config: IssueConfig): Promise<Minted & Record<string, unknown>> {
  const { mode } = config;
  let response: Response;
  if (mode.kind === "oidc") {
    const token = await idToken(mode.idToken);
    response = await request(`${config.url}/api/oidc/exchange`, { method: "POST", headers: { authorization: `Bearer ${token}` } }, "keyward");
  } else {
    const body: Record<string, unknown> = { provider_key: mode.providerKey };
    if (mode.ttlSeconds !== undefined) body.ttl_seconds = mode.ttlSeconds;
    if (mode.budgetUsd !== undefined) body.budget_usd = mode.budgetUsd;
    if (mode.models !== undefined) body.allowed_models = mode.models;
    if (mode.name !== undefined) body.name = mode.name;
    response = await request(
      `${config.url}/api/proxy-keys`,
      { method: "POST", headers: { authorization: `Bearer ${mode.token}`, "content-type": "application/json" }, body: JSON.stringify(body) },
      "keyward",
    );
  }
  if (response.status !== 201) throw await failureOf(response);
  const created: unknown = await response.json().catch(() => undefined);
  if (typeof created !== "object" || created === null || !("key" in created) || typeof created.key !== "string") {
    throw new IssueFailure("keyward answered 201 without a key", ISSUE_EXIT.other);
  }
  const provider = "provider" in created && typeof created.provider === "string" ? created.provider : "openai";
  return { ...(created as Record<string, unknown>), key: created.key, provider };
}

/** SDK variables: Anthropic's SDK wants the server root, OpenAI-style SDKs (every other provider) `/v1`. */
export function envLines(url: string, minted: Minted): string {
  if (minted.provider === "anthropic") return `ANTHROPIC_API_KEY=${minted.key}\nANTHROPIC_BASE_URL=${url}\n`;
  return `OPENAI_API_KEY=${minted.key}\nOPENAI_BASE_URL=${url}/v1\n`;
}

/** `keyward issue`: mints a short-lived proxy key on a remote keyward (see ISSUE_USAGE). */
export async function issueCommand(args: string[], env: Env): Promise<number> {
  const flags = parseFlags(args, FLAGS);
  if (flags.values.help) {
    process.stdout.write(ISSUE_USAGE);
    return ISSUE_EXIT.ok;
  }
  if (flags.positionals.length > 0) throw new ConfigError(`Unexpected argument "${flags.positionals[0]}" (see keyward issue --help)`);
  const config = loadIssueConfig(flags.values, env);
  try {
    const minted = await mint(config);
    // GitHub reads workflow commands from stderr too, so stdout stays clean for `>> $GITHUB_ENV`.
    if (config.githubActions) process.stderr.write(`::add-mask::${minted.key}\n`);
    if (config.format === "key") process.stdout.write(`${minted.key}\n`);
    else if (config.format === "json") process.stdout.write(`${JSON.stringify(minted, null, 2)}\n`);
    else process.stdout.write(envLines(config.url, minted));
    return ISSUE_EXIT.ok;
  } catch (err) {
    if (!(err instanceof IssueFailure)) throw err;
    process.stderr.write(`keyward: ${err.message}\n`);
    return err.exitCode;
  }
}
