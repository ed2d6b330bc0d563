import { readFileSync } from "node:fs";
import type { TlsFiles } from "../config.ts";
import type { TlsPem } from "../runtime/index.ts";

/** Reads the PEM files named by --tls-cert/--tls-key (at start, and again on SIGHUP). */
export function readTlsFiles(files: TlsFiles): TlsPem {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch (err) {
      throw new Error(`Cannot read TLS ${what} ${path}: ${(err as Error).message}`);
    }
  };
  const cert = read(files.certFile, "certificate");
  const key = read(files.keyFile, "key");
  if (!cert.includes("-----BEGIN")) throw new Error(`Cannot use TLS certificate ${files.certFile}: it is not PEM`);
  if (!key.includes("-----BEGIN")) throw new Error(`Cannot use TLS key ${files.keyFile}: it is not PEM`);
  return { cert, key };
}
