/**
 * Keeps this instance's budget slices honest with the shared database: every
 * second it reports what was spent under each (so a crash loses no more than
 * the slice, and other instances' grants see the spend), and it gives back
 * slices nothing used for a while, so an idle instance does not sit on budget
 * that busy ones need. At a clean stop it gives back every slice.
 */
import type { Clock } from "../clock.ts";
import type { BudgetLeases } from "../db/leases.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { BudgetLedger } from "./budget.ts";

export interface LeaseKeeperOptions {
  intervalMs: number;
  /** A slice unused this long goes back to the budget. */
  idleMs: number;
}

export const DEFAULT_LEASE_KEEPER: LeaseKeeperOptions = { intervalMs: 1000, idleMs: 10_000 };

export class LeaseKeeper {
  private timer: ReturnType<typeof setInterval> | undefined;
  private running: Promise<void> | undefined;
  private failing = false;

  constructor(
    private readonly deps: { ledger: BudgetLedger; leases: BudgetLeases; clock: Clock; logger: Logger },
    private readonly options: LeaseKeeperOptions = DEFAULT_LEASE_KEEPER,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      this.running ??= this.tick().finally(() => {
        this.running = undefined;
      });
    }, this.options.intervalMs);
  }

  private async tick(): Promise<void> {
    const { ledger, leases, clock, logger } = this.deps;
    const usage = ledger.leaseUsage();
    const idle = ledger.endLeases(clock.now() - this.options.idleMs);
    try {
      await leases.report(usage);
      await leases.close(idle);
      if (this.failing) logger.info("Budget slices reported to the shared database again");
      this.failing = false;
    } catch (err) {
      // The slices stay granted in the database: what they hold is safe, only others wait longer for it.
      if (!this.failing) logger.warn("Cannot report budget slices to the shared database", { error: err instanceof Error ? err.message : String(err) });
      this.failing = true;
    }
  }

  /** Stops the timer and gives back every slice with nothing in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    const { ledger, leases, logger } = this.deps;
    try {
      await leases.report(ledger.leaseUsage());
      await leases.close(ledger.endLeases());
    } catch (err) {
      logger.warn("Cannot give budget slices back at stop: other instances get them once this one is presumed dead", {
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
}
