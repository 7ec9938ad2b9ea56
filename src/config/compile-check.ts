import { Script } from 'node:vm';

/** Where and why a script does not compile. */
export interface CompileError {
  /** e.g. `SyntaxError: Unexpected token ';'` */
  message: string;
  /** 1-based; null when the engine did not say. */
  line: number | null;
  column: number | null;
}

/**
 * Checks that `source` compiles as a script; returns the syntax error (with line and
 * column) or undefined. node:vm only compiles here, it never runs the code: scripts
 * run in the sandbox.
 */
export function compileCheck(source: string, filename: string): CompileError | undefined {
  try {
    new Script(source, { filename });
    return undefined;
  } catch (error) {
    const e = error as Error;
    // V8's stack starts `file:LINE`, the source line, then a caret line under the position.
    const [head = '', , caret = ''] = (e.stack ?? '').split('\n');
    const line = /:(\d+)$/.exec(head)?.[1];
    const column = caret.indexOf('^');
    return {
      message: `${e.name}: ${e.message}`,
      line: line === undefined ? null : Number(line),
      column: line === undefined || column < 0 ? null : column + 1,
    };
  }
}

/** A compile error as one line of text: `SyntaxError: ... (line 3, column 7)`. */
export function describeCompileError(error: CompileError): string {
  const where =
    error.line === null ? '' : ` (line ${error.line}${error.column ? `, column ${error.column}` : ''})`;
  return `does not compile: ${error.message}${where}`;
}
