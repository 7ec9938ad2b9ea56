/**
 * Text typed over a selection goes through CodeMirror, not Chromium's editing commands.
 * Left to the browser, replacing a selection that spans lines merges the line elements,
 * and Chromium keeps the merged text's look with inline `style` attributes: the console's
 * CSP (`style-src 'self'`) refuses them and reports a violation. CodeMirror's own key
 * bindings already handle Enter, Backspace, Delete, cut and paste; this covers typing.
 */
import { EditorView } from '@codemirror/view';

export const typedOverSelection = EditorView.domEventHandlers({
  beforeinput(event, view) {
    const text = event.data;
    if (event.inputType !== 'insertText' || !text || view.composing) return false;
    const { selection } = view.state;
    if (selection.ranges.length === 1 && selection.main.empty) return false;
    event.preventDefault();
    const { from, to } = selection.main;
    const insert = () =>
      view.state.update(view.state.replaceSelection(text), { userEvent: 'input.type', scrollIntoView: true });
    // As CodeMirror does for typed text: input handlers (closing brackets) may take it over.
    if (!view.state.facet(EditorView.inputHandler).some((handler) => handler(view, from, to, text, insert))) {
      view.dispatch(insert());
    }
    return true;
  },
});
