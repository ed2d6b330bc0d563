/**
 * Admin tokens: create one (its scopes; a keys:issue token's minting policy),
 * see it once, revoke.
 */
import type { VNode } from "preact";
import { useState } from "preact/hooks";
import { api, type Page } from "./api.ts";
import { ConfirmDialog } from "./dialog.ts";
import { checked, defined, list, num, value } from "./forms.ts";
import { html } from "./html.ts";
import { teamOptions, type ProviderKey, type Team } from "./models.ts";
import { ErrorText, Field, Notice, SecretOnce, Table, useLoad, usd, when } from "./ui.ts";
import { usePageActions } from "./page-actions.ts";

interface Policy {
  provider_key_ids: string[];
  max_ttl_seconds: number;
  max_budget_usd: number;
}

interface AdminToken {
  id: string;
  name: string;
  scopes: string[];
  key_hint: string;
  status: string;
  expires_at: string | null;
  created_at: string;
  policy: Policy | null;
}

const SCOPES: [string, string][] = [
  ["admin", "admin: everything"],
  ["read", "read: lists, usage and logs"],
  ["keys:issue", "keys:issue: mint proxy keys within a policy (for CI)"],
];

/** The bounds of a keys:issue token, shown only when that scope is ticked. */
function PolicyFields(props: { providers: ProviderKey[] | undefined; teams: Team[] | undefined }): VNode {
  return html`<fieldset>
    <legend>Minting policy (keys:issue)</legend>
    <fieldset class="checks">
      <legend>Provider keys it may mint on</legend>
      ${(props.providers ?? []).map(
        (k) =>
          html`<div class="check">
            <input id=${`at-pk-${k.id}`} type="checkbox" name="provider_key_ids" value=${k.id} />
            <label for=${`at-pk-${k.id}`}>${k.name} (${k.provider})</label>
          </div>`,
      )}
    </fieldset>
    <div class="grid">
      <${Field} label="Longest key lifetime (hours)" id="at-ttl"><input id="at-ttl" name="max_ttl_hours" type="number" min="0.01" step="any" required /><//>
      <${Field} label="Largest key budget (USD)" id="at-budget"><input id="at-budget" name="max_budget_usd" type="number" min="0" step="0.01" required /><//>
      <${Field} label="Allowed models (comma-separated; empty: any)" id="at-models"><input id="at-models" name="allowed_models" /><//>
      <${Field} label="Key name prefix (optional)" id="at-prefix"><input id="at-prefix" name="name_prefix" maxlength="100" /><//>
      <${Field} label="Keys per hour (optional)" id="at-rate"><input id="at-rate" name="max_keys_per_hour" type="number" min="1" step="1" /><//>
      <${Field} label="Team of minted keys" id="at-team"
        ><select id="at-team" name="team_id">
          ${teamOptions(props.teams)}
        </select><//
      >
    </div>
  </fieldset>`;
}

function policyBody(form: HTMLFormElement): Record<string, unknown> {
  const hours = num(form, "max_ttl_hours");
  return defined({
    provider_key_ids: checked(form, "provider_key_ids"),
    max_ttl_seconds: hours === undefined ? undefined : Math.round(hours * 3600),
    max_budget_usd: num(form, "max_budget_usd"),
    allowed_models: list(form, "allowed_models"),
    name_prefix: value(form, "name_prefix") || undefined,
    max_keys_per_hour: num(form, "max_keys_per_hour"),
    team_id: value(form, "team_id") || undefined,
  });
}

function RevokeToken(props: { token: AdminToken; self: boolean; onClose: () => void; onRevoked: (message: string) => Promise<void> }): VNode {
  const t = props.token;
  const revoke = async (): Promise<void> => {
    await api("POST", `/api/admin-tokens/${encodeURIComponent(t.id)}/revoke`);
    await props.onRevoked(`Revoked admin token ${t.name}.`);
  };
  return html`<${ConfirmDialog} title=${`Revoke admin token ${t.name}?`} confirm="Revoke token" danger=${true} onConfirm=${revoke} onClose=${props.onClose}>
    <p>Its next request is refused. ${props.self ? html`<strong>This is the token of this session: the console stops working.</strong>` : null}</p>
  <//>`;
}

export function AdminTokens(props: { admin: boolean; selfId: string }): VNode {
  const tokens = useLoad(() => api<Page<AdminToken>>("GET", "/api/admin-tokens?limit=200"), []);
  const providers = useLoad(() => (props.admin ? api<Page<ProviderKey>>("GET", "/api/provider-keys?limit=200") : Promise.resolve(undefined)), []);
  const teams = useLoad(() => (props.admin ? api<Page<Team>>("GET", "/api/teams?limit=200") : Promise.resolve(undefined)), []);
  const [issuer, setIssuer] = useState(false);
  const [secret, setSecret] = useState<{ name: string; token: string } | null>(null);
  const { notice, setNotice, action, modal, done } = usePageActions(() => tokens.reload());
  const create = (e: Event): void => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    setNotice(null);
    void action.run(async () => {
      const scopes = checked(form, "scopes");
      const days = num(form, "expires_days");
      const created = await api<AdminToken & { token: string }>("POST", "/api/admin-tokens", {
        name: value(form, "name"),
        scopes,
        ...(days !== undefined ? { expires_at: new Date(Date.now() + days * 86_400_000).toISOString() } : {}),
        ...(scopes.includes("keys:issue") ? { policy: policyBody(form) } : {}),
      });
      setSecret({ name: created.name, token: created.token });
      form.reset();
      setIssuer(false);
      await tokens.reload();
    });
  };
  const revoke = (t: AdminToken): void =>
    modal.open((close) => html`<${RevokeToken} token=${t} self=${t.id === props.selfId} onClose=${close} onRevoked=${done} />`);
  return html`<section aria-labelledby="at-title">
    <h2 id="at-title">Admin tokens</h2>
    ${
      secret
        ? html`<${SecretOnce} title=${`Admin token "${secret.name}" created`} what="token" secret=${secret.token} onDone=${() => setSecret(null)} />`
        : null
    }
    ${
      props.admin
        ? html`<form class="card" onSubmit=${create} aria-label="Create an admin token">
            <h3>Create an admin token</h3>
            <div class="grid">
              <${Field} label="Token name" id="at-name"><input id="at-name" name="name" required maxlength="100" /><//>
              <${Field} label="Expires after, days (optional)" id="at-exp"><input id="at-exp" name="expires_days" type="number" min="0.01" step="any" /><//>
            </div>
            <fieldset class="checks">
              <legend>Scopes</legend>
              ${SCOPES.map(
                ([scope, label]) =>
                  html`<div class="check">
                    <input
                      id=${`at-scope-${scope}`}
                      type="checkbox"
                      name="scopes"
                      value=${scope}
                      onChange=${scope === "keys:issue" ? (e: Event) => setIssuer((e.currentTarget as HTMLInputElement).checked) : undefined}
                    />
                    <label for=${`at-scope-${scope}`}>${label}</label>
                  </div>`,
              )}
            </fieldset>
            ${issuer ? html`<${PolicyFields} providers=${providers.data?.data} teams=${teams.data?.data} />` : null}
            <button type="submit" disabled=${action.busy}>Create token</button>
          </form>`
        : null
    }
    <${ErrorText} error=${action.error ?? tokens.error} />
    <${Notice} text=${notice} />
    <${Table}
      caption="Admin tokens"
      rows=${tokens.data?.data ?? []}
      columns=${[
        {
          title: "Name",
          cell: (t: AdminToken) => html`${t.name}${t.id === props.selfId ? html` <small>(this session)</small>` : null}<br /><code>${t.key_hint}</code>`,
        },
        { title: "Scopes", cell: (t: AdminToken) => t.scopes.join(", ") },
        {
          title: "Policy",
          cell: (t: AdminToken) => (t.policy ? `≤ ${Math.round(t.policy.max_ttl_seconds / 360) / 10} h, ≤ ${usd(t.policy.max_budget_usd)} per key` : "—"),
        },
        { title: "Status", cell: (t: AdminToken) => html`<span class=${`badge ${t.status === "active" ? "on" : "off"}`}>${t.status}</span>` },
        { title: "Expires", cell: (t: AdminToken) => when(t.expires_at) },
        ...(props.admin
          ? [
              {
                title: "Actions",
                cell: (t: AdminToken) =>
                  t.status === "active" ? html`<button type="button" class="danger" onClick=${() => revoke(t)}>Revoke ${t.name}</button>` : null,
              },
            ]
          : []),
      ]}
    />
    ${modal.node}
  </section>`;
}
