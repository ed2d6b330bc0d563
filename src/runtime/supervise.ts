/**
 * Bun's fetch allows 256 requests in flight per process unless
 * BUN_CONFIG_MAX_HTTP_REQUESTS is set before the process starts; setting it
 * at run time has no effect. So `serve` re-executes itself once with the
 * variable set and supervises the child: signals are forwarded, the exit code
 * is passed on, and the child exits when the parent dies (even by SIGKILL),
 * because its stdin pipe from the parent closes.
 */
import { spawn } from "bun";

const CAPACITY = "65535";
const CHILD_MARK = "KEYWARD_SUPERVISED";

export function superviseIfNeeded(env: Record<string, string | undefined>, args: string[]): Promise<number> | undefined {
  if (env[CHILD_MARK] === "1") {
    watchParent();
    return undefined;
  }
  if (env.BUN_CONFIG_MAX_HTTP_REQUESTS) return undefined;
  // A compiled binary's entry lives in Bun's embedded file system; a script needs its path repeated.
  const compiled = Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/");
  const command = compiled ? [process.execPath, ...args] : [process.execPath, Bun.main, ...args];
  const child = spawn(command, {
    env: { ...env, BUN_CONFIG_MAX_HTTP_REQUESTS: CAPACITY, [CHILD_MARK]: "1" },
    stdin: "pipe",
    stdout: "inherit",
    stderr: "inherit",
  });
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    process.on(signal, () => child.kill(signal));
  }
  return child.exited.then((code) => (typeof child.signalCode === "string" ? 128 + signalNumber(child.signalCode) : code));
}

function signalNumber(name: string): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[name] ?? 1;
}

/** Exits at once when the supervising parent's end of stdin closes. */
function watchParent(): void {
  const reader = Bun.stdin.stream().getReader();
  const drain = async () => {
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
    process.exit(137);
  };
  void drain().catch(() => process.exit(137));
}
