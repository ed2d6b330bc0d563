/** Budget periods; boundaries are UTC and weeks start on Monday (ISO 8601). */
export const BUDGET_PERIODS = ["total", "daily", "weekly", "monthly"] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

const DAY = 86_400_000;

/** Start of the period containing `now` (0 for `total`, which never resets). */
export function periodStart(period: BudgetPeriod, now: number): number {
  if (period === "total") return 0;
  const d = new Date(now);
  const midnight = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  switch (period) {
    case "daily":
      return midnight;
    case "weekly":
      // getUTCDay: Sunday 0 … Saturday 6; Monday-based offset.
      return midnight - ((d.getUTCDay() + 6) % 7) * DAY;
    case "monthly":
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  }
}

/** When the period starting at `start` ends; `undefined` for `total`. */
export function periodEnd(period: BudgetPeriod, start: number): number | undefined {
  switch (period) {
    case "total":
      return undefined;
    case "daily":
      return start + DAY;
    case "weekly":
      return start + 7 * DAY;
    case "monthly": {
      const d = new Date(start);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    }
  }
}
