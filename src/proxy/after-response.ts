import type { Logger } from "../telemetry/logger.ts";

/**
 * Work that can wait until an answer is on its way: reading usage from a JSON
 * answer, settling the budget reservation, the log row, metrics and the access
 * line. It runs in the next turn of the event loop (one turn for all answers
 * sent in this one), before the server reads anything a client sends after
 * receiving its answer, so a client that asks for its spend right after a
 * request sees it settled. `run()` also runs it at once, as closing the app
 * does, so shutdown never drops a request's row.
 */
export class AfterResponse {
  private tasks: Array<() => void> = [];
  private scheduled = false;

  constructor(private readonly logger: Logger) {}

  add(task: () => void): void {
    this.tasks.push(task);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.run());
    }
  }

  run(): void {
    this.scheduled = false;
    const tasks = this.tasks;
    this.tasks = [];
    for (const task of tasks) {
      try {
        task();
      } catch (err) {
        this.logger.error("Request bookkeeping failed", { error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
}
