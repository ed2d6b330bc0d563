import { ConfigError, loadServeConfig, parseArgsOptions, parseFlags, SERVE_OPTIONS, type Env } from "../config.ts";
import { detectRuntime } from "../runtime/index.ts";
import { startServer } from "../server.ts";
import { createLogger, pickLogFormat } from "../telemetry/logger.ts";
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
  const logger = createLogger(pickLogFormat(config.logFormat, { stderrIsTty: process.stderr.isTTY === true }), config.logLevel);
  const runtime = await detectRuntime();
  const supervised = runtime.superviseIfNeeded(env, ["serve", ...args]);
  if (supervised) return supervised;
  // Handlers go in before the server starts: the "keyward listening" line is a promise that
  // SIGTERM now means a clean shutdown, and a signal that lands between that line and a later
  // `process.on` would kill the process with the default action (exit 143).
  let onSignal: (signal: string) => void;
  const signalled = new Promise<string>((resolve) => {
    onSignal = resolve;
  });
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
  // SIGHUP (systemd's ExecReload, certbot's deploy hook) applies a renewed certificate without dropping
  // streams. Handled even without TLS: the default action would kill the server.
  let reload: () => void = () => logger.warn("SIGHUP received while starting; ignored");
  process.on("SIGHUP", () => reload());
  const server = await startServer({ config, runtime, logger });
  reload = () => {
    if (!config.tls) {
      logger.info("SIGHUP received; nothing to reload without TLS");
      return;
    }
    void server.reloadTls();
  };

  const signal = await signalled;
  logger.info("Shutting down", { signal, timeout_s: config.shutdownTimeoutMs / 1000 });
  try {
    await server.stop();
    logger.info("Stopped");
    return 0;
  } catch (err) {
    logger.error("Shutdown failed", { error: String(err) });
    return 1;
  }
}
