import type { AppError } from "../errors.ts";

/** Deepest nesting an admin request body may have; the deepest schema (metadata, scopes) needs 2. */
export const MAX_BODY_DEPTH = 16;

/**
 * Refuses JSON nested deeper than `MAX_BODY_DEPTH` before schema validation
 * sees it: Elysia's validation error stringifies the offending value, which
 * overflows the stack on a few thousand nested arrays and would answer 500.
 * Iterative, so the check itself cannot overflow.
 */
export function bodyDepthError(body: unknown): AppError | undefined {
  const rootIsObject = body !== null && typeof body === "object" && !Array.isArray(body);
  const stack: Array<{ value: unknown; depth: number; field?: string }> = [{ value: body, depth: 0 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, depth, field } = item;
    if (value === null || typeof value !== "object") continue;
    if (depth > MAX_BODY_DEPTH) {
      const detail = `nested more than ${MAX_BODY_DEPTH} levels deep`;
      return field === undefined
        ? { code: "validation_failed", message: `Invalid request body: ${detail}` }
        : { code: "validation_failed", message: `Invalid field ${field}: ${detail}`, field };
    }
    for (const [key, child] of Object.entries(value)) {
      stack.push({ value: child, depth: depth + 1, field: field ?? (rootIsObject ? key : undefined) });
    }
  }
  return undefined;
}
