/**
 * Permissive mode (`MockBehaviour.permissive`): what a lenient
 * OpenAI-compatible server reads from a body, and the usage that follows
 * from it. Part of test/helpers/mock-provider.ts.
 */
import { isObject, lenientBool, lenientInt, type JsonObject, type JsonValue } from "./mock-json.ts";
import { encoder, type CapFamily, type MockBehaviour, type MockUsage, type PermissiveReading } from "./mock-types.ts";

/** Image parts anywhere in the body: OpenAI/Anthropic by their `type`, Gemini by an `inlineData`/`fileData` part with an image MIME type. */
function countImageParts(value: JsonValue): number {
  let count = 0;
  const stack: JsonValue[] = [value];
  const isImage = (data: JsonValue | undefined): boolean => isObject(data) && typeof data.mimeType === "string" && data.mimeType.startsWith("image/");
  while (stack.length > 0) {
    const v = stack.pop() as JsonValue;
    if (Array.isArray(v)) stack.push(...v);
    else if (isObject(v)) {
      if (v.type === "image_url" || v.type === "input_image" || v.type === "image") count++;
      else if (isImage(v.inlineData) || isImage(v.fileData)) count++;
      stack.push(...Object.values(v));
    }
  }
  return count;
}

/** The cap fields of an endpoint, in the order they win (Gemini's sits in `generationConfig`). */
function capOrder(family: CapFamily | undefined, b: MockBehaviour): string[] {
  switch (family) {
    case "chat":
      return b.chatCapOrder;
    case "responses":
      return ["max_output_tokens"];
    case "messages":
    case "completions":
      return ["max_tokens"];
    case "gemini":
      return ["maxOutputTokens"];
    case undefined:
      return [];
  }
}

/**
 * What a lenient server reads from a body. `pathModel` and `pathStream` are what the path says
 * (Gemini names the model and the streaming method in the URL, not the body).
 */
export function readPermissive(
  family: CapFamily | undefined,
  json: JsonObject | undefined,
  b: MockBehaviour,
  pathModel?: string,
  pathStream?: boolean,
): PermissiveReading {
  const config = family === "gemini" && isObject(json?.generationConfig) ? json.generationConfig : undefined;
  const source = family === "gemini" ? config : json;
  const caps: Record<string, number> = {};
  for (const field of capOrder(family, b)) {
    const value = lenientInt(source?.[field]);
    if (value !== undefined && value > 0) caps[field] = value;
  }
  const cap = capOrder(family, b)
    .map((field) => caps[field])
    .find((value) => value !== undefined);
  const options = json?.stream_options;
  const n = family === "chat" || family === "completions" ? lenientInt(json?.n) : family === "gemini" ? lenientInt(config?.candidateCount) : undefined;
  return {
    model: pathModel ?? (typeof json?.model === "string" ? json.model : undefined),
    stream: pathStream ?? lenientBool(json?.stream) ?? false,
    includeUsage: isObject(options) ? (lenientBool(options.include_usage) ?? false) : false,
    caps,
    cap,
    n: n !== undefined && n > 0 ? n : 1,
    images: json ? countImageParts(json) : 0,
  };
}

/** Usage in permissive mode: input from the body's size and images, output from the caps. */
export function permissiveUsage(reading: PermissiveReading, body: string, b: MockBehaviour): MockUsage {
  const input = Math.ceil(encoder.encode(body).byteLength / 4) + reading.images * b.imageTokens;
  let perChoice: number;
  if (reading.cap === undefined) perChoice = b.uncappedOutputTokens;
  else if (b.overrunFactor !== undefined) perChoice = Math.ceil(reading.cap * b.overrunFactor);
  else perChoice = Math.min(reading.cap, b.naturalOutputTokens);
  return {
    input,
    output: perChoice * reading.n,
    cached: Math.min(b.usage.cached, input),
    cacheCreation: Math.min(b.usage.cacheCreation, input - Math.min(b.usage.cached, input)),
    reasoning: b.usage.reasoning,
  };
}
