/** The audit log: every change, newest first, with the acting token id (never secrets). */
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import { api, query, type Page } from "./api.ts";
import { html } from "./html.ts";
import { ErrorText, Table, useLoad, when } from "./ui.ts";

interface AuditEntry {
  id: number;
  at: string;
  actor_id: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  details: Record<string, unknown> | null;
}

export function AuditLog(): VNode {
  const [pages, setPages] = useState<string[]>([]);
  const cursor = pages.at(-1);
  const list = useLoad(() => api<Page<AuditEntry>>("GET", `/api/audit${query({ limit: 100, cursor })}`), [cursor]);
  return html`<section aria-labelledby="au-title">
    <h2 id="au-title">Audit log</h2>
    <${ErrorText} error=${list.error} />
    <${Table}
      caption="Changes, newest first"
      rows=${list.data?.data ?? []}
      empty="No changes recorded yet."
      columns=${[
        { title: "At", cell: (e: AuditEntry) => when(e.at) },
        { title: "Actor", cell: (e: AuditEntry) => html`<code>${e.actor_id ?? "—"}</code>` },
        { title: "Action", cell: (e: AuditEntry) => e.action },
        { title: "Target", cell: (e: AuditEntry) => html`${e.target_type} <code>${e.target_id ?? ""}</code>` },
        { title: "Details", cell: (e: AuditEntry) => (e.details ? html`<code class="details">${JSON.stringify(e.details)}</code>` : "—") },
      ]}
    />
    <div class="row">
      <button type="button" class="secondary" disabled=${pages.length === 0} onClick=${() => setPages([])}>Newest</button>
      <button type="button" class="secondary" disabled=${!list.data?.next_cursor} onClick=${() => setPages([...pages, list.data?.next_cursor ?? ""])}>
        Older
      </button>
    </div>
  </section>`;
}
