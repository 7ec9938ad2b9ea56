/**
 * Client-authentication metric families: failed attempts by kind, attempts answered
 * `invalid_client` without checking the secret by reason, and the slow-hash queue. No label
 * holds a client id or an address: those are unbounded.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** A failed check of a secret: the client id is unknown, or the secret is wrong. */
export type AuthFailureKind = 'unknown_client' | 'wrong_secret';

/**
 * Why an attempt was answered `invalid_client` without checking its secret: too many
 * failures of its client id (`client`) or of its source address (`address`), or the
 * slow-hash queue was full (`queue_full`).
 */
export type AuthRefusalReason = 'client' | 'address' | 'queue_full';

const FAILURE_KINDS: readonly AuthFailureKind[] = ['unknown_client', 'wrong_secret'];
const REFUSAL_REASONS: readonly AuthRefusalReason[] = ['client', 'address', 'queue_full'];

/** What the gauge reads at scrape time. */
export type HashUsageSource = () => { active: number; queued: number };

/**
 * `registrar_auth_failures_total{kind}`, `registrar_auth_throttled_total{reason}` (every label
 * value shown from the first scrape, at 0) and `registrar_auth_hashes{state}` (`running`,
 * `queued`: slow secret verifications now), registered in `registry`.
 */
export class AuthMetrics {
  readonly #failures: ReadonlyMap<AuthFailureKind, Counter.Internal>;
  readonly #refusals: ReadonlyMap<AuthRefusalReason, Counter.Internal>;
  #source: HashUsageSource | undefined;

  constructor(registry: Registry) {
    const registers = [registry];
    const failures = new Counter({
      name: 'registrar_auth_failures_total',
      help: 'Client authentications whose secret was checked and failed, by kind (unknown_client, wrong_secret).',
      labelNames: ['kind'],
      registers,
    });
    const refusals = new Counter({
      name: 'registrar_auth_throttled_total',
      help: 'Client authentications answered invalid_client without checking the secret, by reason (client: too many failures of the client id; address: too many failures from the address; queue_full: the slow-hash queue was full).',
      labelNames: ['reason'],
      registers,
    });
    this.#failures = new Map(FAILURE_KINDS.map((kind) => [kind, zeroed(failures.labels({ kind }))] as const));
    this.#refusals = new Map(
      REFUSAL_REASONS.map((reason) => [reason, zeroed(refusals.labels({ reason }))] as const),
    );
    const source = () => this.#source;
    new Gauge({
      name: 'registrar_auth_hashes',
      help: 'Slow client-secret verifications now, by state (running, queued).',
      labelNames: ['state'],
      registers,
      collect(this: Gauge<'state'>) {
        const usage = source()?.();
        this.set({ state: 'running' }, usage?.active ?? 0);
        this.set({ state: 'queued' }, usage?.queued ?? 0);
      },
    });
  }

  /** Where `registrar_auth_hashes` reads the queue from. */
  setHashUsage(source: HashUsageSource): void {
    this.#source = source;
  }

  /** One failed secret check. */
  failure(kind: AuthFailureKind): void {
    this.#failures.get(kind)?.inc();
  }

  /** One attempt answered without checking its secret. */
  refused(reason: AuthRefusalReason): void {
    this.#refusals.get(reason)?.inc();
  }
}

function zeroed(child: Counter.Internal): Counter.Internal {
  child.inc(0);
  return child;
}
