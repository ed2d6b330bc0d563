/**
 * Where clients put their key: `Authorization: Bearer` (OpenAI SDKs and
 * current Anthropic SDKs), `x-api-key` (older Anthropic clients), `api-key`
 * (Azure clients) or `x-goog-api-key` (Google's SDKs). Never the query string
 * (Google's `?key=`): URLs end up in logs and histories.
 */
export function readCredential(headers: Headers): string | undefined {
  const authorization = headers.get("authorization");
  if (authorization !== null) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match?.[1]) return match[1];
  }
  const apiKey = headers.get("x-api-key") ?? headers.get("api-key") ?? headers.get("x-goog-api-key");
  const trimmed = apiKey?.trim();
  return trimmed ? trimmed : undefined;
}
