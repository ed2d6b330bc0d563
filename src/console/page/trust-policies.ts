/**
 * OIDC trust policies (admin scope only, reads included): which CI identities
 * may exchange their ID token for a short-lived proxy key. List, create, delete.
 */
import type { VNode } from "preact";
import { api, type Page } from "./api.ts";
import { ConfirmDialog } from "./dialog.ts";
import { list, num, splitList, value } from "./forms.ts";
import { html } from "./html.ts";
import { providerOptions, teamOptions, type ProviderKey, type Team } from "./models.ts";
import { filled, PairRows, usePairs } from "./pairs.ts";
import { ErrorText, Field, Notice, Table, useLoad, usd } from "./ui.ts";
import { usePageActions } from "./page-actions.ts";

interface TrustPolicy {
  id: string;
  name: string;
  issuer: string;
  audience: string;
  claims: Record<string, string[]>;
  provider_key_id: string;
  ttl_seconds: number;
  budget_usd: number;
  allowed_models: string[] | null;
  jwks_hosts: string[];
  team_id: string | null;
}

const GITHUB = "https://token.actions.githubusercontent.com";

function DeletePolicy(props: { policy: TrustPolicy; onClose: () => void; onDeleted: (message: string) => Promise<void> }): VNode {
  const p = props.policy;
  const remove = async (): Promise<void> => {
    await api("DELETE", `/api/oidc/trust-policies/${encodeURIComponent(p.id)}`);
    await props.onDeleted(`Deleted trust policy ${p.name}.`);
  };
  return html`<${ConfirmDialog} title=${`Delete trust policy ${p.name}?`} confirm="Delete policy" danger=${true} onConfirm=${remove} onClose=${props.onClose}>
    <p>No new exchanges under it. Keys it already minted live until they expire: revoke them on the proxy keys page to stop them sooner.</p>
  <//>`;
}

export function TrustPolicies(): VNode {
  const policies = useLoad(() => api<Page<TrustPolicy>>("GET", "/api/oidc/trust-policies?limit=200"), []);
  const providers = useLoad(() => api<Page<ProviderKey>>("GET", "/api/provider-keys?limit=200"), []);
  const teams = useLoad(() => api<Page<Team>>("GET", "/api/teams?limit=200"), []);
  const claims = usePairs([["repository", ""]]);
  const { notice, setNotice, action, modal, done } = usePageActions(() => policies.reload());
  const create = (e: Event): void => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    setNotice(null);
    void action.run(async () => {
      const minutes = num(form, "ttl_minutes");
      const team = value(form, "team_id");
      const created = await api<TrustPolicy>("POST", "/api/oidc/trust-policies", {
        name: value(form, "name"),
        issuer: value(form, "issuer"),
        audience: value(form, "audience"),
        claims: Object.fromEntries(filled(claims.rows).map(([name, values]) => [name, splitList(values)])),
        provider_key_id: value(form, "provider_key_id"),
        ttl_seconds: Math.round((minutes ?? 0) * 60),
        budget_usd: num(form, "budget_usd"),
        ...(list(form, "allowed_models") ? { allowed_models: list(form, "allowed_models") } : {}),
        ...(list(form, "jwks_hosts") ? { jwks_hosts: list(form, "jwks_hosts") } : {}),
        ...(team ? { team_id: team } : {}),
      });
      form.reset();
      claims.set([["repository", ""]]);
      await done(`Created trust policy ${created.name}.`);
    });
  };
  const providerName = (id: string): string => providers.data?.data.find((k) => k.id === id)?.name ?? id;
  const teamName = (id: string | null): string => (id ? (teams.data?.data.find((t) => t.id === id)?.name ?? id) : "—");
  const remove = (p: TrustPolicy): void => modal.open((close) => html`<${DeletePolicy} policy=${p} onClose=${close} onDeleted=${done} />`);
  return html`<section aria-labelledby="tp-title">
    <h2 id="tp-title">OIDC trust policies</h2>
    <p>
      A CI job's OIDC token from <em>issuer</em> for <em>audience</em>, whose claims all match, is exchanged at <code>POST /api/oidc/exchange</code> for a
      short-lived proxy key.
    </p>
    <form class="card" onSubmit=${create} aria-label="Create a trust policy">
      <h3>Create a trust policy</h3>
      <div class="grid">
        <${Field} label="Policy name (also the prefix of minted keys' names)" id="tp-name"><input id="tp-name" name="name" required maxlength="100" /><//>
        <${Field} label="Issuer" id="tp-issuer"><input id="tp-issuer" name="issuer" type="url" required defaultValue=${GITHUB} /><//>
        <${Field} label="Audience" id="tp-aud"><input id="tp-aud" name="audience" required defaultValue="keyward" /><//>
        <${Field} label="Provider key" id="tp-provider"
          ><select id="tp-provider" name="provider_key_id" required>
            ${providerOptions(providers.data?.data)}
          </select><//
        >
        <${Field} label="Key lifetime (minutes)" id="tp-ttl"
          ><input id="tp-ttl" name="ttl_minutes" type="number" min="1" max="10080" step="1" required defaultValue="60"
        /><//>
        <${Field} label="Key budget (USD)" id="tp-budget"><input id="tp-budget" name="budget_usd" type="number" min="0" step="0.01" required /><//>
        <${Field} label="Allowed models (comma-separated; empty: any)" id="tp-models"><input id="tp-models" name="allowed_models" /><//>
        <${Field} label="Extra JWKS hosts (comma-separated; optional)" id="tp-jwks"><input id="tp-jwks" name="jwks_hosts" /><//>
        <${Field} label="Team of minted keys" id="tp-team"
          ><select id="tp-team" name="team_id">
            ${teamOptions(teams.data?.data)}
          </select><//
        >
      </div>
      <${PairRows}
        id="tp-claim"
        legend="Claims every token must match (exact values, comma-separated alternatives)"
        item="Claim"
        left="Claim name"
        right="Allowed values"
        rows=${claims.rows}
        set=${claims.set}
      />
      <button type="submit" disabled=${action.busy}>Create policy</button>
    </form>
    <${ErrorText} error=${action.error ?? policies.error ?? providers.error} />
    <${Notice} text=${notice} />
    <${Table}
      caption="Trust policies"
      rows=${policies.data?.data ?? []}
      empty="No trust policies yet."
      columns=${[
        { title: "Name", cell: (p: TrustPolicy) => p.name },
        { title: "Issuer and audience", cell: (p: TrustPolicy) => html`<code>${p.issuer}</code><br />aud ${p.audience}` },
        {
          title: "Claims",
          cell: (p: TrustPolicy) =>
            html`<ul class="plain">
              ${Object.entries(p.claims).map(([k, v]) => html`<li><code>${k}</code> = ${v.join(" | ")}</li>`)}
            </ul>`,
        },
        { title: "Provider key", cell: (p: TrustPolicy) => providerName(p.provider_key_id) },
        {
          title: "Each key",
          cell: (p: TrustPolicy) => `${Math.round(p.ttl_seconds / 60)} min, ${usd(p.budget_usd)}${p.allowed_models ? `, ${p.allowed_models.join(", ")}` : ""}`,
        },
        { title: "Team", cell: (p: TrustPolicy) => teamName(p.team_id) },
        { title: "Actions", cell: (p: TrustPolicy) => html`<button type="button" class="danger" onClick=${() => remove(p)}>Delete ${p.name}</button>` },
      ]}
    />
    ${modal.node}
  </section>`;
}
