/**
 * The admin API's long reads when several instances share PostgreSQL: the
 * request log lives there, one for all of them, so usage and log pages are
 * read from it and every instance answers the same. The mirror of the vault
 * is current on each instance, so the audit log and key pages are still read
 * from it, through the usual reads (the worker thread).
 *
 * The query runs in PostgreSQL, and the serving thread only waits on the
 * socket; it does make the answer's JSON, which the read worker makes on
 * SQLite, since the rows arrive here.
 */
import { StorageUnavailableError } from "../db/errors.ts";
import type { ReadArgs, ReadResult } from "../db/reads.ts";
import type { SharedRequestLog } from "../db/store.ts";
import type { Logger } from "../telemetry/logger.ts";
import { ADMIN_READS, jsonBody, type AdminReads } from "./reads.ts";
import { logBody, usageBody } from "./usage/views.ts";

type Handlers = typeof ADMIN_READS;
type SharedName = "usage" | "logs";

/** The same arguments and answers as ADMIN_READS' reads of the same names, from the shared log. */
type SharedLogReads = {
  [N in SharedName]: (log: SharedRequestLog, ...args: ReadArgs<Handlers, N>) => Promise<ReadResult<Handlers, N>>;
};

const SHARED_LOG_READS: SharedLogReads = {
  usage: async (log, group, window) => jsonBody(usageBody(group, await log.usage(group, window))),
  logs: async (log, filter, limit, beforeId) => jsonBody(logBody(await log.page(filter, { limit: limit + 1, beforeId }), limit)),
};

function isShared(name: string): name is SharedName {
  return Object.hasOwn(SHARED_LOG_READS, name);
}

/** Usage and logs from the shared log; every other read from `local`. */
export class SharedAdminReads implements AdminReads {
  constructor(
    private readonly local: AdminReads,
    private readonly log: SharedRequestLog,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.local.start();
  }

  async read<N extends keyof Handlers>(name: N, ...args: ReadArgs<Handlers, N>): Promise<ReadResult<Handlers, N>> {
    if (!isShared(name)) return this.local.read(name, ...args);
    const handler = SHARED_LOG_READS[name];
    try {
      return await handler(this.log, ...args);
    } catch (err) {
      // Answered as a 503, worth retrying; PostgreSQL's own message (hosts, ports) goes to the log, not the answer.
      this.logger.warn("Cannot read the request log from PostgreSQL", { read: name, error: err instanceof Error ? err.message : String(err) });
      throw new StorageUnavailableError("Cannot read the request log: the shared database did not answer", { cause: err });
    }
  }

  close(): void {
    this.local.close();
  }
}
