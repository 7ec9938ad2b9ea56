import type { FastifyInstance } from 'fastify';
import type { EngineConfig } from '../config/schema.js';
import type { ScriptEngine } from '../engine/engine.js';
import type { ScriptResult } from '../engine/protocol.js';
import { RegistrarError } from '../errors.js';
import { audited, noteAudit } from '../http/audit.js';
import type { ApplicationAuthenticator } from '../http/authenticate.js';
import { sendJson } from '../http/errors.js';
import type { IssuedTokens, RegisteredUser, TokenService } from '../oauth/tokens.js';
import { cleanUserAttributes } from '../oauth/user-claims.js';
import type { RolloutMonitor } from '../rollout/monitor.js';
import type { ShadowRunner } from '../rollout/shadow.js';
import type { ApplicationRecord, ConfigStore, TransactionStore } from '../storage/types.js';
import { bodyObject, findIdentityProviderFor, optionalString } from './application-request.js';
import type { RateLimiter } from './rate-limits.js';
import type { ExecutionRecorder } from './recorder.js';
import { COMPLETE_DOC } from './route-docs.js';
import { isSuccessStatus, runIdpScript } from './run-script.js';
import { claimHoldMs, claimTransaction, releaseTransaction, settleTransaction } from './transaction-claim.js';

/** Signs id_tokens (the IdTokenSigner; an interface so routes do not depend on key handling). */
export interface IdTokenIssuer {
  sign(
    claims: { sub: string; aud: string; amr: string[] } & Record<string, unknown>,
    ttlSeconds: number,
  ): Promise<string>;
}

export interface CompleteDeps {
  store: ConfigStore;
  transactions: TransactionStore;
  engine: ScriptEngine;
  authenticator: ApplicationAuthenticator;
  tokens: TokenService;
  idTokens: IdTokenIssuer;
  engineConfig: EngineConfig;
  limiter: RateLimiter;
  /** Counts executions of canaried scripts; absent: canaries still choose, nothing is counted. */
  rollouts?: RolloutMonitor;
  /** Runs shadows; absent: none run. */
  shadows?: ShadowRunner;
  /** Records executions for replay; absent: none are recorded. */
  recorder?: ExecutionRecorder;
}

/**
 * `POST /oauth/custom-registration/{idp}/complete` (SPEC §4): checks the scopes and
 * claims the transaction (two_step), runs the complete script, and on a 2xxx status with
 * a `user.id` issues tokens. A 4xxx/5xxx status is HTTP 200 without tokens. The
 * transaction is consumed on 2xxx and 5xxx, and kept for a retry on 4xxx and when the
 * execution fails; while the script runs, other completes of it are refused.
 */
export async function completeRoute(app: FastifyInstance, deps: CompleteDeps): Promise<void> {
  app.post<{ Params: { idp: string } }>(
    '/oauth/custom-registration/:idp/complete',
    { ...audited('complete'), config: { doc: COMPLETE_DOC } },
    async (request, reply) => {
      const body = bodyObject(request.body);
      const data = optionalString(body, 'data');
      const transactionId = optionalString(body, 'transaction_id');
      const requestedScopes = scopeList(body.scope);
      const hookParams = hookContextParams(body.hook_context_custom_params);
      const application = await deps.authenticator.authenticateRequest(request);
      noteAudit(request, { idp: request.params.idp });
      const idp = await findIdentityProviderFor(deps.store, request.params.idp, application);
      const scopes = grantedScopes(application, requestedScopes);
      // Before the transaction is claimed: a limited call leaves it as it was.
      await deps.limiter.check(request, reply, idp, 'complete', { application: application.client_id });
      const holdMs = claimHoldMs(deps.engineConfig, idp);
      const claim = await claimTransaction(deps.transactions, idp, application, transactionId, holdMs);
      const registrationData = claim?.transaction.registration_data ?? null;
      let result: ScriptResult;
      try {
        result = await runIdpScript(
          deps.engine,
          deps.engineConfig,
          idp,
          'complete',
          [data, null, registrationData, hookParams],
          request.id,
          // A canary's choice is sticky per transaction (two_step), else per data string.
          {
            rollouts: deps.rollouts,
            shadows: deps.shadows,
            recorder: deps.recorder,
            callerKey: claim ? claim.transaction.id : data,
          },
        );
      } catch (error) {
        if (claim) await releaseTransaction(deps.transactions, claim, request.log); // the user may retry
        throw error;
      }
      const { status, responsePayload } = result;
      noteAudit(request, { scriptStatus: status });
      const settled = claim ? await settleTransaction(deps.transactions, claim, status, request.log) : true;
      if (!settled && isSuccessStatus(status)) throw new RegistrarError('invalid_transaction');
      const answer: { status: number; data?: string; oauth_token?: IssuedTokens & { id_token?: string } } = {
        status,
      };
      if (responsePayload !== undefined) answer.data = responsePayload;
      if (isSuccessStatus(status)) {
        const registered = registeredUser(result.user);
        if (!registered) {
          request.log.error(
            { idp: idp.id },
            'complete script returned a 2xxx status without a string user.id',
          );
          throw new RegistrarError('internal_server_error', undefined, { logged: true });
        }
        const { user, dropped } = registered;
        if (dropped.length > 0) {
          // Names only: the values may be anything the script had.
          request.log.warn(
            { idp: idp.id, dropped },
            'complete script user attributes with reserved claim or prototype names were dropped',
          );
        }
        const tokens: IssuedTokens & { id_token?: string } = await deps.tokens.issue(
          application,
          idp.id,
          user,
          scopes,
        );
        if (scopes.includes('openid')) {
          tokens.id_token = await deps.idTokens.sign(
            { ...user.details, sub: user.id, aud: application.client_id, amr: user.amr },
            application.access_token_ttl_seconds,
          );
        }
        answer.oauth_token = tokens;
      }
      return sendJson(reply, answer);
    },
  );
}

/** `scope` as an array of strings (absent → null). */
function scopeList(value: unknown): string[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value) || !value.every((s) => typeof s === 'string')) {
    throw new RegistrarError('invalid_request', 'scope must be an array of strings');
  }
  return value;
}

/** `hook_context_custom_params`: an object of string arrays, passed to the script as its 4th argument. */
function hookContextParams(value: unknown): Record<string, string[]> | null {
  if (value === undefined || value === null) return null;
  const valid =
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => Array.isArray(v) && v.every((s) => typeof s === 'string'));
  if (!valid)
    throw new RegistrarError('invalid_request', 'hook_context_custom_params must map names to string arrays');
  return value as Record<string, string[]>;
}

/** The requested scopes (or the application's defaults); `invalid_scope` when one is not allowed. */
function grantedScopes(application: ApplicationRecord, requested: string[] | null): string[] {
  if (requested === null) return [...application.default_scopes];
  const unknown = requested.filter((s) => !application.scopes.includes(s));
  if (unknown.length > 0) throw new RegistrarError('invalid_scope', `not allowed: ${unknown.join(' ')}`);
  return [...new Set(requested)];
}

/**
 * The script's `user`: `id` must be a string; `amr` an array of strings; the rest are
 * attributes, without reserved claim names and prototype member names (`dropped`
 * lists where those were).
 */
function registeredUser(value: unknown): { user: RegisteredUser; dropped: string[] } | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const { id, amr, ...details } = value as Record<string, unknown>;
  if (typeof id !== 'string' || id === '') return undefined;
  const methods = Array.isArray(amr) ? amr.filter((m): m is string => typeof m === 'string') : [];
  const { attributes, dropped } = cleanUserAttributes(details);
  return { user: { id, amr: methods, details: attributes }, dropped };
}
