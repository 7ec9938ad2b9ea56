/**
 * The extensions every code view of the console shares, and mounting a view in a shadow
 * root: there CodeMirror's styles go into a constructable stylesheet (adoptedStyleSheets)
 * instead of a `<style>` element, which the console's CSP (`style-src 'self'`) would refuse.
 */

import { javascript } from '@codemirror/lang-javascript';
import { defaultHighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { EditorView, lineNumbers } from '@codemirror/view';

/** The editors' look: a monospaced font, a visible focus ring, the height of the host. */
export const editorTheme = EditorView.theme({
  '&': { height: '100%', fontSize: '13px', backgroundColor: '#fff' },
  '&.cm-focused': { outline: '3px solid #2563eb', outlineOffset: '-3px' },
  '.cm-scroller': {
    fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
    lineHeight: '1.5',
  },
  '.cm-gutters': { backgroundColor: '#f6f7f9', color: '#5b6472', borderRight: '1px solid #dde1e7' },
  '.cm-tooltip.cm-tooltip-autocomplete > ul > li[aria-selected]': {
    backgroundColor: '#1d4ed8',
    color: '#fff',
  },
  '.cm-diagnostic-error': { borderLeftColor: '#b91c1c' },
});

/** JavaScript highlighting and line numbers. */
export function codeBasics() {
  return [
    lineNumbers(),
    javascript(),
    syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
    editorTheme,
  ];
}

/** An open shadow root on `host` (made once) that a CodeMirror view can be mounted in. */
export function shadowOf(host: HTMLElement): ShadowRoot {
  const shadow = host.shadowRoot ?? host.attachShadow({ mode: 'open' });
  shadow.replaceChildren();
  return shadow;
}
