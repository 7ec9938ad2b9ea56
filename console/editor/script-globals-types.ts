/**
 * The shape of what the console build extracts from `types/registrar-script.d.ts`
 * (scripts/script-globals.ts) and hands the editor's completion source, so the
 * completions follow the script globals' declarations instead of a hand copy.
 */

/** A member of a global object: `CACHE.store`, `LOG.info`. */
export interface ScriptGlobalMember {
  name: string;
  /** The declaration as written, e.g. `store(key: string, value: RegistrarJson | undefined, ttlSeconds?: number): void`. */
  signature: string;
  /** Its doc comment (may be empty). */
  doc: string;
  kind: 'method' | 'property';
}

/** A global a script can use: an object (`CACHE`) or a function (`print`). */
export interface ScriptGlobal {
  name: string;
  kind: 'object' | 'function';
  /** The declaration's type, shortened for a completion's detail. */
  signature: string;
  doc: string;
  members: ScriptGlobalMember[];
}

/** A parameter of `execute`. */
export interface ExecuteParam {
  name: string;
  type: string;
  doc: string;
}

/** Everything the editor completes. */
export interface ScriptGlobals {
  globals: ScriptGlobal[];
  execute: { doc: string; params: ExecuteParam[]; returns: string };
}
