/**
 * Typed service errors with a closed list of codes. Services return
 * `Result`s so callers see every failure a call can have; HTTP layers map codes
 * to statuses in one exhaustive switch (`src/admin/errors.ts`).
 */

/** The admin API's error codes; the OpenAPI document's enum is built from this list. */
export const ERROR_CODES = [
  "invalid_request",
  "validation_failed",
  "unauthorized",
  "forbidden",
  "not_found",
  "conflict",
  "payload_too_large",
  "internal_error",
  "bad_gateway",
  "service_unavailable",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface AppError {
  code: ErrorCode;
  message: string;
  /** The request field at fault, for validation errors. */
  field?: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: AppError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(code: ErrorCode, message: string, field?: string): Result<T> {
  return { ok: false, error: field === undefined ? { code, message } : { code, message, field } };
}
