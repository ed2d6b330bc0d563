/**
 * Changing a provider key (PATCH /api/provider-keys/{id}: name, the key
 * itself, base URL, stream usage, Azure deployments, OpenAI organization and
 * project) and deleting it (DELETE …?cascade=true), with what the delete
 * takes along counted first.
 */
import type { VNode } from "preact";
import { api } from "./api.ts";
import { ConfirmDialog, FormDialog } from "./dialog.ts";
import { changed, defined, isChecked, value } from "./forms.ts";
import { html } from "./html.ts";
import { loadAll, type ProviderKey, type ProxyKey } from "./models.ts";
import { filled, PairRows, usePairs, type Pair } from "./pairs.ts";
import { Field, useLoad } from "./ui.ts";

const path = (k: ProviderKey): string => `/api/provider-keys/${encodeURIComponent(k.id)}`;

function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const ak = Object.keys(a);
  return ak.length === Object.keys(b).length && ak.every((k) => a[k] === b[k]);
}

export function EditProviderKey(props: { pk: ProviderKey; onClose: () => void; onSaved: (message: string) => Promise<void> }): VNode {
  const k = props.pk;
  const deployments = usePairs(Object.entries(k.deployments ?? {}));
  const save = async (form: HTMLFormElement): Promise<void> => {
    const name = value(form, "name");
    const base = value(form, "base_url");
    const key = value(form, "key");
    const stream = isChecked(form, "inject_stream_usage");
    const mapped = Object.fromEntries(filled(deployments.rows));
    const body = defined({
      name: name !== k.name ? name : undefined,
      key: key || undefined,
      base_url: base && base !== k.base_url ? base : undefined,
      inject_stream_usage: stream !== k.inject_stream_usage ? stream : undefined,
      deployments: k.provider === "azure-openai" ? changed(k.deployments, Object.keys(mapped).length ? mapped : undefined, sameMap) : undefined,
      openai_organization: k.provider === "openai" ? changed(k.openai_organization, value(form, "openai_organization") || undefined) : undefined,
      openai_project: k.provider === "openai" ? changed(k.openai_project, value(form, "openai_project") || undefined) : undefined,
    });
    if (Object.keys(body).length === 0) return;
    const saved = await api<ProviderKey>("PATCH", path(k), body);
    await props.onSaved(`Saved ${saved.name}${body.key ? `: its key is now ${saved.key_hint}` : ""}.`);
  };
  return html`<${FormDialog} title=${`Edit provider key ${k.name}`} submit="Save" onSubmit=${save} onClose=${props.onClose} wide=${true}>
    <div class="grid">
      <${Field} label="Name" id="pke-name"><input id="pke-name" name="name" required maxlength="100" defaultValue=${k.name} /><//>
      <${Field} label="Replace the key (empty: keep it)" id="pke-key" hint=${`Now ${k.key_hint}. Its proxy keys keep working with the new one.`}
        ><input id="pke-key" name="key" type="password" autocomplete="new-password" aria-describedby="pke-key-hint"
      /><//>
      <${Field} label="Base URL" id="pke-base"><input id="pke-base" name="base_url" type="url" defaultValue=${k.base_url} /><//>
    </div>
    <div class="row">
      <input id="pke-stream" name="inject_stream_usage" type="checkbox" defaultChecked=${k.inject_stream_usage} />
      <label for="pke-stream">Ask streams for usage (stream_options.include_usage), so streamed requests are metered</label>
    </div>
    ${
      k.provider === "azure-openai"
        ? html`<${PairRows}
            id="pke-dep"
            legend="Deployments (each mapped to the model it runs: limits and prices apply to that model)"
            item="Deployment"
            left="Deployment name"
            right="Model"
            rows=${deployments.rows}
            set=${deployments.set}
          />`
        : null
    }
    ${
      k.provider === "openai"
        ? html`<div class="grid">
            <${Field} label="OpenAI organization (empty: not pinned)" id="pke-org"
              ><input id="pke-org" name="openai_organization" placeholder="org-…" defaultValue=${k.openai_organization ?? ""}
            /><//>
            <${Field} label="OpenAI project (empty: not pinned)" id="pke-proj"
              ><input id="pke-proj" name="openai_project" placeholder="proj_…" defaultValue=${k.openai_project ?? ""}
            /><//>
          </div>`
        : null
    }
  <//>`;
}

interface Cascade {
  revoke: number;
  total: number;
  policies: number;
}

async function cascadeOf(k: ProviderKey): Promise<Cascade> {
  const [keys, policies] = await Promise.all([
    loadAll<ProxyKey>("/api/proxy-keys", { provider_key_id: k.id }),
    loadAll<{ provider_key_id: string }>("/api/oidc/trust-policies"),
  ]);
  // What the delete revokes: keys neither revoked nor expired ("provider-disabled" ones too, once their key is off).
  const live = keys.filter((p) => p.status === "active" || p.status === "provider-disabled").length;
  return { revoke: live, total: keys.length, policies: policies.filter((p) => p.provider_key_id === k.id).length };
}

const keys = (n: number): string => `${n} proxy key${n === 1 ? "" : "s"}`;

export function DeleteProviderKey(props: { pk: ProviderKey; onClose: () => void; onDeleted: (message: string) => Promise<void> }): VNode {
  const k = props.pk;
  const counted = useLoad(() => cascadeOf(k), [k.id]);
  const c = counted.data;
  const remove = async (): Promise<void> => {
    const done = await api<{ revoked_proxy_key_ids: string[] }>("DELETE", `${path(k)}?cascade=true`);
    await props.onDeleted(`Deleted ${k.name}; revoked ${keys(done.revoked_proxy_key_ids.length)}.`);
  };
  const pairs: Pair[] = c
    ? [
        ["Revoked first", `${keys(c.revoke)} still working: their next request is refused.`],
        ["Deleted with it", `${keys(c.total)} in all (revoked and expired ones too); the audit log keeps their ids.`],
      ]
    : [];
  return html`<${ConfirmDialog}
    title=${`Delete provider key ${k.name}?`}
    confirm="Delete provider key"
    danger=${true}
    ready=${c !== undefined && c.policies === 0}
    onConfirm=${remove}
    onClose=${props.onClose}
  >
    ${counted.error ? html`<p class="error" role="alert">${counted.error}</p>` : null}
    ${c === undefined && !counted.error ? html`<p role="status">Counting its proxy keys…</p>` : null}
    ${
      c
        ? html`<dl class="facts">
            ${pairs.map(
              ([term, text]) =>
                html`<dt>${term}</dt>
                  <dd>${text}</dd>`,
            )}
          </dl>`
        : null
    }
    ${
      c && c.policies > 0
        ? html`<p class="error" role="alert">
            ${c.policies} OIDC trust polic${c.policies === 1 ? "y uses" : "ies use"} this key: keyward refuses the delete until
            ${c.policies === 1 ? "it is" : "they are"} deleted (OIDC page).
          </p>`
        : null
    }
    <p>This cannot be undone.</p>
  <//>`;
}
