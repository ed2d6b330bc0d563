import { ProxyError } from "./errors.ts";

/** A multipart form as keyward read it, encoded again: what goes upstream is exactly what was checked. */
export interface ReadForm {
  model: string | undefined;
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
}

const fold = (name: string) => name.toLowerCase().replace(/[_-]/g, "");

/**
 * Reads a multipart body for a key whose limits need its model. Parsers
 * differ on multipart just as on JSON (repeated fields, look-alike names,
 * odd encodings of a part's name), so the form is parsed once here and
 * encoded again from what was parsed, with a boundary of keyward's own: the
 * provider reads the fields keyward read. `model` is refused when repeated
 * or spelt like the field in another case; absent, it is undefined.
 */
export async function readLimitedForm(body: Uint8Array<ArrayBuffer>, contentType: string, modelField: string): Promise<ReadForm> {
  if (!contentType.toLowerCase().startsWith("multipart/form-data")) {
    throw new ProxyError("invalid_request", "Cannot read request: this endpoint takes multipart/form-data");
  }
  let form: FormData;
  try {
    form = await new Response(body, { headers: { "content-type": contentType } }).formData();
  } catch {
    throw new ProxyError("invalid_request", "Cannot read request: the body is not a valid multipart form");
  }
  for (const name of new Set(form.keys())) {
    if (name !== modelField && fold(name) === fold(modelField)) {
      throw new ProxyError(
        "invalid_request",
        `Cannot read request: form field ${JSON.stringify(name.slice(0, 64))} differs from "${modelField}" only in case or separators`,
        { param: name.slice(0, 64) },
      );
    }
  }
  const models = form.getAll(modelField);
  if (models.length > 1) throw new ProxyError("invalid_request", `Cannot read request: form field "${modelField}" appears twice`, { param: modelField });
  const model = models[0];
  if (model !== undefined && (typeof model !== "string" || model === "")) {
    throw new ProxyError("invalid_request", `Cannot read request: form field "${modelField}" must be a non-empty text field`, { param: modelField });
  }
  const encoded = new Response(form);
  // Read before the body: once the body is consumed, Bun reports no content type (and the boundary must be this one).
  const encodedType = encoded.headers.get("content-type");
  if (encodedType === null) throw new ProxyError("internal_error", "Cannot forward request: the form could not be encoded again");
  return { model, body: new Uint8Array(await encoded.arrayBuffer()), contentType: encodedType };
}
