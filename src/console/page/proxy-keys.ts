/**
 * Proxy keys: mint (admins, and keys:issue tokens within their policy: a
 * provider key typed by id or name, since they cannot list them), list,
 * search, filter by status, and for admins edit, rotate and revoke.
 */
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import { api, query, type Page } from "./api.ts";
import { value } from "./forms.ts";
import { html } from "./html.ts";
import { limitSummary, MintLimitFields, mintBody } from "./limits.ts";
import { providerOptions, teamOptions, type ProviderKey, type ProxyKey, type Team } from "./models.ts";
import { EditProxyKey, RevokeProxyKey, RotateProxyKey } from "./proxy-key-dialogs.ts";
import { ErrorText, Field, Notice, SecretOnce, SpendBar, Table, useLoad, when } from "./ui.ts";
import { usePageActions } from "./page-actions.ts";

const STATUSES = ["active", "expired", "revoked", "provider-disabled"];

export function ProxyKeys(props: { admin: boolean; canRead: boolean; canIssue: boolean }): VNode {
  const [status, setStatus] = useState("");
  const [search, setSearch] = useState("");
  const [secret, setSecret] = useState<{ title: string; key: string } | null>(null);
  const [pages, setPages] = useState<string[]>([]);
  const cursor = pages.at(-1);
  const list = useLoad(
    () => (props.canRead ? api<Page<ProxyKey>>("GET", `/api/proxy-keys${query({ limit: 50, status, cursor })}`) : Promise.resolve(undefined)),
    [status, cursor],
  );
  const providers = useLoad(() => (props.canRead ? api<Page<ProviderKey>>("GET", "/api/provider-keys?limit=200") : Promise.resolve(undefined)), []);
  const teams = useLoad(() => (props.canRead ? api<Page<Team>>("GET", "/api/teams?limit=200") : Promise.resolve(undefined)), []);
  const { notice, setNotice, action, modal, done } = usePageActions(() => list.reload());
  const mint = (e: Event): void => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    setNotice(null);
    void action.run(async () => {
      const name = value(form, "name");
      const created = await api<{ key: string; name: string }>("POST", "/api/proxy-keys", {
        ...(name ? { name } : {}),
        provider_key: value(form, "provider_key"),
        ...mintBody(form),
      });
      setSecret({ title: `Key "${created.name}" created`, key: created.key });
      form.reset();
      await list.reload();
    });
  };
  const edit = (k: ProxyKey): void => modal.open((close) => html`<${EditProxyKey} pk=${k} teams=${teams.data?.data} onClose=${close} onSaved=${done} />`);
  const revoke = (k: ProxyKey): void => modal.open((close) => html`<${RevokeProxyKey} pk=${k} onClose=${close} onRevoked=${done} />`);
  const rotated = (k: ProxyKey) => async (key: string) => {
    setSecret({ title: `Key "${k.name}" rotated`, key });
    await list.reload();
  };
  const rotate = (k: ProxyKey): void => modal.open((close) => html`<${RotateProxyKey} pk=${k} onClose=${close} onRotated=${rotated(k)} />`);
  const needle = search.trim().toLowerCase();
  const rows = (list.data?.data ?? []).filter((k) => !needle || k.name.toLowerCase().includes(needle) || k.id.toLowerCase().includes(needle));
  const teamName = (id: string | null): string => (id ? (teams.data?.data.find((t) => t.id === id)?.name ?? id) : "—");
  return html`<section aria-labelledby="px-title">
    <h2 id="px-title">Proxy keys</h2>
    ${secret ? html`<${SecretOnce} title=${secret.title} secret=${secret.key} onDone=${() => setSecret(null)} />` : null}
    ${
      props.admin || props.canIssue
        ? html`<form class="card" onSubmit=${mint} aria-label="Mint a proxy key">
            <h3>Mint a proxy key</h3>
            <div class="grid">
              <${Field} label=${props.admin ? "Name" : "Name (optional)"} id="px-name"
                ><input id="px-name" name="name" required=${props.admin} maxlength="100"
              /><//>
              <${Field} label="Provider key" id="px-provider">
                ${
                  props.canRead
                    ? html`<select id="px-provider" name="provider_key" required>
                        ${providerOptions(providers.data?.data)}
                      </select>`
                    : html`<input id="px-provider" name="provider_key" required placeholder="id or name" />`
                }
              <//>
              ${
                props.canRead
                  ? html`<${Field} label="Team" id="px-team"
                      ><select id="px-team" name="team_id">
                        ${teamOptions(teams.data?.data)}
                      </select><//
                    >`
                  : null
              }
              <${MintLimitFields} prefix="px" />
            </div>
            <button type="submit" disabled=${action.busy}>Mint key</button>
          </form>`
        : null
    }
    <${ErrorText} error=${action.error ?? list.error} />
    <${Notice} text=${notice} />
    ${
      props.canRead
        ? html`<div class="filters row">
              <${Field} label="Search by name or id" id="px-search"
                ><input id="px-search" type="search" value=${search} onInput=${(e: Event) => setSearch((e.currentTarget as HTMLInputElement).value)}
              /><//>
              <${Field} label="Status" id="px-status">
                <select
                  id="px-status"
                  value=${status}
                  onChange=${(e: Event) => {
                    setPages([]);
                    setStatus((e.currentTarget as HTMLSelectElement).value);
                  }}
                >
                  <option value="">any</option>
                  ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
                </select>
              <//>
            </div>
            <${Table}
              caption="Proxy keys"
              rows=${rows}
              empty="No proxy keys match."
              columns=${[
                { title: "Name", cell: (k: ProxyKey) => html`<span>${k.name}</span><br /><code>${k.key_hint}</code>` },
                { title: "Status", cell: (k: ProxyKey) => html`<span class=${`badge ${k.status === "active" ? "on" : "off"}`}>${k.status}</span>` },
                { title: "Spend", cell: (k: ProxyKey) => html`<${SpendBar} spend=${k.spend_usd} budget=${k.budget_usd} label=${`Spend of ${k.name}`} />` },
                { title: "Limits", cell: (k: ProxyKey) => limitSummary(k) },
                { title: "Team", cell: (k: ProxyKey) => teamName(k.team_id) },
                { title: "Expires", cell: (k: ProxyKey) => when(k.expires_at) },
                ...(props.admin
                  ? [
                      {
                        title: "Actions",
                        cell: (k: ProxyKey) =>
                          k.status === "revoked"
                            ? null
                            : html`<div class="row">
                                <button type="button" class="secondary" onClick=${() => edit(k)}>Edit ${k.name}</button>
                                <button type="button" class="secondary" onClick=${() => rotate(k)}>Rotate ${k.name}</button>
                                <button type="button" class="danger" onClick=${() => revoke(k)}>Revoke ${k.name}</button>
                              </div>`,
                      },
                    ]
                  : []),
              ]}
            />
            <div class="row">
              <button type="button" class="secondary" disabled=${pages.length === 0} onClick=${() => setPages([])}>First page</button>
              <button type="button" class="secondary" disabled=${!list.data?.next_cursor} onClick=${() => setPages([...pages, list.data?.next_cursor ?? ""])}>
                Next page
              </button>
            </div>`
        : html`<p>This token may mint keys within its policy; listing keys needs the read scope.</p>`
    }
    ${modal.node}
  </section>`;
}
