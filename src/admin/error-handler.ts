import type { ValidationError } from "elysia";
import type { AppError } from "../errors.ts";
import { ApiError } from "./errors.ts";

interface ValueErrorLike {
  path?: string;
  message?: string;
  summary?: string;
  schema?: { enum?: unknown[]; anyOf?: Array<{ const?: unknown }> };
}

/** Readable "must be one of" for enums and unions of literals. */
function allowedValues(error: ValueErrorLike | undefined): string | undefined {
  const schema = error?.schema;
  const values = schema?.enum ?? schema?.anyOf?.map((s) => s.const);
  if (!values || values.length === 0 || values.some((v) => v === undefined)) return undefined;
  return `must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}`;
}

/** `/name` → `name`, `/scopes/0` → `scopes[0]`. */
function fieldOf(path: string | undefined): string | undefined {
  if (!path) return undefined;
  const parts = path.split("/").filter(Boolean);
  if (parts.length === 0) return undefined;
  return parts.reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), "");
}

/** Turns Elysia's schema validation failure into our error shape, naming the field. */
export function validationError(error: ValidationError): AppError {
  const all = (error.all ?? []) as ValueErrorLike[];
  const first = all[0];
  const where = error.type === "query" ? "query parameter" : error.type === "params" ? "path parameter" : "field";
  const field = fieldOf(first?.path);
  let detail = allowedValues(first) ?? first?.summary ?? first?.message ?? "is invalid";
  if (!field && error.type === "body" && all.length === 0) detail = "body is required";
  const message = field ? `Invalid ${where} ${field}: ${detail}` : `Invalid request ${error.type}: ${detail}`;
  return field ? { code: "validation_failed", message, field } : { code: "validation_failed", message };
}

export function adminErrorResponse(error: AppError): Response {
  return new ApiError(error).toResponse();
}
