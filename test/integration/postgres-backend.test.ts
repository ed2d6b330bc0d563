/**
 * The storage contract holds on both backends. The suites below drive keyward
 * only through createTestApp / useProxyHarness: the admin API, the proxy and
 * the `Store` interface. Each runs again here in a child `bun test` with
 * KEYWARD_TEST_BACKEND=postgres, where the vault is a PostgreSQL database
 * shared through a mirror (every write crosses the change log), budgets are
 * leased, rate limits are shares and the request log and usage are
 * PostgreSQL's: every answer must be the one SQLite gives. Within them, the
 * few checks of the SQLite file itself run on SQLite only (`TEST_BACKEND`).
 *
 * Left out, since they check what only the SQLite file has:
 * - limits-restart, limits-team-restart: durable budget ceilings and spend on
 *   the file across restarts; leases replace ceilings on PostgreSQL.
 * - admin-reads, plaintext-scan, webhooks-rotation, metering-hostile: they
 *   seed, scan, reopen or measure the file itself.
 * - The proxy-* forwarding suites: no backend changes forwarding, and they
 *   would double this file's time.
 */
import { beforeAll, test } from "bun:test";
import { join } from "node:path";
import { appDatabasePrefix } from "../helpers/app-store.ts";
import { dropDatabasesByPrefix, sharedServerUrl } from "../helpers/postgres.ts";

const REPO_ROOT = join(import.meta.dir, "..", "..");

const SUITES = [
  "provider-keys",
  "proxy-keys",
  "proxy-keys-rotation",
  "proxy-keys-info",
  "proxy-keys-unbounded",
  "teams",
  "limits-teams",
  "limits-rate",
  "limits-budget-race",
  "limits-team-race",
  "limits-models-prices",
  "limits-periods",
  "limits-key-fields",
  "limits-abort",
  "limits-usage-logs",
  "usage-refusals",
  "admin-auth",
  "admin-tokens-audit",
  "issuer-quotas",
  "issuer-tokens",
  "oidc-trust-policies",
  "oidc-exchange",
  "oidc-header-jwks",
  "webhooks-api",
  "webhooks-events",
  "bad-input",
  "proxy-endpoints-ownership",
  "key-sweeper",
  "key-lockout",
];

/** A suite takes 2 to 10 s here; a machine busy with other work may take several times that. */
const SUITE_TIMEOUT_MS = 180_000;
/** The child is killed first, so that a suite that hangs is reported with what it printed. */
const CHILD_TIMEOUT_MS = SUITE_TIMEOUT_MS - 15_000;

let serverUrl: string;

beforeAll(async () => {
  // One server for every child: each would otherwise start its own when KEYWARD_TEST_PG_URL is unset.
  serverUrl = await sharedServerUrl();
});

for (const suite of SUITES) {
  test(
    `${suite} on PostgreSQL`,
    async () => {
      const child = Bun.spawn([process.execPath, "test", `./test/integration/${suite}.test.ts`], {
        cwd: REPO_ROOT,
        env: { ...process.env, KEYWARD_TEST_BACKEND: "postgres", KEYWARD_TEST_PG_URL: serverUrl },
        stdout: "pipe",
        stderr: "pipe",
        timeout: CHILD_TIMEOUT_MS,
      });
      const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
      // The databases its apps kept for reuse, or left open, are named after its pid.
      await dropDatabasesByPrefix(serverUrl, appDatabasePrefix(child.pid));
      if (code !== 0) throw new Error(failureReport(suite, code, child.signalCode, `${stdout}\n${stderr}`));
    },
    SUITE_TIMEOUT_MS,
  );
}

/** The failing tests' names first, then what the child printed, without its passing tests. */
function failureReport(suite: string, code: number, signal: string | number | null, output: string): string {
  const lines = output.split("\n");
  const failed = lines.filter((line) => line.startsWith("(fail)"));
  const printed = lines.filter((line) => !line.startsWith("(pass)") && line.trim() !== "").slice(-200);
  const how = signal === null ? `exited ${code}` : `was killed (${signal}) after ${CHILD_TIMEOUT_MS / 1000} s`;
  return [
    `${suite}.test.ts with KEYWARD_TEST_BACKEND=postgres ${how}`,
    failed.length > 0 ? `failed:\n  ${failed.join("\n  ")}` : "no test reported as failed",
    "output:",
    ...printed,
  ].join("\n");
}
