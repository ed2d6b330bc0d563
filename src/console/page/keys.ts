/** Provider keys, proxy keys, and an event's batch of keys. */
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import { api, query, send, type Page } from "./api.ts";
import { html } from "./html.ts";
import { ErrorText, Field, SecretOnce, SpendBar, Table, useAction, useLoad, usd, when } from "./ui.ts";

export interface ProviderKey {
  id: string;
  name: string;
  provider: string;
  base_url: string;
  key_hint: string;
  disabled: boolean;
}

export interface ProxyKey {
  id: string;
  name: string;
  provider_key_id: string;
  key_hint: string;
  status: string;
  expires_at: string | null;
  budget_usd: number | null;
  budget_period: string;
  spend_usd: number;
  team_id: string | null;
  rpm: number | null;
}

interface Team {
  id: string;
  name: string;
  budget_usd: number | null;
  spend_usd: number;
  disabled: boolean;
}

const PROVIDERS = ["openai", "anthropic", "gemini", "azure-openai", "openai-compatible"];
const STATUSES = ["active", "expired", "revoked", "provider-disabled"];

const value = (form: HTMLFormElement, name: string): string => {
  const el = form.elements.namedItem(name);
  return el instanceof HTMLInputElement || el instanceof HTMLSelectElement ? el.value.trim() : "";
};
const num = (form: HTMLFormElement, name: string): number | undefined => {
  const v = value(form, name);
  return v === "" ? undefined : Number(v);
};

export function ProviderKeys(props: { admin: boolean }): VNode {
  const list = useLoad(() => api<Page<ProviderKey>>("GET", "/api/provider-keys?limit=200"), []);
  const action = useAction();
  const add = (e: Event): void => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    void action.run(async () => {
      const base = value(form, "base_url");
      await api("POST", "/api/provider-keys", {
        name: value(form, "name"),
        provider: value(form, "provider"),
        key: value(form, "key"),
        ...(base ? { base_url: base } : {}),
      });
      form.reset();
      list.reload();
    });
  };
  const toggle = (k: ProviderKey): Promise<void> =>
    action.run(async () => {
      await api("PATCH", `/api/provider-keys/${encodeURIComponent(k.id)}`, { disabled: !k.disabled });
      list.reload();
    });
  const remove = (k: ProviderKey): Promise<void> =>
    action.run(async () => {
      const ok = window.confirm(
        `Delete provider key "${k.name}"?\n\nIts active proxy keys are revoked first (cascade), then its proxy keys' records are deleted with it. The audit log keeps their ids. This cannot be undone.`,
      );
      if (!ok) return;
      await api("DELETE", `/api/provider-keys/${encodeURIComponent(k.id)}?cascade=true`);
      list.reload();
    });
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
              <${Field} label="Base URL (optional)" id="pk-base"><input id="pk-base" name="base_url" type="url" placeholder="https://api.openai.com/v1" /><//>
            </div>
            <button type="submit" disabled=${action.busy}>Add provider key</button>
          </form>`
        : null
    }
    <${ErrorText} error=${action.error ?? list.error} />
    <${Table}
      caption="Provider keys"
      rows=${list.data?.data ?? []}
      empty="No provider keys yet."
      columns=${[
        { title: "Name", cell: (k: ProviderKey) => k.name },
        { title: "Provider", cell: (k: ProviderKey) => k.provider },
        { title: "Key", cell: (k: ProviderKey) => html`<code>${k.key_hint}</code>` },
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
                    <button type="button" class="secondary" onClick=${() => void toggle(k)}>${k.disabled ? "Enable" : "Disable"} ${k.name}</button>
                    <button type="button" class="danger" onClick=${() => void remove(k)}>Delete ${k.name}</button>
                  </div>`,
              },
            ]
          : []),
      ]}
    />
  </section>`;
}

function providerOptions(keys: ProviderKey[] | undefined): VNode[] {
  return (keys ?? []).map((k) => html`<option value=${k.id}>${k.name} (${k.provider})</option>`);
}

function teamOptions(teams: Team[] | undefined): VNode[] {
  return [html`<option value="">No team</option>`, ...(teams ?? []).map((t) => html`<option value=${t.id}>${t.name}</option>`)];
}

/** Fields shared by one key and a batch: limits and expiry. */
function LimitFields(props: { prefix: string }): VNode {
  const p = props.prefix;
  return html`<${Field} label="Budget (USD, optional)" id=${`${p}-budget`}><input id=${`${p}-budget`} name="budget_usd" type="number" min="0" step="0.01" /><//>
    <${Field} label="Budget period" id=${`${p}-period`}>
      <select id=${`${p}-period`} name="budget_period">
        ${["total", "daily", "weekly", "monthly"].map((v) => html`<option value=${v}>${v}</option>`)}
      </select>
    <//>
    <${Field} label="Requests per minute (optional)" id=${`${p}-rpm`}><input id=${`${p}-rpm`} name="rpm" type="number" min="1" step="1" /><//>
    <${Field} label="Expires after, hours (optional)" id=${`${p}-ttl`}><input id=${`${p}-ttl`} name="ttl_hours" type="number" min="0.01" step="any" /><//>`;
}

function limitBody(form: HTMLFormElement): Record<string, unknown> {
  const budget = num(form, "budget_usd");
  const rpm = num(form, "rpm");
  const ttl = num(form, "ttl_hours");
  const team = value(form, "team_id");
  return {
    ...(budget !== undefined ? { budget_usd: budget, budget_period: value(form, "budget_period") } : {}),
    ...(rpm !== undefined ? { rpm } : {}),
    ...(ttl !== undefined ? { ttl_seconds: Math.round(ttl * 3600) } : {}),
    ...(team ? { team_id: team } : {}),
  };
}

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
  const action = useAction();
  const mint = (e: Event): void => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    void action.run(async () => {
      const name = value(form, "name");
      const provider = value(form, "provider_key");
      const created = await api<{ key: string; name: string }>("POST", "/api/proxy-keys", {
        ...(name ? { name } : {}),
        provider_key: provider,
        ...limitBody(form),
      });
      setSecret({ title: `Key "${created.name}" created`, key: created.key });
      form.reset();
      list.reload();
    });
  };
  const revoke = (k: ProxyKey): Promise<void> =>
    action.run(async () => {
      if (!window.confirm(`Revoke "${k.name}"? Its next request is refused.`)) return;
      await api("POST", `/api/proxy-keys/${encodeURIComponent(k.id)}/revoke`, {});
      list.reload();
    });
  const rotate = (k: ProxyKey): Promise<void> =>
    action.run(async () => {
      const answer = window.prompt(`Rotate "${k.name}": for how many seconds should the old key keep working? (0: stop it now)`, "3600");
      if (answer === null) return;
      const rotated = await api<{ key: string }>("POST", `/api/proxy-keys/${encodeURIComponent(k.id)}/rotate`, { grace_seconds: Number(answer) });
      setSecret({ title: `Key "${k.name}" rotated`, key: rotated.key });
      list.reload();
    });
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
              <${LimitFields} prefix="px" />
            </div>
            <button type="submit" disabled=${action.busy}>Mint key</button>
          </form>`
        : null
    }
    <${ErrorText} error=${action.error ?? list.error} />
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
                                <button type="button" class="secondary" onClick=${() => void rotate(k)}>Rotate ${k.name}</button>
                                <button type="button" class="danger" onClick=${() => void revoke(k)}>Revoke ${k.name}</button>
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
  </section>`;
}

export function EventBatch(): VNode {
  const providers = useLoad(() => api<Page<ProviderKey>>("GET", "/api/provider-keys?limit=200"), []);
  const teams = useLoad(() => api<Page<Team>>("GET", "/api/teams?limit=200"), []);
  const action = useAction();
  const [done, setDone] = useState<string | null>(null);
  const submit = (e: Event): void => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    setDone(null);
    void action.run(async () => {
      let teamId = value(form, "team_id");
      const newTeam = value(form, "new_team");
      if (newTeam) {
        const teamBudget = num(form, "team_budget");
        const team = await api<Team>("POST", "/api/teams", { name: newTeam, ...(teamBudget !== undefined ? { budget_usd: teamBudget } : {}) });
        teamId = team.id;
        teams.reload();
      }
      const prefix = value(form, "name_prefix");
      const body = {
        count: num(form, "count") ?? 1,
        name_prefix: prefix,
        provider_key_id: value(form, "provider_key"),
        ...limitBody(form),
        ...(teamId ? { team_id: teamId } : {}),
      };
      const res = await send("POST", "/api/proxy-keys/batch", body, { accept: "text/csv" });
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = `${prefix}-keys.csv`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setDone(`${body.count} keys minted; ${prefix}-keys.csv downloaded. The keys are in that file only: they will not be shown again.`);
    });
  };
  return html`<section aria-labelledby="ev-title">
    <h2 id="ev-title">Event: mint a batch of keys</h2>
    <p>For a workshop or a hackathon: many keys with the same limits, in one team whose budget caps them all, handed out from a CSV.</p>
    <form class="card" onSubmit=${submit} aria-label="Mint a batch of keys">
      <div class="grid">
        <${Field} label="How many keys" id="ev-count"><input id="ev-count" name="count" type="number" min="1" max="1000" required value="10" /><//>
        <${Field} label="Name prefix" id="ev-prefix" hint="Keys are named prefix-001, prefix-002…"
          ><input id="ev-prefix" name="name_prefix" required maxlength="100" aria-describedby="ev-prefix-hint"
        /><//>
        <${Field} label="Provider key" id="ev-provider"
          ><select id="ev-provider" name="provider_key" required>
            ${providerOptions(providers.data?.data)}
          </select><//
        >
        <${Field} label="Existing team" id="ev-team"
          ><select id="ev-team" name="team_id">
            ${teamOptions(teams.data?.data)}
          </select><//
        >
        <${Field} label="Or a new team named" id="ev-new-team"><input id="ev-new-team" name="new_team" maxlength="100" /><//>
        <${Field} label="New team's budget (USD)" id="ev-team-budget"><input id="ev-team-budget" name="team_budget" type="number" min="0" step="0.01" /><//>
        <${LimitFields} prefix="ev" />
      </div>
      <button type="submit" disabled=${action.busy}>Mint and download CSV</button>
    </form>
    <${ErrorText} error=${action.error ?? providers.error} />
    ${done ? html`<p class="ok" role="status">${done}</p>` : null}
  </section>`;
}

export function Teams(): VNode {
  const list = useLoad(() => api<Page<Team>>("GET", "/api/teams?limit=200"), []);
  return html`<section aria-labelledby="tm-title">
    <h2 id="tm-title">Teams</h2>
    <${ErrorText} error=${list.error} />
    <${Table}
      caption="Teams"
      rows=${list.data?.data ?? []}
      empty="No teams yet."
      columns=${[
        { title: "Name", cell: (t: Team) => t.name },
        { title: "Spend", cell: (t: Team) => html`<${SpendBar} spend=${t.spend_usd} budget=${t.budget_usd} label=${`Spend of team ${t.name}`} />` },
        { title: "Status", cell: (t: Team) => (t.disabled ? "disabled" : "enabled") },
      ]}
    />
  </section>`;
}

export { usd };
