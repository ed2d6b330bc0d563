/**
 * Stands in for the log worker in a test of what happens when it dies: it
 * accepts messages like the real one, then throws once a write is asked for
 * (a `commit` on SQLite, an `append` on PostgreSQL), before writing anything.
 */
const port = globalThis as unknown as { onmessage: ((event: MessageEvent<{ type: string }>) => void) | null; postMessage(m: unknown): void };
port.onmessage = (event) => {
  if (event.data.type === "open" || event.data.type === "open-postgres") port.postMessage({ type: "opened" });
  if (event.data.type === "commit" || event.data.type === "append") throw new Error("log worker crashed");
};
export {};
