/**
 * Throwaway PostgreSQL servers for tests, started the way .ci/run starts its
 * own: Debian's binaries (/usr/lib/postgresql/<version>/bin), `initdb` into a
 * fresh temporary directory as the `postgres` user when running as root
 * (initdb refuses root), `pg_ctl start` on 127.0.0.1 and a free port, the unix
 * socket in the same directory. Never skipped: without PostgreSQL a test
 * fails, saying how to get it.
 */
import { execFile, spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`: the superuser on the maintenance database. */
  url: string;
  port: number;
  /** The directory holding the data dir, the log and the unix socket. */
  dir: string;
  /** Stops the server (fast shutdown: open connections are cut); `start()` brings it back on the same port with the same data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its directory. */
  close(): Promise<void>;
}

export interface PostgresServerOptions {
  /** Serve TLS with these PEM files (copied into the server's directory). */
  tls?: { certFile: string; keyFile: string };
  /** The superuser's password; TCP connections must then give it (scram-sha-256), the unix socket stays trusted. */
  password?: string;
}

const MISSING =
  "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH): install them with `apt-get install -y --no-install-recommends postgresql` (.ci/run does)";

/** The newest installed version's bin directory, or the one `initdb` on PATH is in. */
export function postgresBinDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0] !== undefined) return join(root, versions[0], "bin");
  const which = spawnSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" });
  const found = which.status === 0 ? which.stdout.trim() : "";
  if (found) return found.replace(/\/initdb$/, "");
  throw new Error(MISSING);
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** The postgres user's uid and gid: as root, the server's files must be its own. */
function postgresUser(): { uid: number; gid: number } {
  const uid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (uid.status !== 0 || gid.status !== 0)
    throw new Error("Cannot start PostgreSQL as root: there is no postgres user to run it as (the postgresql package creates it)");
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** `command args`, as the postgres user when running as root. */
function asServerUser(bin: string, command: string, args: string[]): [string, string[]] {
  const path = join(bin, command);
  return isRoot ? ["runuser", ["-u", "postgres", "--", path, ...args]] : [path, args];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("Cannot pick a free port"))));
    });
  });
}

async function pgCtl(bin: string, args: string[], log: string): Promise<void> {
  const [file, argv] = asServerUser(bin, "pg_ctl", args);
  try {
    await run(file, argv, { timeout: 120_000 });
  } catch (err) {
    const tail = existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-15).join("\n") : "(no log)";
    throw new Error(`Cannot run pg_ctl ${args[0] === "-D" ? args.at(-1) : args[0]}: ${(err as Error).message}\nserver log:\n${tail}`);
  }
}

const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;

/**
 * Stops the server and removes its directory once this process is gone, however it ended: `bun test` emits
 * no "exit" event, and a killed run emits nothing at all. A detached shell polls for this process.
 */
function watchdog(bin: string, data: string, dir: string): void {
  const [file, argv] = asServerUser(bin, "pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
  const script = [
    `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done`,
    `${[file, ...argv].map(quote).join(" ")} >/dev/null 2>&1`,
    `rm -rf ${quote(dir)}`,
  ].join("\n");
  spawn("sh", ["-c", script], { detached: true, stdio: "ignore" }).unref();
}

/** A new server of its own: for tests that stop PostgreSQL mid-test, or need TLS or a password. */
export async function startPostgresServer(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const owner = isRoot ? postgresUser() : undefined;
  const dir = mkdtempSync(join(tmpdir(), "keyward-pg-"));
  const data = join(dir, "data");
  const log = join(dir, "server.log");
  const own = (path: string) => owner && chownSync(path, owner.uid, owner.gid);
  own(dir);
  watchdog(bin, data, dir);
  const initArgs = ["-D", data, "-U", "postgres", "--no-sync", "--encoding=UTF8", "--no-locale"];
  if (options.password !== undefined) {
    const pwfile = join(dir, "pwfile");
    writeFileSync(pwfile, `${options.password}\n`, { mode: 0o600 });
    own(pwfile);
    initArgs.push("--auth-local=trust", "--auth-host=scram-sha-256", `--pwfile=${pwfile}`);
  } else {
    initArgs.push("--auth=trust");
  }
  const settings = ["-c listen_addresses=127.0.0.1", `-c unix_socket_directories=${dir}`, "-c max_connections=300", "-c fsync=off", "-c full_page_writes=off"];
  if (options.tls) {
    for (const [from, name] of [
      [options.tls.certFile, "server.crt"],
      [options.tls.keyFile, "server.key"],
    ] as const) {
      copyFileSync(from, join(dir, name));
      chmodSync(join(dir, name), 0o600);
      own(join(dir, name));
    }
    settings.push("-c ssl=on", `-c ssl_cert_file=${join(dir, "server.crt")}`, `-c ssl_key_file=${join(dir, "server.key")}`);
  }
  try {
    const [file, argv] = asServerUser(bin, "initdb", initArgs);
    await run(file, argv, { timeout: 120_000 });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`Cannot initialise a PostgreSQL data directory with ${bin}/initdb: ${(err as Error).message}`);
  }

  let port = 0;
  const start = async () => pgCtl(bin, ["-D", data, "-l", log, "-w", "-t", "60", "-o", [`-c port=${port}`, ...settings].join(" "), "start"], log);
  // A free port can be taken between picking and binding it: try a few.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await start();
      break;
    } catch (err) {
      if (attempt === 3) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const stop = async () => pgCtl(bin, ["-D", data, "-m", "fast", "-w", "-t", "60", "stop"], log);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    stop,
    start,
    close: async () => {
      await stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
