import { fail, ok, type Result } from "../errors.ts";

/**
 * Validates an upstream base URL set by an admin. Only `https` unless the
 * server allows plain HTTP (local model servers, tests); no credentials,
 * query or fragment, since the proxy appends the client's path and query.
 */
export function normalizeBaseUrl(raw: string, allowHttp: boolean): Result<string> {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return fail("validation_failed", "Cannot use base_url: it is not an absolute URL", "base_url");
  }
  if (url.protocol !== "https:" && !(allowHttp && url.protocol === "http:")) {
    return fail(
      "validation_failed",
      allowHttp
        ? "Cannot use base_url: scheme must be http or https"
        : "Cannot use base_url: scheme must be https (start the server with --allow-http-upstreams for plain http)",
      "base_url",
    );
  }
  if (url.username || url.password) {
    return fail("validation_failed", "Cannot use base_url: credentials in the URL are not allowed", "base_url");
  }
  if (url.search || url.hash) {
    return fail("validation_failed", "Cannot use base_url: query and fragment are not allowed", "base_url");
  }
  return ok(`${url.origin}${url.pathname.replace(/\/+$/, "")}`);
}
