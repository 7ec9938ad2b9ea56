/**
 * The types of the stores behind safe script changes (issue 14): each script's stored
 * test cases. Re-exported by `types.ts`, where every storage interface is found.
 */
import type { ScriptKind } from '../config/schema.js';

/**
 * One stored test case of a script. The store keeps it as given (any JSON object with a
 * `name`); what the other fields mean is the admin API's business (admin/script-test-cases.ts).
 */
export interface StoredScriptTestCase {
  name: string;
  [field: string]: unknown;
}

/**
 * The test cases stored per IdP and script kind, as one list. Every method is atomic on
 * its own; the cases of an IdP go with it when it is deleted.
 */
export interface ScriptTestStore {
  /** The cases of one IdP's script kind, in the order they were stored; empty when none. */
  list(idpId: string, kind: ScriptKind): Promise<StoredScriptTestCase[]>;
  /**
   * Replaces the whole list in one step (an empty list removes it). False, changing
   * nothing, when there is no such IdP.
   */
  replace(idpId: string, kind: ScriptKind, cases: readonly StoredScriptTestCase[]): Promise<boolean>;
}
