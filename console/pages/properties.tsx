/** Properties scripts read with PROPERTIES.get: sensitive values are write-only and read as `********`. */
import { useState } from 'preact/hooks';
import { api, config, query } from '../api';
import { ErrorMessage, Notice } from '../components/errors';
import { useAction, usePagedList } from '../components/hooks';
import { LoadMore } from '../components/row-actions';
import type { Property } from '../types';

/** A value field: masked while the value is (to be) sensitive. */
function ValueInput(props: {
  id: string;
  sensitive: boolean;
  value: string;
  placeholder?: string;
  onInput: (value: string) => void;
}) {
  const common = {
    id: props.id,
    class: 'mono grow',
    autoComplete: 'off',
    placeholder: props.placeholder ?? '',
    value: props.value,
    onInput: (e: { currentTarget: HTMLInputElement }) => props.onInput(e.currentTarget.value),
  };
  return props.sensitive ? <input type="password" {...common} /> : <input type="text" {...common} />;
}

function PropertyRow({ property, onChanged }: { property: Property; onChanged: (text: string) => void }) {
  const [value, setValue] = useState(property.sensitive ? '' : property.value);
  const [sensitive, setSensitive] = useState(property.sensitive);
  const action = useAction();
  const id = `prop-${property.id}`;
  const save = async (event: Event) => {
    event.preventDefault();
    const body: Record<string, unknown> = { sensitive };
    // A sensitive value is never read back: only a typed value replaces it.
    if (!property.sensitive || value !== '') body.value = value;
    const done = await action.run(() => api.patch<Property>(config('properties', property.id), body));
    if (done) onChanged(`${property.id} saved.`);
  };
  const remove = async () => {
    if (!confirm(`Delete property ${property.id}?`)) return;
    const done = await action.run(async () => {
      await api.del(config('properties', property.id));
      return true;
    });
    if (done) onChanged(`${property.id} deleted.`);
  };
  return (
    <tr data-property={property.id}>
      <th scope="row" class="mono">
        {property.id}
      </th>
      <td>
        <form class="row" onSubmit={save}>
          <label class="sr-only" for={`${id}-value`}>
            Value of {property.id}
          </label>
          <ValueInput
            id={`${id}-value`}
            sensitive={property.sensitive}
            placeholder={property.sensitive ? `${property.value} (write-only: type a new value)` : ''}
            value={value}
            onInput={setValue}
          />
          <span class="check">
            <input
              id={`${id}-sensitive`}
              type="checkbox"
              checked={sensitive}
              onChange={(e) => setSensitive(e.currentTarget.checked)}
            />
            <label for={`${id}-sensitive`}>sensitive</label>
          </span>
          <button type="submit" disabled={action.busy}>
            Save<span class="sr-only"> {property.id}</span>
          </button>
          <button type="button" class="danger" onClick={remove} disabled={action.busy}>
            Delete<span class="sr-only"> {property.id}</span>
          </button>
        </form>
        <ErrorMessage error={action.error} />
      </td>
    </tr>
  );
}

export function PropertiesPage() {
  const list = usePagedList<Property>(
    (cursor) => `${config('properties')}${query({ limit: 50, cursor })}`,
    [],
  );
  const [notice, setNotice] = useState<string | null>(null);
  const [id, setId] = useState('');
  const [value, setValue] = useState('');
  const [sensitive, setSensitive] = useState(false);
  const create = useAction();
  const changed = (text: string) => {
    setNotice(text);
    list.reload();
  };
  const submit = async (event: Event) => {
    event.preventDefault();
    const done = await create.run(() => api.post<Property>(config('properties'), { id, value, sensitive }));
    if (done) {
      setId('');
      setValue('');
      setSensitive(false);
      changed(`${done.id} created.`);
    }
  };
  return (
    <section aria-labelledby="props-title">
      <h1 id="props-title">Properties</h1>
      <p class="hint">
        Scripts read these with <code>PROPERTIES.get(id)</code>. Sensitive values are encrypted at rest and
        never shown again: they read as <code>********</code>.
      </p>
      <ErrorMessage error={list.error} />
      <Notice text={notice} />
      <table>
        <thead>
          <tr>
            <th scope="col">Id</th>
            <th scope="col">Value</th>
          </tr>
        </thead>
        <tbody>
          {list.items.map((property) => (
            <PropertyRow
              key={`${property.id}:${property.value}:${property.sensitive}`}
              property={property}
              onChanged={changed}
            />
          ))}
        </tbody>
      </table>
      <LoadMore list={list} />
      <form class="card" onSubmit={submit} aria-labelledby="new-prop-title">
        <h2 id="new-prop-title">New property</h2>
        <div class="row wrap">
          <div class="field">
            <label for="new-prop-id">Id</label>
            <input id="new-prop-id" required value={id} onInput={(e) => setId(e.currentTarget.value)} />
          </div>
          <div class="field grow">
            <label for="new-prop-value">Value</label>
            <ValueInput id="new-prop-value" sensitive={sensitive} value={value} onInput={setValue} />
          </div>
          <div class="field check">
            <input
              id="new-prop-sensitive"
              type="checkbox"
              checked={sensitive}
              onChange={(e) => setSensitive(e.currentTarget.checked)}
            />
            <label for="new-prop-sensitive">Sensitive</label>
          </div>
          <button type="submit" disabled={create.busy}>
            Create
          </button>
        </div>
        <ErrorMessage error={create.error} />
      </form>
    </section>
  );
}
