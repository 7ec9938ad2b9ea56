/** API clients: list, create and rotate (the new secret is shown once), change scopes, delete. */
import { useState } from 'preact/hooks';
import { api, config, query } from '../api';
import { ErrorMessage, Notice } from '../components/errors';
import { useAction, usePagedList } from '../components/hooks';
import { ClientRowActions, LoadMore } from '../components/row-actions';
import { generateSecret, SecretOnce } from '../components/secret';
import type { ApiClient } from '../types';

const SCOPES = ['user_registration', 'admin', 'token_introspection'];

function ScopeChoice({
  idPrefix,
  scopes,
  onChange,
}: {
  idPrefix: string;
  scopes: string[];
  onChange: (scopes: string[]) => void;
}) {
  return (
    <fieldset class="scopes">
      <legend>Scopes</legend>
      {SCOPES.map((scope) => (
        <span class="check" key={scope}>
          <input
            id={`${idPrefix}-${scope}`}
            type="checkbox"
            checked={scopes.includes(scope)}
            onChange={(e) =>
              onChange(e.currentTarget.checked ? [...scopes, scope] : scopes.filter((s) => s !== scope))
            }
          />
          <label for={`${idPrefix}-${scope}`}>{scope}</label>
        </span>
      ))}
    </fieldset>
  );
}

export function ApiClientsPage() {
  const list = usePagedList<ApiClient>(
    (cursor) => `${config('api-clients')}${query({ limit: 50, cursor })}`,
    [],
  );
  const [secret, setSecret] = useState<{ clientId: string; secret: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['user_registration']);
  const action = useAction();
  const create = async (event: Event) => {
    event.preventDefault();
    const newSecret = generateSecret();
    const done = await action.run(() =>
      api.post<ApiClient>(config('api-clients'), {
        client_id: id,
        client_secret: newSecret,
        name: name || null,
        scopes,
      }),
    );
    if (done) {
      setSecret({ clientId: done.client_id, secret: newSecret });
      setId('');
      setName('');
      list.reload();
    }
  };
  const rotate = async (client: ApiClient) => {
    if (!confirm(`Give ${client.client_id} a new secret? The old one stops working at once.`)) return;
    const newSecret = generateSecret();
    const done = await action.run(() =>
      api.patch<ApiClient>(config('api-clients', client.client_id), { client_secret: newSecret }),
    );
    if (done) setSecret({ clientId: done.client_id, secret: newSecret });
  };
  const setClientScopes = async (client: ApiClient, next: string[]) => {
    const done = await action.run(() =>
      api.patch<ApiClient>(config('api-clients', client.client_id), { scopes: next }),
    );
    if (done) {
      setNotice(`${client.client_id}: scopes saved.`);
      list.reload();
    }
  };
  const remove = async (client: ApiClient) => {
    if (!confirm(`Delete API client ${client.client_id}? Its sessions and credentials stop working at once.`))
      return;
    const done = await action.run(async () => {
      await api.del(config('api-clients', client.client_id));
      return true;
    });
    if (done) {
      setNotice(`${client.client_id} deleted.`);
      list.reload();
    }
  };
  return (
    <section aria-labelledby="clients-title">
      <h1 id="clients-title">API clients</h1>
      <p class="hint">
        Server-side callers: portals (user_registration), administrators (admin), token introspection.
      </p>
      <ErrorMessage error={list.error ?? action.error} />
      <Notice text={notice} />
      {secret ? (
        <SecretOnce clientId={secret.clientId} secret={secret.secret} onDone={() => setSecret(null)} />
      ) : null}
      <table>
        <thead>
          <tr>
            <th scope="col">Client id</th>
            <th scope="col">Name</th>
            <th scope="col">Scopes</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {list.items.map((client) => (
            <tr key={client.client_id} data-client={client.client_id}>
              <th scope="row" class="mono">
                {client.client_id}
              </th>
              <td>{client.name ?? ''}</td>
              <td>
                <ScopeChoice
                  idPrefix={`scope-${client.client_id}`}
                  scopes={client.scopes}
                  onChange={(next) => setClientScopes(client, next)}
                />
              </td>
              <ClientRowActions
                clientId={client.client_id}
                busy={action.busy}
                onRotate={() => rotate(client)}
                onDelete={() => remove(client)}
              />
            </tr>
          ))}
        </tbody>
      </table>
      <LoadMore list={list} />
      <form class="card" onSubmit={create} aria-labelledby="new-client-title">
        <h2 id="new-client-title">New API client</h2>
        <p class="hint">The console generates a random secret and shows it once.</p>
        <div class="row wrap">
          <div class="field">
            <label for="new-client-id">Client id</label>
            <input id="new-client-id" required value={id} onInput={(e) => setId(e.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="new-client-name">Name</label>
            <input id="new-client-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </div>
          <ScopeChoice idPrefix="new-client-scope" scopes={scopes} onChange={setScopes} />
          <button type="submit" disabled={action.busy}>
            Create
          </button>
        </div>
      </form>
    </section>
  );
}
