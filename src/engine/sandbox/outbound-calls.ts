import type { ScriptHttpRequest } from '../../outbound/types.js';
import type { ChildMessage, HttpResult, HttpResultMessage } from '../protocol.js';

/** The outbound calls of the execution running in this sandbox process. */
interface CallContext {
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
  private context: CallContext | null = null;
  private nextCall = 1;
  private readonly pending = new Map<number, (result: HttpResult) => void>();

  constructor(private readonly send: (message: ChildMessage) => void) {}

  /** Allows calls for execution `execId`, at most `max` of them; `end` forbids them again. */
  begin(execId: number, max: number): void {
    this.context = { execId, remaining: max, max };
  }

  end(): void {
    this.context = null;
  }

  /** What the isolate's `HTTP.request` calls: request JSON in, result JSON out. */
  readonly call = async (requestJson: string): Promise<string> => {
    const context = this.context;
    if (!context) {
      return fail(
        'HTTP.request: outbound calls are not enabled for this identity provider (no host is on its allow-list)',
      );
    }
    if (context.remaining <= 0) {
      return fail(`HTTP.request: an execution may make at most ${context.max} requests`);
    }
    context.remaining--;
    const call = this.nextCall++;
    const request = JSON.parse(requestJson) as ScriptHttpRequest;
    const result = new Promise<HttpResult>((resolve) => this.pending.set(call, resolve));
    this.send({ t: 'http', id: context.execId, call, request });
    return JSON.stringify(await result);
  };

  /** Hands the server's answer to the waiting call. */
  settle(message: HttpResultMessage): void {
    const resolve = this.pending.get(message.call);
    this.pending.delete(message.call);
    resolve?.(message.result);
  }
}

const fail = (message: string) => JSON.stringify({ ok: false, message } satisfies HttpResult);
