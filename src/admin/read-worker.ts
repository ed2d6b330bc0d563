/**
 * Worker entry: the admin API's long reads (reads.ts) on a connection of
 * their own. Listed as an entrypoint of the compiled binary; see
 * ThreadedReads (src/db/reads.ts) for the other side.
 */
import { serveReads } from "../db/read-worker.ts";
import { ADMIN_READS } from "./reads.ts";

serveReads(ADMIN_READS);
