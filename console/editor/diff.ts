/** A read-only side-by-side diff of two script sources (`@codemirror/merge`). */
import { MergeView } from '@codemirror/merge';
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { codeBasics, shadowOf } from './setup';

const readOnly = (label: string) => [
  codeBasics(),
  EditorState.readOnly.of(true),
  EditorView.editable.of(false),
  EditorView.contentAttributes.of({ 'aria-label': label, tabindex: '0' }),
];

/** Mounts a diff of `a` (left) against `b` (right) in a shadow root of `host`. */
export function createDiff(
  host: HTMLElement,
  a: { source: string; label: string },
  b: { source: string; label: string },
): { destroy(): void } {
  const root = shadowOf(host);
  const view = new MergeView({
    a: { doc: a.source, extensions: readOnly(a.label) },
    b: { doc: b.source, extensions: readOnly(b.label) },
    parent: root,
    root,
    gutter: true,
    highlightChanges: true,
  });
  return { destroy: () => view.destroy() };
}
