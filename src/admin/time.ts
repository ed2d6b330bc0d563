/** ISO 8601 in UTC for a time in ms; the API's only time format. Apart from pagination.ts so the read worker loads no Elysia. */
export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
