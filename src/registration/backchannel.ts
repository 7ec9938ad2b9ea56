import type { FastifyInstance } from 'fastify';
import type { EngineConfig } from '../config/schema.js';
import type { ScriptEngine } from '../engine/engine.js';
import { audited, noteAudit } from '../http/audit.js';
import { type ApiClientAuthenticator, requireScope } from '../http/authenticate.js';
import { sendJson } from '../http/errors.js';
import type { RolloutMonitor } from '../rollout/monitor.js';
import type { ShadowRunner } from '../rollout/shadow.js';
import type { ConfigStore } from '../storage/types.js';
import { parseBackchannelBody } from './backchannel-body.js';
import { findEnabledIdentityProvider } from './identity-provider.js';
import type { RateLimiter } from './rate-limits.js';
import type { ExecutionRecorder } from './recorder.js';
import { BACKCHANNEL_DOC } from './route-docs.js';
import { runIdpScript } from './run-script.js';

export interface BackchannelDeps {
  store: ConfigStore;
  engine: ScriptEngine;
  authenticator: ApiClientAuthenticator;
  engineConfig: EngineConfig;
  limiter: RateLimiter;
  /** Counts executions of canaried scripts; absent: canaries still choose, nothing is counted. */
  rollouts?: RolloutMonitor;
  /** Runs shadows; absent: none run. */
  shadows?: ShadowRunner;
  /** Records executions for replay; absent: none are recorded. */
  recorder?: ExecutionRecorder;
}

export const BACKCHANNEL_PATH = '/oauth/api/v3/custom-registration/:idp/backchannel';

/**
 * `POST /oauth/api/v3/custom-registration/{idp}/backchannel` (SPEC §2): runs the
 * IdP's backchannel script with the caller's `data`. The steps run in the contract's
 * check order: body, client, scope, IdP, then the IdP's declarative rate limits, script.
 */
export async function backchannelRoute(app: FastifyInstance, deps: BackchannelDeps): Promise<void> {
  // This route parses its own body (form credentials live in it), so take it raw.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const options = { ...audited('backchannel'), config: { doc: BACKCHANNEL_DOC } };
  app.post<{ Params: { idp: string } }>(BACKCHANNEL_PATH, options, async (request, reply) => {
    const body = parseBackchannelBody(request.headers['content-type'], request.body as Buffer | undefined);
    const client = await deps.authenticator.authenticateRequest(request, body.form);
    requireScope(client, 'user_registration');
    noteAudit(request, { idp: request.params.idp });
    const idp = await findEnabledIdentityProvider(deps.store, request.params.idp);
    await deps.limiter.check(request, reply, idp, 'backchannel', { client: client.client_id });
    const { status, responsePayload } = await runIdpScript(
      deps.engine,
      deps.engineConfig,
      idp,
      'backchannel',
      [body.data, null, null, null],
      request.id,
      // A canary's choice is sticky per data string.
      { rollouts: deps.rollouts, shadows: deps.shadows, recorder: deps.recorder, callerKey: body.data },
    );
    noteAudit(request, { scriptStatus: status });
    const answer = responsePayload === undefined ? { status } : { status, data: responsePayload };
    return sendJson(reply, answer);
  });
}
