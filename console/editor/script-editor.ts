/**
 * The script editor: CodeMirror 6 with JavaScript highlighting, completion of the script
 * globals, and compile errors shown as lint diagnostics at their line.
 */
import {
  autocompletion,
  closeBrackets,
  closeBracketsKeymap,
  completionKeymap,
} from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { javascriptLanguage } from '@codemirror/lang-javascript';
import { bracketMatching, indentOnInput } from '@codemirror/language';
import { type Diagnostic, lintGutter, lintKeymap, setDiagnostics } from '@codemirror/lint';
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search';
import { EditorState } from '@codemirror/state';
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
} from '@codemirror/view';
import { scriptCompletions } from './completions';
import { codeBasics, shadowOf } from './setup';
import { typedOverSelection } from './typed-over-selection';

/** A problem to show in the editor: 1-based line and column. */
export interface EditorProblem {
  line: number;
  column?: number | undefined;
  message: string;
}

/** A mounted script editor. */
export interface ScriptEditor {
  view: EditorView;
  /** The current text. */
  source(): string;
  /** Replaces the text (and clears the problems). */
  setSource(text: string): void;
  /** Shows problems as error diagnostics at their lines (replacing earlier ones). */
  showProblems(problems: EditorProblem[]): void;
  destroy(): void;
}

/** The diagnostic of a problem, clamped to the document. */
function diagnosticOf(state: EditorState, problem: EditorProblem): Diagnostic {
  const line = state.doc.line(Math.min(Math.max(problem.line, 1), state.doc.lines));
  const from = Math.min(line.from + Math.max((problem.column ?? 1) - 1, 0), line.to);
  return { from, to: Math.max(line.to, from), severity: 'error', message: problem.message };
}

/** Mounts an editor in a shadow root of `host`; `onChange` hears every edit. */
export function createScriptEditor(
  host: HTMLElement,
  options: { source: string; label: string; onChange?: (source: string) => void },
): ScriptEditor {
  const root = shadowOf(host);
  const state = EditorState.create({
    doc: options.source,
    extensions: [
      codeBasics(),
      highlightActiveLineGutter(),
      highlightActiveLine(),
      highlightSelectionMatches(),
      history(),
      drawSelection(),
      indentOnInput(),
      bracketMatching(),
      closeBrackets(),
      typedOverSelection,
      autocompletion({ activateOnTyping: true }),
      javascriptLanguage.data.of({ autocomplete: scriptCompletions }),
      lintGutter(),
      keymap.of([
        ...closeBracketsKeymap,
        ...defaultKeymap,
        ...searchKeymap,
        ...historyKeymap,
        ...completionKeymap,
        ...lintKeymap,
        indentWithTab,
      ]),
      EditorView.contentAttributes.of({ 'aria-label': options.label }),
      EditorView.updateListener.of((update) => {
        if (update.docChanged) options.onChange?.(update.state.doc.toString());
      }),
    ],
  });
  const view = new EditorView({ state, parent: root, root });
  return {
    view,
    source: () => view.state.doc.toString(),
    setSource(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
      view.dispatch(setDiagnostics(view.state, []));
    },
    showProblems(problems) {
      view.dispatch(
        setDiagnostics(
          view.state,
          problems.map((p) => diagnosticOf(view.state, p)),
        ),
      );
    },
    destroy: () => view.destroy(),
  };
}
