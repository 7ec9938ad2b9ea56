import type { ScriptHttpRequest } from '../../outbound/types.js';
import type { ChildMessage, HttpResult, HttpResultMessage } from '../protocol.js';

/** The outbound calls one execution may still make. */
export interface CallBudget {
  execId: number;
  remaining: number;
  max: number;
}

/**
 * The sandbox side of `HTTP.request`: the script's (already shape-checked) request
 * goes to the server over IPC, which applies the egress policy, makes the call and
 * answers; the script's isolate waits meanwhile (`applySyncPromise`) while this
 * process's event loop stays free. The sandbox itself never opens a socket.
 */
export class OutboundCalls {
  private nextCall = 1;
  private readonly pending = new Map<number, (result: HttpResult) => void>();

  constructor(private readonly send: (message: ChildMessage) => void) {}

  /** Makes one call for the execution `budget` belongs to (null: calls are not allowed); result JSON out. */
  async call(budget: CallBudget | null, requestJson: string): Promise<string> {
    if (!budget) {
      return fail(
        'HTTP.request: outbound calls are not enabled for this identity provider (no host is on its allow-list)',
      );
    }
    if (budget.remaining <= 0) {
      return fail(`HTTP.request: an execution may make at most ${budget.max} requests`);
    }
    budget.remaining--;
    const call = this.nextCall++;
    const request = JSON.parse(requestJson) as ScriptHttpRequest;
    const result = new Promise<HttpResult>((resolve) => this.pending.set(call, resolve));
    this.send({ t: 'http', id: budget.execId, call, request });
    return JSON.stringify(await result);
  }

  /** Hands the server's answer to the waiting call. */
  settle(message: HttpResultMessage): void {
    const resolve = this.pending.get(message.call);
    this.pending.delete(message.call);
    resolve?.(message.result);
  }
}

const fail = (message: string) => JSON.stringify({ ok: false, message } satisfies HttpResult);
