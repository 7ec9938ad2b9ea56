/**
 * An IdP's script in the editor, with the test panel beside it: save (compile errors shown
 * at their line) and dry-run the draft.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, call, config } from '../api';
import { ErrorMessage, Notice } from '../components/errors';
import { problemsOf } from '../editor/problems';
import { createScriptEditor, type ScriptEditor } from '../editor/script-editor';
import { href } from '../router';
import type { ActiveScript } from '../types';
import { TestPanel } from './test-panel';

const NEW_SCRIPT = `function execute(requestPayload, userIdentifier, registrationData, hookContextCustomParams) {
  LOG.info("got {}", requestPayload);
  return { status: 2000, responsePayload: requestPayload };
}
`;

export function ScriptPage({ idpId, kind }: { idpId: string; kind: string }) {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<ScriptEditor | null>(null);
  const [active, setActive] = useState<ActiveScript | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [dirty, setDirty] = useState(false);
  const path = config('identity-providers', idpId, 'scripts', kind);

  useEffect(() => {
    let live = true;
    setActive(undefined);
    call<ActiveScript>('GET', path).then(
      ({ data }) => live && setActive(data),
      (reason: unknown) => {
        if (!live) return;
        if (
          reason instanceof ApiError &&
          reason.status === 404 &&
          reason.description.includes('active script')
        ) {
          setActive(null);
        } else setError(reason);
      },
    );
    return () => {
      live = false;
    };
  }, [path]);

  useEffect(() => {
    if (active === undefined || !host.current) return;
    const mounted = createScriptEditor(host.current, {
      source: active?.source ?? NEW_SCRIPT,
      label: `${kind} script of ${idpId}`,
      onChange: () => setDirty(true),
    });
    editor.current = mounted;
    return () => {
      mounted.destroy();
      editor.current = null;
    };
  }, [active === undefined, idpId, kind]);

  const showError = (reason: unknown) => {
    setError(reason);
    editor.current?.showProblems(problemsOf(reason));
  };

  const save = async () => {
    const current = editor.current;
    if (!current) return;
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      const { data, response } = await call<ActiveScript>('PUT', path, { source: current.source() });
      current.showProblems([]);
      setDirty(false);
      setNotice(
        response.status === 201
          ? `Saved as version ${data.version}; it is active now.`
          : `No change: version ${data.version} already has this source.`,
      );
      setActive((old) => (old ? { ...old, ...data } : old));
    } catch (reason) {
      showError(reason);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="script-title" class="script-page">
      <p class="crumbs">
        <a href={href('identity-providers')}>Identity providers</a> /{' '}
        <a href={href('identity-providers', idpId)}>{idpId}</a> /
      </p>
      <div class="row">
        <h1 id="script-title" class="grow">
          {kind} script
          <span class="hint">
            {active ? ` · active version ${active.version}` : active === null ? ' · no active version' : ''}
            {dirty ? ' · unsaved changes' : ''}
          </span>
        </h1>
        <a class="button secondary" href={href('identity-providers', idpId, 'scripts', kind, 'versions')}>
          Versions
        </a>
        <button type="button" onClick={save} disabled={busy || active === undefined}>
          {busy ? 'Saving…' : 'Save'}
        </button>
      </div>
      <ErrorMessage error={error} />
      <Notice text={notice} />
      <div class="editor-layout">
        <div class="editor-column">
          <div class="editor-host" ref={host} data-testid="script-editor" />
          <p class="hint">
            Ctrl-Space completes the script globals; Esc then Tab leaves the editor. Saving compiles first:
            nothing changes when the script does not compile.
          </p>
        </div>
        <TestPanel
          path={`${path}/test`}
          source={() => editor.current?.source() ?? ''}
          onProblems={(problems) => {
            editor.current?.showProblems(problems);
            // The draft compiled and ran: an earlier save's compile error is stale.
            if (problems.length === 0) setError(null);
          }}
        />
      </div>
    </section>
  );
}
