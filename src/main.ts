/**
 * keyward's entry point: `bun src/main.ts`, the compiled binary, or
 * `deno run -A src/main.ts`. Parses the command and runs it; exit code 2 for
 * usage mistakes, 1 for failures (`keyward issue` adds 3, 4 and 5: see cli/issue.ts).
 */
import { adminTokenCommand } from "./cli/admin-token.ts";
import { backupCommand } from "./cli/backup.ts";
import { configCommand } from "./cli/config-check.ts";
import { helpText } from "./cli/help.ts";
import { issueCommand } from "./cli/issue.ts";
import { migrateCommand } from "./cli/migrate.ts";
import { restoreCommand } from "./cli/restore.ts";
import { rotateMasterKeyCommand } from "./cli/rotate-master-key.ts";
import { serveCommand } from "./cli/serve.ts";
import { systemdUnitCommand } from "./cli/systemd-unit.ts";
import { ConfigError, readEnv } from "./config.ts";
import { COMMIT, SCHEMA_VERSION, VERSION } from "./version.ts";

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const env = readEnv();
  switch (command) {
    case undefined:
      return serveCommand([], env);
    case "serve":
      return serveCommand(rest, env);
    case "admin-token":
      return adminTokenCommand(rest, env);
    case "issue":
      return issueCommand(rest, env);
    case "backup":
      return backupCommand(rest, env);
    case "restore":
      return restoreCommand(rest, env);
    case "rotate-master-key":
      return rotateMasterKeyCommand(rest, env);
    case "migrate":
      return migrateCommand(rest, env);
    case "systemd-unit":
      return systemdUnitCommand(rest);
    case "config":
      return configCommand(rest, env);
    case "version":
    case "--version":
      process.stdout.write(`keyward ${VERSION} (commit ${COMMIT}, schema ${SCHEMA_VERSION})\n`);
      return 0;
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(helpText());
      return 0;
    default:
      if (command.startsWith("-")) return serveCommand(argv, env);
      throw new ConfigError(`Unknown command "${command}" (see keyward --help)`);
  }
}

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`keyward: ${err.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`keyward: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
// Bun keeps the process alive for pending handles after a command finished; serve resolves only at shutdown.
process.exit(process.exitCode ?? 0);
