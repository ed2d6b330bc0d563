/** Provider keys: add, edit (the key itself, deployments, OpenAI pins), disable/enable, delete with its cascade. */
import type { VNode } from "preact";
import { api, type Page } from "./api.ts";
import { value } from "./forms.ts";
import { html } from "./html.ts";
import { PROVIDERS, type ProviderKey } from "./models.ts";
import { DeleteProviderKey, EditProviderKey } from "./provider-key-dialogs.ts";
import { ErrorText, Field, Notice, Table, useLoad } from "./ui.ts";
import { usePageActions } from "./page-actions.ts";

/** Azure deployments or OpenAI pins: what a provider key adds to its requests. */
function settings(k: ProviderKey): VNode | string {
  if (k.provider === "azure-openai") {
    const entries = Object.entries(k.deployments ?? {});
    if (entries.length === 0) return "no deployments mapped";
    return html`<ul class="plain">
      ${entries.map(([d, m]) => html`<li><code>${d}</code> → ${m}</li>`)}
    </ul>`;
  }
  if (k.provider === "openai" && (k.openai_organization || k.openai_project)) {
    return [k.openai_organization ? `organization ${k.openai_organization}` : "", k.openai_project ? `project ${k.openai_project}` : ""]
      .filter(Boolean)
      .join(", ");
  }
  return "—";
}

export function ProviderKeys(props: { admin: boolean }): VNode {
  const list = useLoad(() => api<Page<ProviderKey>>("GET", "/api/provider-keys?limit=200"), []);
  const { notice, setNotice, action, modal, done } = usePageActions(() => list.reload());
  const add = (e: Event): void => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    setNotice(null);
    void action.run(async () => {
      const base = value(form, "base_url");
      const created = await api<ProviderKey>("POST", "/api/provider-keys", {
        name: value(form, "name"),
        provider: value(form, "provider"),
        key: value(form, "key"),
        ...(base ? { base_url: base } : {}),
      });
      form.reset();
      await done(`Added ${created.name} (${created.key_hint}).`);
    });
  };
  const toggle = (k: ProviderKey): Promise<void> =>
    action.run(async () => {
      await api("PATCH", `/api/provider-keys/${encodeURIComponent(k.id)}`, { disabled: !k.disabled });
      await done(k.disabled ? `Enabled ${k.name}.` : `Disabled ${k.name}: its proxy keys get 403 provider_key_disabled until it is enabled.`);
    });
  const edit = (k: ProviderKey): void => modal.open((close) => html`<${EditProviderKey} pk=${k} onClose=${close} onSaved=${done} />`);
  const remove = (k: ProviderKey): void => modal.open((close) => html`<${DeleteProviderKey} pk=${k} onClose=${close} onDeleted=${done} />`);
  return html`<section aria-labelledby="pk-title">
    <h2 id="pk-title">Provider keys</h2>
    ${
      props.admin
        ? html`<form class="card" onSubmit=${add} aria-label="Add a provider key">
            <h3>Add a provider key</h3>
            <div class="grid">
              <${Field} label="Name" id="pk-name"><input id="pk-name" name="name" required maxlength="100" /><//>
              <${Field} label="Provider" id="pk-provider">
                <select id="pk-provider" name="provider">
                  ${PROVIDERS.map((p) => html`<option value=${p}>${p}</option>`)}
                </select>
              <//>
              <${Field} label="API key" id="pk-key"><input id="pk-key" name="key" type="password" required autocomplete="off" /><//>
              <${Field} label="Base URL (optional)" id="pk-base" hint="Required for azure-openai and openai-compatible."
                ><input id="pk-base" name="base_url" type="url" placeholder="https://api.openai.com/v1" aria-describedby="pk-base-hint"
              /><//>
            </div>
            <button type="submit" disabled=${action.busy}>Add provider key</button>
          </form>`
        : null
    }
    <${ErrorText} error=${action.error ?? list.error} />
    <${Notice} text=${notice} />
    <${Table}
      caption="Provider keys"
      rows=${list.data?.data ?? []}
      empty="No provider keys yet."
      columns=${[
        { title: "Name", cell: (k: ProviderKey) => k.name },
        { title: "Provider", cell: (k: ProviderKey) => k.provider },
        { title: "Key", cell: (k: ProviderKey) => html`<code>${k.key_hint}</code>` },
        { title: "Deployments / pins", cell: settings },
        {
          title: "Status",
          cell: (k: ProviderKey) => (k.disabled ? html`<span class="badge off">disabled</span>` : html`<span class="badge on">enabled</span>`),
        },
        ...(props.admin
          ? [
              {
                title: "Actions",
                cell: (k: ProviderKey) =>
                  html`<div class="row">
                    <button type="button" class="secondary" onClick=${() => edit(k)}>Edit ${k.name}</button>
                    <button type="button" class="secondary" onClick=${() => void toggle(k)}>${k.disabled ? "Enable" : "Disable"} ${k.name}</button>
                    <button type="button" class="danger" onClick=${() => remove(k)}>Delete ${k.name}</button>
                  </div>`,
              },
            ]
          : []),
      ]}
    />
    ${modal.node}
  </section>`;
}
