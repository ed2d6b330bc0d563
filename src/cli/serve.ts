import { ConfigError, loadServeConfig, parseArgsOptions, parseFlags, SERVE_OPTIONS, type Env } from "../config.ts";
import { detectRuntime } from "../runtime/index.ts";
import { startServer } from "../server.ts";
import { createLogger } from "../telemetry/logger.ts";
import { helpText } from "./help.ts";

/** `keyward serve`: runs until SIGTERM/SIGINT, then drains and exits 0. */
export async function serveCommand(args: string[], env: Env): Promise<number> {
  const flags = parseFlags(args, { ...parseArgsOptions(SERVE_OPTIONS), help: { type: "boolean", short: "h" } });
  if (flags.values.help) {
    process.stdout.write(helpText());
    return 0;
  }
  if (flags.positionals.length > 0) throw new ConfigError(`Unexpected argument "${flags.positionals[0]}" (see --help)`);
  const config = loadServeConfig(flags.values, env);
  const logger = createLogger(config.logFormat, config.logLevel);
  const runtime = await detectRuntime();
  const supervised = runtime.superviseIfNeeded(env, ["serve", ...args]);
  if (supervised) return supervised;
  const server = await startServer({ config, runtime, logger });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info("Shutting down", { signal, timeout_s: config.shutdownTimeoutMs / 1000 });
      server.stop().then(
        () => {
          logger.info("Stopped");
          resolve(0);
        },
        (err: unknown) => {
          logger.error("Shutdown failed", { error: String(err) });
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", () => shutdown("SIGTERM"));
    process.on("SIGINT", () => shutdown("SIGINT"));
  });
}
