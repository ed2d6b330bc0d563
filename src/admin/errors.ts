import { t } from "elysia";
import { ERROR_CODES, type AppError, type ErrorCode, type Result } from "../errors.ts";

/** One exhaustive mapping, so a new code cannot ship without a status. */
export function statusOf(code: ErrorCode): number {
  switch (code) {
    case "invalid_request":
      return 400;
    case "unauthorized":
      return 401;
    case "forbidden":
      return 403;
    case "not_found":
      return 404;
    case "conflict":
      return 409;
    case "payload_too_large":
      return 413;
    case "validation_failed":
      return 422;
    case "internal_error":
      return 500;
    case "bad_gateway":
      return 502;
    case "service_unavailable":
      return 503;
  }
}

/** Thrown by admin routes and mapped to `{"error":{code,message,field?}}` in one place. */
export class ApiError extends Error {
  readonly status: number;
  constructor(readonly error: AppError) {
    super(error.message);
    this.name = "ApiError";
    this.status = statusOf(error.code);
  }

  toResponse(): Response {
    return Response.json({ error: this.error }, { status: this.status });
  }
}

/** Returns the value of a service result or throws its error for the error hook. */
export function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw new ApiError(result.error);
  return result.value;
}

export const ErrorBody = t.Object(
  {
    error: t.Object({
      code: t.UnionEnum(ERROR_CODES, {
        description: "One of a closed list",
        examples: ["validation_failed"],
        // UnionEnum defaults to its first member, which the docs would show as if errors usually had that code.
        default: undefined,
      }),
      message: t.String({ examples: ['Cannot create provider key: name "prod" is taken'] }),
      field: t.Optional(t.String({ description: "The request field at fault", examples: ["name"] })),
    }),
  },
  { title: "Error" },
);

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: "Malformed request (e.g. invalid JSON)",
  401: "Missing, invalid, expired or revoked admin token",
  403: "The token lacks the required scope",
  404: "No such resource",
  409: "Conflicts with the current state (duplicate name, keys still in use)",
  422: "Validation failed; `field` names the culprit",
  502: "A server keyward depends on (e.g. an OIDC issuer) cannot be reached",
};

/** OpenAPI error responses declared once and reused by every route. */
export function errorResponses<const S extends readonly (400 | 401 | 403 | 404 | 409 | 422 | 502)[]>(...statuses: S) {
  return Object.fromEntries(statuses.map((s) => [s, t.Object(ErrorBody.properties, { description: ERROR_DESCRIPTIONS[s], title: "Error" })])) as {
    [K in S[number]]: typeof ErrorBody;
  };
}
