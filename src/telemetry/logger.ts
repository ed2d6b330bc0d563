import { writeSync } from "node:fs";

/**
 * Structured logs on stderr (stdout stays free for command output such as
 * tokens). Callers pass ids, never secrets; nothing here tries to redact.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "json" | "pretty";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * `auto` (the default) picks pretty lines for a person at a terminal and JSON
 * for everything else (journald, docker, a log shipper), which parse it.
 */
export function pickLogFormat(setting: LogFormat | "auto", output: { stderrIsTty: boolean }): LogFormat {
  if (setting !== "auto") return setting;
  return output.stderrIsTty ? "pretty" : "json";
}

let pending = "";
let scheduled = false;

function flushStderr(): void {
  scheduled = false;
  if (!pending) return;
  const out = pending;
  pending = "";
  // The stream queues what a slow reader (journald, a pipe) cannot take yet, instead of blocking.
  process.stderr.write(out);
}

/** At exit there is no later turn of the event loop: write what is left synchronously. */
function flushStderrNow(): void {
  scheduled = false;
  if (!pending) return;
  const out = pending;
  pending = "";
  writeSync(2, out);
}

/**
 * Lines produced in one turn of the event loop go out in one write: at a few
 * thousand requests a second, a syscall per access line costs more than the
 * request's own bookkeeping. Flushed before the process exits.
 */
function bufferedStderr(line: string): void {
  pending += `${line}\n`;
  if (pending.length > 65_536) return flushStderr();
  if (!scheduled) {
    scheduled = true;
    setImmediate(flushStderr);
  }
}

process.on("exit", flushStderrNow);

let isoMs = 0;
let isoText = "";

/** Access lines come thousands a second, many in the same millisecond: format each millisecond once. */
function isoNow(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoText = new Date(now).toISOString();
  }
  return isoText;
}

export function createLogger(format: LogFormat, level: LogLevel, write: (line: string) => void = bufferedStderr): Logger {
  const log = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const time = isoNow();
    if (format === "json") {
      // Same as stringifying { time, level, msg, ...fields }, without copying the fields into a new object per line.
      const rest = fields ? JSON.stringify(fields) : "{}";
      write(`{"time":"${time}","level":"${lvl}","msg":${JSON.stringify(msg)}${rest === "{}" ? "}" : `,${rest.slice(1)}`}`);
      return;
    }
    const extra = fields
      ? Object.entries(fields)
          .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
          .join(" ")
      : "";
    write(`${time} ${lvl.toUpperCase().padEnd(5)} ${msg}${extra ? ` ${extra}` : ""}`);
  };
  return {
    debug: (m, f) => log("debug", m, f),
    info: (m, f) => log("info", m, f),
    warn: (m, f) => log("warn", m, f),
    error: (m, f) => log("error", m, f),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
