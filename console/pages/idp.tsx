/** One identity provider: its scripts, and its settings (name, flow, enabled, limits, HTTP allow-list). */
import { useEffect, useState } from 'preact/hooks';
import { api, config } from '../api';
import { ErrorMessage, Notice } from '../components/errors';
import { useAction, useLoad } from '../components/hooks';
import { href } from '../router';
import { type Egress, type IdentityProvider, type Limits, SCRIPT_KINDS } from '../types';

const LIMITS: Array<{ key: keyof Limits; label: string; hint: string }> = [
  { key: 'cpu_time_ms', label: 'CPU time (ms)', hint: '1–60000; installation default when empty' },
  { key: 'wall_time_ms', label: 'Wall time (ms)', hint: '1–600000, HTTP waits included' },
  { key: 'memory_mb', label: 'Heap (MiB)', hint: '8–4096' },
  { key: 'max_processes', label: 'Max sandbox processes', hint: '1–256' },
  { key: 'max_executions', label: 'Max executions in processes', hint: '1–1024' },
];

const lines = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);

function Settings({ idp, onSaved }: { idp: IdentityProvider; onSaved: (idp: IdentityProvider) => void }) {
  const [name, setName] = useState(idp.name ?? '');
  const [flow, setFlow] = useState(idp.flow);
  const [enabled, setEnabled] = useState(idp.enabled);
  const [limits, setLimits] = useState<Record<string, string>>(() =>
    Object.fromEntries(LIMITS.map(({ key }) => [key, idp.limits[key]?.toString() ?? ''])),
  );
  const [allow, setAllow] = useState((idp.http?.allow ?? []).join('\n'));
  const [addresses, setAddresses] = useState((idp.http?.allow_addresses ?? []).join('\n'));
  const action = useAction();
  const [notice, setNotice] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setNotice(null);
    const limitValues: Limits = {};
    for (const { key } of LIMITS) {
      const text = limits[key]?.trim();
      if (text) limitValues[key] = Number(text);
    }
    const http: Egress = {};
    if (lines(allow).length > 0) http.allow = lines(allow);
    if (lines(addresses).length > 0) http.allow_addresses = lines(addresses);
    const saved = await action.run(() =>
      api.patch<IdentityProvider>(config('identity-providers', idp.id), {
        name: name || null,
        flow,
        enabled,
        limits: limitValues,
        http: http.allow || http.allow_addresses ? http : null,
      }),
    );
    if (saved) {
      setNotice('Settings saved.');
      onSaved(saved);
    }
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby="settings-title">
      <h2 id="settings-title">Settings</h2>
      <div class="row">
        <div class="field">
          <label for="set-name">Name</label>
          <input id="set-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="set-flow">Flow</label>
          <select id="set-flow" value={flow} onChange={(e) => setFlow(e.currentTarget.value as typeof flow)}>
            <option value="one_step">one_step</option>
            <option value="two_step">two_step</option>
          </select>
        </div>
        <div class="field check">
          <input
            id="set-enabled"
            type="checkbox"
            checked={enabled}
            onChange={(e) => setEnabled(e.currentTarget.checked)}
          />
          <label for="set-enabled">Enabled</label>
        </div>
      </div>
      <fieldset>
        <legend>Limits (empty: the installation's)</legend>
        <div class="row wrap">
          {LIMITS.map(({ key, label, hint }) => (
            <div class="field" key={key}>
              <label for={`limit-${key}`}>{label}</label>
              <input
                id={`limit-${key}`}
                inputMode="numeric"
                value={limits[key] ?? ''}
                aria-describedby={`limit-${key}-hint`}
                onInput={(e) => {
                  const value = e.currentTarget.value;
                  setLimits((old) => ({ ...old, [key]: value }));
                }}
              />
              <small id={`limit-${key}-hint`}>{hint}</small>
            </div>
          ))}
        </div>
      </fieldset>
      <fieldset>
        <legend>Outbound HTTP (added to the installation's allow-list)</legend>
        <div class="row wrap">
          <div class="field grow">
            <label for="http-allow">Allowed hosts, one per line</label>
            <textarea
              id="http-allow"
              rows={3}
              class="mono"
              value={allow}
              placeholder="https://api.example.com"
              onInput={(e) => setAllow(e.currentTarget.value)}
            />
          </div>
          <div class="field grow">
            <label for="http-addresses">Allowed special addresses (CIDR), one per line</label>
            <textarea
              id="http-addresses"
              rows={3}
              class="mono"
              value={addresses}
              placeholder="10.1.2.0/24"
              onInput={(e) => setAddresses(e.currentTarget.value)}
            />
          </div>
        </div>
      </fieldset>
      <ErrorMessage error={action.error} />
      <Notice text={notice} />
      <button type="submit" disabled={action.busy}>
        Save settings
      </button>
    </form>
  );
}

export function IdpPage({ idpId }: { idpId: string }) {
  const {
    data: idp,
    error,
    setData,
  } = useLoad(() => api.get<IdentityProvider>(config('identity-providers', idpId)), [idpId]);
  useEffect(() => {
    document.title = `${idpId} · Registrar console`;
  }, [idpId]);
  return (
    <section aria-labelledby="idp-title">
      <p class="crumbs">
        <a href={href('identity-providers')}>Identity providers</a> /
      </p>
      <h1 id="idp-title">{idpId}</h1>
      <ErrorMessage error={error} />
      {idp ? (
        <>
          <div class="card">
            <h2>Scripts</h2>
            <ul class="plain">
              {SCRIPT_KINDS.filter((kind) => kind !== 'init' || idp.flow === 'two_step').map((kind) => {
                const script = idp.scripts[kind];
                return (
                  <li key={kind}>
                    <a href={href('identity-providers', idp.id, 'scripts', kind)}>{kind}</a>{' '}
                    {script ? (
                      <>
                        version {script.version} ·{' '}
                        <a href={href('identity-providers', idp.id, 'scripts', kind, 'versions')}>versions</a>
                      </>
                    ) : (
                      <span class="hint">none yet: open it to write one</span>
                    )}
                  </li>
                );
              })}
            </ul>
          </div>
          <Settings key={idp.id} idp={idp} onSaved={setData} />
        </>
      ) : null}
    </section>
  );
}
