/**
 * Reads `types/registrar-script.d.ts` with the TypeScript compiler and lists the script
 * globals (`CACHE`, `LOG`, `PROPERTIES`, `HTTP`, `print`, ...), their members and the
 * `execute` signature, with their doc comments: what the console's editor completes.
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import type {
  ExecuteParam,
  ScriptGlobal,
  ScriptGlobalMember,
  ScriptGlobals,
} from '../console/editor/script-globals-types.js';

/** The name of the type alias that declares `execute`. */
const EXECUTE_TYPE = 'RegistrarExecute';

const oneLine = (text: string) => text.replace(/\s+/g, ' ').replace(/;$/, '').trim();

/** The JSDoc text of a node (without tags). */
function docOf(node: ts.Node): string {
  const parts: string[] = [];
  for (const doc of ts.getJSDocCommentsAndTags(node)) {
    if (ts.isJSDoc(doc)) parts.push(ts.getTextOfJSDocComment(doc.comment) ?? '');
  }
  return oneLine(parts.join(' '));
}

/** `@param` texts of a node's JSDoc, by parameter name. */
function paramDocs(node: ts.Node): Map<string, string> {
  const docs = new Map<string, string>();
  for (const tag of ts.getJSDocTags(node)) {
    if (ts.isJSDocParameterTag(tag) && ts.isIdentifier(tag.name)) {
      docs.set(tag.name.text, oneLine(ts.getTextOfJSDocComment(tag.comment) ?? ''));
    }
  }
  return docs;
}

function membersOf(type: ts.TypeNode | undefined, source: ts.SourceFile): ScriptGlobalMember[] {
  if (!type || !ts.isTypeLiteralNode(type)) return [];
  const members: ScriptGlobalMember[] = [];
  for (const member of type.members) {
    if (!member.name || !ts.isIdentifier(member.name)) continue;
    const kind = ts.isMethodSignature(member) ? 'method' : 'property';
    members.push({
      name: member.name.text,
      signature: oneLine(member.getText(source)),
      doc: docOf(member),
      kind,
    });
  }
  return members;
}

/** Extracts the script globals from the declaration file at `dtsPath`. */
export function scriptGlobals(dtsPath: string): ScriptGlobals {
  const source = ts.createSourceFile(dtsPath, readFileSync(dtsPath, 'utf8'), ts.ScriptTarget.Latest, true);
  const globals: ScriptGlobal[] = [];
  let execute: ScriptGlobals['execute'] | undefined;
  for (const statement of source.statements) {
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        if (!ts.isIdentifier(declaration.name)) continue;
        const members = membersOf(declaration.type, source);
        globals.push({
          name: declaration.name.text,
          kind: 'object',
          signature: members.length > 0 ? `{ ${members.map((m) => m.name).join(', ')} }` : '',
          doc: docOf(statement),
          members,
        });
      }
    } else if (ts.isFunctionDeclaration(statement) && statement.name) {
      const text = oneLine(statement.getText(source)).replace(/^declare function /, '');
      globals.push({
        name: statement.name.text,
        kind: 'function',
        signature: text,
        doc: docOf(statement),
        members: [],
      });
    } else if (ts.isTypeAliasDeclaration(statement) && statement.name.text === EXECUTE_TYPE) {
      const fn = statement.type;
      if (!ts.isFunctionTypeNode(fn)) throw new Error(`${EXECUTE_TYPE} is not a function type`);
      const docs = paramDocs(statement);
      const params: ExecuteParam[] = fn.parameters.map((param) => {
        const name = param.name.getText(source);
        return { name, type: oneLine(param.type?.getText(source) ?? 'unknown'), doc: docs.get(name) ?? '' };
      });
      execute = { doc: docOf(statement), params, returns: oneLine(fn.type.getText(source)) };
    }
  }
  if (!execute) throw new Error(`${dtsPath} declares no ${EXECUTE_TYPE}`);
  if (globals.length === 0) throw new Error(`${dtsPath} declares no globals`);
  return { globals, execute };
}
