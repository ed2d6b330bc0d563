/** Webhooks: create (the signing secret shown once), send a test event, follow deliveries, delete. */
import type { VNode } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, type Page } from "./api.ts";
import { ConfirmDialog, Dialog } from "./dialog.ts";
import { checked, value } from "./forms.ts";
import { html } from "./html.ts";
import { ErrorText, Field, Notice, SecretOnce, Table, useLoad, when } from "./ui.ts";
import { usePageActions } from "./page-actions.ts";

interface Webhook {
  id: string;
  url: string;
  events: string[];
  secret_hint: string;
  created_at: string;
}

interface Delivery {
  id: number;
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
}

const EVENTS: [string, string][] = [
  ["budget.threshold", "budget.threshold: a key or team passed 50, 80 or 100% of its budget"],
  ["key.expiring", "key.expiring: a key expires soon"],
  ["provider_key.auth_failed", "provider_key.auth_failed: a provider refused a provider key"],
  ["key.revoked", "key.revoked: a proxy key was revoked"],
];

const path = (w: Webhook, tail = ""): string => `/api/webhooks/${encodeURIComponent(w.id)}${tail}`;
/** Visible text stays short; the accessible name says which webhook (each row has the same buttons). */
const which = (w: Webhook): VNode => html`<span class="sr-only"> ${w.url}</span>`;

function Deliveries(props: { hook: Webhook; onClose: () => void }): VNode {
  const list = useLoad(() => api<Page<Delivery>>("GET", path(props.hook, "/deliveries?limit=50")), []);
  const pending = (list.data?.data ?? []).some((d) => d.status === "pending");
  useEffect(() => {
    // Follows events still pending (the dispatcher retries on its own timer); stops once none is.
    if (!pending) return;
    const timer = setTimeout(() => void list.reload(), 1500);
    return () => clearTimeout(timer);
  }, [list.data]);
  return html`<${Dialog} title=${`Deliveries to ${props.hook.url}`} onClose=${props.onClose} wide=${true}>
    <${ErrorText} error=${list.error} />
    <${Table}
      caption="Events, newest first"
      rows=${list.data?.data ?? []}
      empty="No events sent to this webhook yet."
      columns=${[
        { title: "Created", cell: (d: Delivery) => when(d.created_at) },
        { title: "Event", cell: (d: Delivery) => html`${d.event_type}<br /><code>${d.event_id}</code>` },
        { title: "Status", cell: (d: Delivery) => html`<span class=${`badge ${d.status === "delivered" ? "on" : "off"}`}>${d.status}</span>` },
        { title: "Attempts", cell: (d: Delivery) => d.attempts },
        { title: "Last answer", cell: (d: Delivery) => [d.last_status ?? "", d.last_error ?? ""].filter((s) => s !== "").join(" ") || "—" },
      ]}
    />
    <div class="row end">
      <button type="button" class="secondary" onClick=${() => void list.reload()}>Refresh</button>
      <button type="button" onClick=${props.onClose}>Close</button>
    </div>
  <//>`;
}

function DeleteWebhook(props: { hook: Webhook; onClose: () => void; onDeleted: (message: string) => Promise<void> }): VNode {
  const remove = async (): Promise<void> => {
    await api("DELETE", path(props.hook));
    await props.onDeleted(`Deleted the webhook to ${props.hook.url}.`);
  };
  return html`<${ConfirmDialog} title="Delete this webhook?" confirm="Delete webhook" danger=${true} onConfirm=${remove} onClose=${props.onClose}>
    <p><code>${props.hook.url}</code> gets no more events; those still waiting are not delivered, and its delivery history goes with it.</p>
  <//>`;
}

export function Webhooks(props: { admin: boolean }): VNode {
  const hooks = useLoad(() => api<Page<Webhook>>("GET", "/api/webhooks?limit=200"), []);
  const [secret, setSecret] = useState<{ url: string; secret: string } | null>(null);
  const { notice, setNotice, action, modal, done } = usePageActions(() => hooks.reload());
  const create = (e: Event): void => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    setNotice(null);
    void action.run(async () => {
      const own = value(form, "secret");
      const created = await api<Webhook & { secret: string }>("POST", "/api/webhooks", {
        url: value(form, "url"),
        events: checked(form, "events"),
        ...(own ? { secret: own } : {}),
      });
      setSecret({ url: created.url, secret: created.secret });
      form.reset();
      await hooks.reload();
    });
  };
  const test = (w: Webhook): Promise<void> =>
    action.run(async () => {
      const queued = await api<{ event_id: string }>("POST", path(w, "/test"));
      setNotice(`Test event ${queued.event_id} queued for ${w.url}: follow it under Deliveries.`);
    });
  const deliveries = (w: Webhook): void => modal.open((close) => html`<${Deliveries} hook=${w} onClose=${close} />`);
  const remove = (w: Webhook): void => modal.open((close) => html`<${DeleteWebhook} hook=${w} onClose=${close} onDeleted=${done} />`);
  return html`<section aria-labelledby="wh-title">
    <h2 id="wh-title">Webhooks</h2>
    ${
      secret
        ? html`<${SecretOnce}
            title=${`Webhook to ${secret.url} created`}
            what="signing secret"
            note="Receivers verify the webhook-signature header with it (Standard Webhooks)."
            secret=${secret.secret}
            onDone=${() => setSecret(null)}
          />`
        : null
    }
    ${
      props.admin
        ? html`<form class="card" onSubmit=${create} aria-label="Create a webhook">
            <h3>Create a webhook</h3>
            <div class="grid">
              <${Field} label="URL" id="wh-url"><input id="wh-url" name="url" type="url" required placeholder="https://alerts.example.com/keyward" /><//>
              <${Field} label="Signing secret (optional: generated)" id="wh-secret"
                ><input id="wh-secret" name="secret" type="password" autocomplete="off" placeholder="whsec_…"
              /><//>
            </div>
            <fieldset class="checks">
              <legend>Events</legend>
              ${EVENTS.map(
                ([type, label]) =>
                  html`<div class="check">
                    <input id=${`wh-ev-${type}`} type="checkbox" name="events" value=${type} />
                    <label for=${`wh-ev-${type}`}>${label}</label>
                  </div>`,
              )}
            </fieldset>
            <button type="submit" disabled=${action.busy}>Create webhook</button>
          </form>`
        : null
    }
    <${ErrorText} error=${action.error ?? hooks.error} />
    <${Notice} text=${notice} />
    <${Table}
      caption="Webhooks"
      rows=${hooks.data?.data ?? []}
      empty="No webhooks yet."
      columns=${[
        { title: "URL", cell: (w: Webhook) => html`<code>${w.url}</code>` },
        { title: "Events", cell: (w: Webhook) => w.events.join(", ") },
        { title: "Secret", cell: (w: Webhook) => html`<code>${w.secret_hint}</code>` },
        { title: "Created", cell: (w: Webhook) => when(w.created_at) },
        {
          title: "Actions",
          cell: (w: Webhook) =>
            html`<div class="row">
              <button type="button" class="secondary" onClick=${() => deliveries(w)}>Deliveries${which(w)}</button>
              ${
                props.admin
                  ? html`<button type="button" class="secondary" onClick=${() => void test(w)}>Send test event${which(w)}</button>
                      <button type="button" class="danger" onClick=${() => remove(w)}>Delete${which(w)}</button>`
                  : null
              }
            </div>`,
        },
      ]}
    />
    ${modal.node}
  </section>`;
}
