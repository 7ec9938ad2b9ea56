/**
 * A script's versions, newest first: pick one to see it side by side with the active
 * version, and activate it in one click (a rollback when it is older).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, config, query } from '../api';
import { ErrorMessage, Notice } from '../components/errors';
import { useAction, usePagedList } from '../components/hooks';
import { LoadMore } from '../components/row-actions';
import { createDiff } from '../editor/diff';
import { href } from '../router';
import type { Version, VersionInfo } from '../types';

function Diff({ selected, active }: { selected: Version; active: Version }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!host.current) return;
    const diff = createDiff(
      host.current,
      { source: selected.source, label: `version ${selected.version}` },
      { source: active.source, label: `active version ${active.version}` },
    );
    return () => diff.destroy();
  }, [selected, active]);
  return (
    <div>
      <div class="diff-labels" aria-hidden="true">
        <span>version {selected.version}</span>
        <span>active: version {active.version}</span>
      </div>
      <div class="diff-host" ref={host} data-testid="version-diff" />
    </div>
  );
}

export function VersionsPage({ idpId, kind }: { idpId: string; kind: string }) {
  const base = config('identity-providers', idpId, 'scripts', kind, 'versions');
  const list = usePagedList<VersionInfo>((cursor) => `${base}${query({ limit: 50, cursor })}`, [base]);
  const [selected, setSelected] = useState<Version | null>(null);
  const [active, setActive] = useState<Version | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const action = useAction();
  const activeInfo = list.items.find((item) => item.active);

  useEffect(() => {
    if (!activeInfo) return;
    void action.run(async () => setActive(await api.get<Version>(`${base}/${activeInfo.version}`)));
  }, [activeInfo?.version, base]);

  const select = (version: number) =>
    action.run(async () => setSelected(await api.get<Version>(`${base}/${version}`)));

  const activate = async (version: number) => {
    const done = await action.run(() => api.post<VersionInfo>(`${base}/${version}/activate`));
    if (done) {
      setNotice(`Version ${version} is active now.`);
      setSelected(null);
      list.reload();
    }
  };

  return (
    <section aria-labelledby="versions-title">
      <p class="crumbs">
        <a href={href('identity-providers')}>Identity providers</a> /{' '}
        <a href={href('identity-providers', idpId)}>{idpId}</a> /{' '}
        <a href={href('identity-providers', idpId, 'scripts', kind)}>{kind} script</a> /
      </p>
      <h1 id="versions-title">Versions of the {kind} script</h1>
      <ErrorMessage error={list.error ?? action.error} />
      <Notice text={notice} />
      <table>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Saved</th>
            <th scope="col">SHA-256</th>
            <th scope="col">State</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {list.items.map((item) => (
            <tr
              key={item.version}
              data-version={item.version}
              class={selected?.version === item.version ? 'selected' : ''}
            >
              <td>{item.version}</td>
              <td>{new Date(item.created_at).toLocaleString()}</td>
              <td class="mono">{item.sha256.slice(0, 12)}</td>
              <td>{item.active ? <strong>active</strong> : ''}</td>
              <td class="actions">
                <button type="button" class="secondary" onClick={() => select(item.version)}>
                  Compare with active<span class="sr-only"> (version {item.version})</span>
                </button>
                {item.active ? null : (
                  <button type="button" onClick={() => activate(item.version)} disabled={action.busy}>
                    Activate version {item.version}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <LoadMore list={list} />
      {selected && active ? (
        <section aria-label={`Version ${selected.version} against the active version ${active.version}`}>
          <h2>
            Version {selected.version} against the active version {active.version}
          </h2>
          <Diff selected={selected} active={active} />
        </section>
      ) : (
        <p class="hint">Choose "Compare with active" to see a version beside the active one.</p>
      )}
    </section>
  );
}
