/**
 * A usage mistake (bad flag, env value or config file): main.ts prints its
 * one-line message and exits 2. Its own module so that config-file.ts can
 * throw it without importing config.ts, which imports config-file.ts.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
