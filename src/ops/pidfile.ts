/**
 * `<data-dir>/keyward.pid`: the serving process writes it at start and
 * removes it at stop, so host-side commands that must not run under a live
 * server (restore, master key rotation) can tell. A file left by a killed
 * server names a process that is gone, and is ignored.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const PID_FILE = "keyward.pid";

export function pidFilePath(dataDir: string): string {
  return join(dataDir, PID_FILE);
}

/** Written whole (temp file + rename), so a reader never sees half a number. */
export function writePidFile(dataDir: string, pid: number = process.pid): void {
  const path = pidFilePath(dataDir);
  const temp = `${path}.${pid}.tmp`;
  writeFileSync(temp, `${pid}\n`, { mode: 0o600 });
  renameSync(temp, path);
}

/** Removes the file if it still names `pid` (a newer server may have replaced it). */
export function removePidFile(dataDir: string, pid: number = process.pid): void {
  if (readPid(dataDir) === pid) rmSync(pidFilePath(dataDir), { force: true });
}

function readPid(dataDir: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(pidFilePath(dataDir), "utf8");
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

function alive(pid: number): boolean {
  try {
    // Signal 0 checks existence without touching the process.
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else (e.g. the keyward user while we run as root).
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid of a live server on `dataDir`, or undefined (no pid file, or a stale one). */
export function runningServerPid(dataDir: string): number | undefined {
  const pid = readPid(dataDir);
  return pid !== undefined && pid !== process.pid && alive(pid) ? pid : undefined;
}

/** Throws `Cannot <action>: a server is running on <dir> (pid N)` when one is. */
export function refuseWhileServing(dataDir: string, action: string): void {
  const pid = runningServerPid(dataDir);
  if (pid !== undefined) {
    throw new Error(`Cannot ${action}: a server is running on ${dataDir} (pid ${pid}); stop it first`);
  }
}
