/**
 * Completion of the script globals (`CACHE`, `LOG`, `PROPERTIES`, `HTTP`, ...) and their
 * members, and an `execute` snippet with its parameters: all taken from
 * types/registrar-script.d.ts when the console is built (`registrar:script-globals`).
 */

import scriptGlobals from 'registrar:script-globals';
import {
  type Completion,
  type CompletionContext,
  type CompletionResult,
  snippetCompletion,
} from '@codemirror/autocomplete';
import { syntaxTree } from '@codemirror/language';

const byName = new Map(scriptGlobals.globals.map((global) => [global.name, global]));

/** Node names inside which nothing is completed. */
const QUIET_NODES = new Set(['String', 'TemplateString', 'LineComment', 'BlockComment', 'RegExp']);

const info = (text: string) => (text ? text : undefined);

/** The completion that writes `function execute(...) { }` with the declared parameters. */
function executeCompletion(): Completion {
  const { params, returns, doc } = scriptGlobals.execute;
  const names = params.map((param) => param.name).join(', ');
  const paramDocs = params.map(
    (param) => `${param.name}: ${param.type}${param.doc ? ` (${param.doc})` : ''}`,
  );
  return snippetCompletion(`function execute(${names}) {\n\t\${}\n\treturn { status: 2000 };\n}`, {
    label: 'execute',
    type: 'function',
    detail: `(${names}) → ${returns}`,
    info: [doc, ...paramDocs].filter(Boolean).join('\n'),
    boost: 1,
  });
}

const globalOptions: Completion[] = [
  ...scriptGlobals.globals.map(
    (global): Completion => ({
      label: global.name,
      type: global.kind === 'function' ? 'function' : 'variable',
      detail: global.signature,
      info: info(global.doc),
      boost: 2,
    }),
  ),
  executeCompletion(),
];

/** The names the completion offers at the top level (for tests and the editor's hint). */
export const globalNames = globalOptions.map((option) => option.label);

/** A CodeMirror completion source for Registrar scripts. */
export function scriptCompletions(context: CompletionContext): CompletionResult | null {
  const node = syntaxTree(context.state).resolveInner(context.pos, -1);
  if (QUIET_NODES.has(node.name)) return null;
  const member = context.matchBefore(/[A-Za-z_$][\w$]*\.[\w$]*$/);
  if (member) {
    const dot = member.text.indexOf('.');
    const global = byName.get(member.text.slice(0, dot));
    if (!global || global.members.length === 0) return null;
    return {
      from: member.from + dot + 1,
      options: global.members.map((m) => ({
        label: m.name,
        type: m.kind,
        detail: m.signature.slice(m.name.length),
        info: info(m.doc),
      })),
      validFor: /^[\w$]*$/,
    };
  }
  const word = context.matchBefore(/[\w$]+$/);
  if (!word && !context.explicit) return null;
  return { from: word ? word.from : context.pos, options: globalOptions, validFor: /^[\w$]*$/ };
}
