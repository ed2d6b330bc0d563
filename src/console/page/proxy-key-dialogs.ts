/** Changing one proxy key: its limits, team and expiry (PATCH), a new secret (rotate, with grace), revoking it. */
import type { VNode } from "preact";
import { api } from "./api.ts";
import { ConfirmDialog, FormDialog } from "./dialog.ts";
import { defined, fromUtcInput, num, utcInput, value } from "./forms.ts";
import { html } from "./html.ts";
import { LimitFields, limitsPatch } from "./limits.ts";
import { teamOptions, type ProxyKey, type Team } from "./models.ts";
import { Field } from "./ui.ts";

const path = (k: ProxyKey, tail = ""): string => `/api/proxy-keys/${encodeURIComponent(k.id)}${tail}`;

export function EditProxyKey(props: { pk: ProxyKey; teams: Team[] | undefined; onClose: () => void; onSaved: (message: string) => Promise<void> }): VNode {
  const k = props.pk;
  const save = async (form: HTMLFormElement): Promise<void> => {
    const name = value(form, "name");
    const team = value(form, "team_id") || null;
    const expires = fromUtcInput(value(form, "expires_at"));
    const body = defined({
      name: name !== k.name ? name : undefined,
      team_id: team !== k.team_id ? team : undefined,
      // Compared at the minute the field shows, so an untouched field never rewrites the seconds away.
      expires_at: utcInput(expires) !== utcInput(k.expires_at) ? expires : undefined,
      ...limitsPatch(form, k),
    });
    if (Object.keys(body).length === 0) return;
    const saved = await api<ProxyKey>("PATCH", path(k), body);
    await props.onSaved(`Saved ${saved.name}.`);
  };
  return html`<${FormDialog} title=${`Edit proxy key ${k.name}`} submit="Save" onSubmit=${save} onClose=${props.onClose} wide=${true}>
    <div class="grid">
      <${Field} label="Name" id="pxe-name"><input id="pxe-name" name="name" required maxlength="200" defaultValue=${k.name} /><//>
      <${Field} label="Team" id="pxe-team"
        ><select id="pxe-team" name="team_id">
          ${teamOptions(props.teams, k.team_id)}
        </select><//
      >
      <${Field} label="Expires at (UTC; empty: never)" id="pxe-expires"
        ><input id="pxe-expires" name="expires_at" type="datetime-local" defaultValue=${utcInput(k.expires_at)}
      /><//>
      <${LimitFields} prefix="pxe" current=${k} />
    </div>
  <//>`;
}

export function RotateProxyKey(props: { pk: ProxyKey; onClose: () => void; onRotated: (key: string) => Promise<void> }): VNode {
  const k = props.pk;
  const rotate = async (form: HTMLFormElement): Promise<void> => {
    const hours = num(form, "grace_hours") ?? 0;
    const rotated = await api<{ key: string }>("POST", path(k, "/rotate"), { grace_seconds: Math.round(hours * 3600) });
    await props.onRotated(rotated.key);
  };
  return html`<${FormDialog} title=${`Rotate proxy key ${k.name}`} submit="Rotate" onSubmit=${rotate} onClose=${props.onClose}>
    <p>A new secret for the same key: limits, spend and expiry stay. The new key is shown once.</p>
    <${Field} label="Old key keeps working for (hours; 0: stops now)" id="rot-grace" hint="At most a week (168 hours)."
      ><input id="rot-grace" name="grace_hours" type="number" min="0" max="168" step="any" defaultValue="1" required aria-describedby="rot-grace-hint"
    /><//>
  <//>`;
}

export function RevokeProxyKey(props: { pk: ProxyKey; onClose: () => void; onRevoked: (message: string) => Promise<void> }): VNode {
  const k = props.pk;
  const revoke = async (): Promise<void> => {
    await api("POST", path(k, "/revoke"), {});
    await props.onRevoked(`Revoked ${k.name}.`);
  };
  return html`<${ConfirmDialog} title=${`Revoke proxy key ${k.name}?`} confirm="Revoke" danger=${true} onConfirm=${revoke} onClose=${props.onClose}>
    <p>Its next request is refused (401). A revoked key cannot be restored: mint a new one.</p>
  <//>`;
}
