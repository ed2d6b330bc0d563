/** Read-only lists: admin tokens, webhooks, the audit log. */
import type { VNode } from "preact";
import { api, type Page } from "./api.ts";
import { html } from "./html.ts";
import { ErrorText, Table, useLoad, when } from "./ui.ts";

type Row = Record<string, unknown>;
function text(v: unknown): string {
  if (v === null || v === undefined) return "—";
  if (Array.isArray(v)) return v.map((x) => text(x)).join(", ");
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

export function SimpleList(props: { title: string; path: string; fields: [string, string][] }): VNode {
  const list = useLoad(() => api<Page<Row>>("GET", props.path), [props.path]);
  const id = `list-${props.title.replace(/\W+/g, "-").toLowerCase()}`;
  return html`<section aria-labelledby=${id}>
    <h2 id=${id}>${props.title}</h2>
    <${ErrorText} error=${list.error} />
    <${Table}
      caption=${props.title}
      rows=${list.data?.data ?? []}
      columns=${props.fields.map(([field, title]) => ({ title, cell: (r: Row) => (field.endsWith("_at") || field === "at" ? when(r[field] as string | null) : text(r[field])) }))}
    />
  </section>`;
}
