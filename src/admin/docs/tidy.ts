/**
 * Makes the plugin's OpenAPI document valid OpenAPI 3.0, which strict
 * validators and client generators insist on. The plugin copies a response
 * model's `title` into the Response Object (not a field there) and leaves
 * `description` (required there) empty; and TypeBox writes JSON Schema 2020
 * idioms that 3.0's schema dialect lacks: `examples` arrays, `const`,
 * `{type: "null"}` in unions, `patternProperties`.
 */
type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function defaultDescription(status: string): string {
  if (status.startsWith("2")) return "Success";
  if (status === "default") return "Response";
  return "Error";
}

/** Rewrites one schema (and, recursively, everything under it) into the 3.0 dialect. */
function toOpenApi30(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toOpenApi30);
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) out[key] = toOpenApi30(value);
  if (Array.isArray(out.examples)) {
    if (out.example === undefined && out.examples.length > 0) out.example = out.examples[0];
    delete out.examples;
  }
  if ("const" in out) {
    out.enum = [out.const];
    delete out.const;
  }
  if (isObject(out.patternProperties)) {
    const [first] = Object.values(out.patternProperties);
    out.additionalProperties = first ?? true;
    delete out.patternProperties;
  }
  for (const union of ["anyOf", "oneOf"] as const) {
    const members = out[union];
    if (!Array.isArray(members)) continue;
    const rest = members.filter((m) => !(isObject(m) && m.type === "null"));
    if (rest.length === members.length) continue;
    out.nullable = true;
    if (rest.length === 1 && isObject(rest[0])) {
      delete out[union];
      Object.assign(out, rest[0], { nullable: true });
    } else {
      out[union] = rest;
    }
  }
  if (out.type === "null") {
    delete out.type;
    out.nullable = true;
    out.enum = [null];
  }
  return out;
}

export function tidySpec(spec: Json): Json {
  tidyResponses(spec);
  const paths = spec.paths;
  if (isObject(paths)) spec.paths = toOpenApi30(paths);
  if (isObject(spec.components)) spec.components = toOpenApi30(spec.components);
  return spec;
}

/** Response Objects: `description` is required, `title` is not a field. */
function tidyResponses(spec: Json): void {
  const paths = spec.paths;
  if (!isObject(paths)) return;
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
}
