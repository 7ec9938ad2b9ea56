import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { EngineConfig } from '../config/schema.js';
import type { ScriptEngine } from '../engine/engine.js';
import { RegistrarError } from '../errors.js';
import { audited, noteAudit } from '../http/audit.js';
import type { ApplicationAuthenticator } from '../http/authenticate.js';
import { sendJson } from '../http/errors.js';
import type { RolloutMonitor } from '../rollout/monitor.js';
import type { ShadowRunner } from '../rollout/shadow.js';
import type { ConfigStore, TransactionStore } from '../storage/types.js';
import { bodyObject, findIdentityProviderFor, optionalString } from './application-request.js';
import type { RateLimiter } from './rate-limits.js';
import type { ExecutionRecorder } from './recorder.js';
import { INIT_DOC } from './route-docs.js';
import { isSuccessStatus, runIdpScript } from './run-script.js';

export interface InitDeps {
  store: ConfigStore;
  transactions: TransactionStore;
  engine: ScriptEngine;
  authenticator: ApplicationAuthenticator;
  engineConfig: EngineConfig;
  transactionTtlSeconds: number;
  limiter: RateLimiter;
  /** Counts executions of canaried scripts; absent: canaries still choose, nothing is counted. */
  rollouts?: RolloutMonitor;
  /** Runs shadows; absent: none run. */
  shadows?: ShadowRunner;
  /** Records executions for replay; absent: none are recorded. */
  recorder?: ExecutionRecorder;
}

/**
 * `POST /oauth/custom-registration/{idp}/init` (SPEC §4): two_step IdPs only. Runs
 * the init script with `data`; on a 2xxx status creates a single-use transaction
 * bound to the IdP and the application and returns its id.
 */
export async function initRoute(app: FastifyInstance, deps: InitDeps): Promise<void> {
  app.post<{ Params: { idp: string } }>(
    '/oauth/custom-registration/:idp/init',
    { ...audited('init'), config: { doc: INIT_DOC } },
    async (request, reply) => {
      const body = bodyObject(request.body);
      const data = optionalString(body, 'data');
      const application = await deps.authenticator.authenticateRequest(request);
      noteAudit(request, { idp: request.params.idp });
      const idp = await findIdentityProviderFor(deps.store, request.params.idp, application);
      if (idp.flow !== 'two_step') {
        throw new RegistrarError('invalid_request', 'init is only for two_step identity providers');
      }
      await deps.limiter.check(request, reply, idp, 'init', { application: application.client_id });
      // Drawn first: a canary's choice is sticky per transaction, so init and complete agree.
      const newTransactionId = randomBytes(24).toString('base64url');
      const result = await runIdpScript(
        deps.engine,
        deps.engineConfig,
        idp,
        'init',
        [data, null, null, null],
        request.id,
        {
          rollouts: deps.rollouts,
          shadows: deps.shadows,
          recorder: deps.recorder,
          callerKey: newTransactionId,
        },
      );
      const { status, responsePayload, registrationData } = result;
      noteAudit(request, { scriptStatus: status });
      let transactionId: string | undefined;
      if (isSuccessStatus(status)) {
        transactionId = newTransactionId;
        const now = Date.now();
        await deps.transactions.create({
          id: transactionId,
          idp_id: idp.id,
          client_id: application.client_id,
          registration_data: registrationData ?? null,
          created_at: now,
          expires_at: now + deps.transactionTtlSeconds * 1000,
        });
      }
      const answer = {
        ...(transactionId === undefined ? {} : { transaction_id: transactionId }),
        status,
        ...(responsePayload === undefined ? {} : { data: responsePayload }),
      };
      return sendJson(reply, answer);
    },
  );
}
