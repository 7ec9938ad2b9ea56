import type { FastifyBaseLogger } from 'fastify';
import type { EngineConfig, IdpLimits } from '../config/schema.js';
import { effectiveLimits } from '../engine/limits.js';
import { RegistrarError } from '../errors.js';
import type {
  ApplicationRecord,
  IdentityProviderRecord,
  TransactionClaim,
  TransactionStore,
} from '../storage/types.js';
import { isRetryableStatus } from './run-script.js';

/** Slack over the engine's bound for the IPC and the CACHE commit around an execution. */
const CLAIM_SLACK_MS = 1000;

/**
 * How long a complete holds its transaction: as long as the engine may take to answer
 * (an execution waits in its IdP's queue at most the wall-time limit, then runs at most
 * the wall-time limit plus the kill grace) and a second more, never longer. A node that
 * dies mid-execution frees the transaction when this hold lapses.
 */
export function claimHoldMs(engine: EngineConfig, idp: { limits: IdpLimits }): number {
  const { wall_time_ms } = effectiveLimits(engine, idp.limits);
  return 2 * wall_time_ms + engine.kill_grace_ms + CLAIM_SLACK_MS;
}

/**
 * For a two_step IdP, claims the transaction the complete script is about to run for;
 * a missing, unknown, expired, claimed (another complete runs), or foreign one is
 * `invalid_transaction` (a foreign one is released untouched). Null for one_step IdPs,
 * which have none.
 */
export async function claimTransaction(
  transactions: TransactionStore,
  idp: IdentityProviderRecord,
  application: ApplicationRecord,
  transactionId: string | null,
  holdMs: number,
): Promise<TransactionClaim | null> {
  if (idp.flow !== 'two_step') return null;
  if (transactionId === null) throw new RegistrarError('invalid_transaction', 'transaction_id is required');
  const claim = await transactions.claim(transactionId, holdMs);
  if (!claim) throw new RegistrarError('invalid_transaction');
  const { idp_id, client_id } = claim.transaction;
  if (idp_id !== idp.id || client_id !== application.client_id) {
    await transactions.release(claim);
    throw new RegistrarError('invalid_transaction');
  }
  return claim;
}

/**
 * Ends the claim once the script returned `status`: a 4xxx ("failed, the user may
 * retry") releases the transaction for the retry; any other status consumes it. False
 * when consuming found the claim gone (it lapsed and another complete may have the
 * transaction): the caller must not act on a success then.
 */
export async function settleTransaction(
  transactions: TransactionStore,
  claim: TransactionClaim,
  status: number,
  log: FastifyBaseLogger,
): Promise<boolean> {
  if (isRetryableStatus(status)) {
    await releaseTransaction(transactions, claim, log);
    return true;
  }
  if (await transactions.consumeClaimed(claim)) return true;
  log.warn({ status }, 'the transaction claim lapsed while the complete script ran; it was not consumed');
  return false;
}

/**
 * Releases a claim after a failed execution or a retryable status, so the user can try
 * again. A release that fails is logged, not thrown: the claim lapses by itself.
 */
export async function releaseTransaction(
  transactions: TransactionStore,
  claim: TransactionClaim,
  log: FastifyBaseLogger,
): Promise<void> {
  try {
    await transactions.release(claim);
  } catch (err) {
    log.error({ err }, 'releasing a transaction claim failed; it lapses by itself');
  }
}
