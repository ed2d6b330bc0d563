import { fail, ok, type Result } from "../errors.ts";

/**
 * The rules every URL keyward sends requests to on an admin's word follows
 * (provider base URLs, webhook targets): absolute, `https` unless the server
 * allows plain HTTP (local model servers, tests), no credentials, no
 * fragment. `field` names the input in errors.
 */
function outboundUrl(raw: string, allowHttp: boolean, field: string): Result<URL> {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return fail("validation_failed", `Cannot use ${field}: it is not an absolute URL`, field);
  }
  if (url.protocol !== "https:" && !(allowHttp && url.protocol === "http:")) {
    return fail(
      "validation_failed",
      allowHttp
        ? `Cannot use ${field}: scheme must be http or https`
        : `Cannot use ${field}: scheme must be https (start the server with --allow-http-upstreams for plain http)`,
      field,
    );
  }
  if (url.username || url.password) {
    return fail("validation_failed", `Cannot use ${field}: credentials in the URL are not allowed`, field);
  }
  if (url.hash) return fail("validation_failed", `Cannot use ${field}: a fragment is not allowed`, field);
  return ok(url);
}

/**
 * Validates an upstream base URL set by an admin: the outbound rules, and no
 * query either, since the proxy appends the client's path and query.
 */
export function normalizeBaseUrl(raw: string, allowHttp: boolean): Result<string> {
  const url = outboundUrl(raw, allowHttp, "base_url");
  if (!url.ok) return url;
  if (url.value.search) {
    return fail("validation_failed", "Cannot use base_url: query and fragment are not allowed", "base_url");
  }
  return ok(`${url.value.origin}${url.value.pathname.replace(/\/+$/, "")}`);
}

/** Validates a webhook's target URL: the outbound rules; a query is kept (some receivers take their routing there). */
export function normalizeWebhookUrl(raw: string, allowHttp: boolean): Result<string> {
  const url = outboundUrl(raw, allowHttp, "url");
  return url.ok ? ok(url.value.href) : url;
}
