/**
 * Makes the plugin's OpenAPI document valid OpenAPI 3.0: the plugin copies a
 * response model's `title` into the Response Object (not a field there) and
 * leaves `description` (required there) empty unless the model has one.
 * Strict validators and client generators reject both.
 */
type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function defaultDescription(status: string): string {
  if (status.startsWith("2")) return "Success";
  if (status === "default") return "Response";
  return "Error";
}

export function tidySpec(spec: Json): Json {
  const paths = spec.paths;
  if (!isObject(paths)) return spec;
  for (const operations of Object.values(paths)) {
    if (!isObject(operations)) continue;
    for (const operation of Object.values(operations)) {
      if (!isObject(operation) || !isObject(operation.responses)) continue;
      for (const [status, response] of Object.entries(operation.responses)) {
        if (!isObject(response)) continue;
        const title = typeof response.title === "string" ? response.title : undefined;
        delete response.title;
        if (typeof response.description !== "string" || response.description === "") {
          response.description = title ?? defaultDescription(status);
        }
      }
    }
  }
  return spec;
}
