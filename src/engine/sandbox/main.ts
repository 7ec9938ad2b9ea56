/**
 * Entry point of a sandbox process. The server forks a few of these (with
 * `--no-node-snapshot`, which isolated-vm needs) and sends them executions over IPC,
 * several per message when it has several queued; the process runs each in the script's
 * isolate, in order, and answers (the answers of one turn in one message): synchronously
 * as a rule, asynchronously when the IdP may make outbound calls (see ScriptSlot). If a process dies or stalls, only the execution in it fails, and the
 * server starts another. Nothing here trusts the scripts: they run in isolates with
 * their own heap and time limit.
 */
import { openSandboxCacheLean } from '../../storage/sandbox-cache-open.js';
import type { SandboxCache } from '../../storage/types.js';
import {
  type ChildMessage,
  type ChildPacket,
  type ExecMessage,
  type ExecOutcome,
  type InitMessage,
  MAX_SLOTS_PER_SCRIPT,
  type ParentMessage,
  type ParentPacket,
} from '../protocol.js';
import { createHostBindings } from './host-bindings.js';
import { OutboundCalls } from './outbound-calls.js';
import { ScratchCache } from './scratch-cache.js';
import { ScriptSlot } from './script-slot.js';

/** The CACHE of a sandbox started without one: only dry runs (with their scratch cache) run there. */
const NO_CACHE: SandboxCache = {
  getSync: () => {
    throw new Error('no CACHE is configured');
  },
  deleteSync: () => {
    throw new Error('no CACHE is configured');
  },
  incrementSync: () => {
    throw new Error('no CACHE is configured');
  },
  close: () => {},
};

/** Compiled scripts kept per process before the least recently used is dropped. */
const MAX_SLOTS = 256;
/** The Redis settings when the server sent none (the config's defaults). */
const REDIS_DEFAULTS = { connectTimeoutMs: 800, commandTimeoutMs: 800, keyPrefix: 'registrar:' };

let init: InitMessage | undefined;
let cache: SandboxCache | undefined;
let properties: ReadonlyMap<string, string> = new Map();
/** Compiled scripts by key, least recently used first; several slots when executions overlap. */
const slots = new Map<string, ScriptSlot[]>();
const outbound = new OutboundCalls(send);
/**
 * The last queued execution of each slot that has an asynchronous one in flight. One
 * slot (one isolate, one set of host bindings) runs one execution at a time; different
 * slots' asynchronous executions overlap, so a script waiting on an upstream holds up
 * only its own slot, and the server may send this process more work meanwhile.
 */
const slotTails = new Map<ScriptSlot, Promise<void>>();
/** How to stop each running demoted execution when the server says it used up its CPU. */
const cancels = new Map<number, () => void>();

/**
 * Answers waiting to go out: those of one event-loop turn travel in one IPC write. Before
 * a synchronous execution starts, answers older than {@link HOLD_ANSWERS_MS} go out first,
 * so a long execution never holds up the answers of quick ones before it.
 */
const outbox: ChildMessage[] = [];
let outboxSince = 0;
const HOLD_ANSWERS_MS = 0.25;

function send(message: ChildMessage): void {
  if (outbox.length === 0) {
    outboxSince = performance.now();
    queueMicrotask(flush);
  }
  outbox.push(message);
}

function flush(then?: () => void): void {
  const batch = outbox.splice(0);
  if (batch.length === 0) {
    then?.();
    return;
  }
  const packet: ChildPacket = batch.length === 1 ? (batch[0] as ChildMessage) : batch;
  if (then) process.send?.(packet, () => then());
  else process.send?.(packet);
}

process.on('message', (packet: ParentPacket) => {
  if (!Array.isArray(packet)) return receive(packet);
  for (const message of packet) receive(message);
});

function receive(message: ParentMessage): void {
  switch (message.t) {
    case 'init':
      void start(message);
      break;
    case 'properties':
      properties = new Map(Object.entries(message.values));
      break;
    case 'exec':
      execute(message);
      break;
    case 'http_result':
      outbound.settle(message);
      break;
    case 'cancel':
      cancels.get(message.id)?.();
      break;
  }
}

async function start(message: InitMessage): Promise<void> {
  properties = new Map(Object.entries(message.properties));
  cache =
    message.cacheUrl === null
      ? NO_CACHE
      : await openSandboxCacheLean(message.cacheUrl, message.cacheRedis ?? REDIS_DEFAULTS);
  init = message;
  send({ t: 'ready' });
}

// The server owns this process: when the channel closes, stop.
process.on('disconnect', () => process.exit(0));

/**
 * Runs one execution: synchronously when it makes no outbound calls and its slot is
 * free (the fast path), otherwise after the slot's earlier executions.
 */
function execute(message: ExecMessage): void {
  const slot = message.scratch ? newSlot(message) : slotFor(message);
  if (!slot) {
    send({ t: 'need_source', id: message.id });
    return;
  }
  // A dry run gets a fresh isolate of its own, dropped afterwards: no globals left by earlier
  // runs, and drafts never crowd real scripts out of the slots.
  const scratch = message.scratch && new ScratchCache(message.scratch);
  const answer = (outcome: ExecOutcome) => {
    if (scratch) slot.discard();
    if (!slot.stuck) return send({ t: 'result', id: message.id, outcome });
    // A native call outlived its isolate: answer, then make way for a fresh process.
    send({ t: 'result', id: message.id, outcome, exiting: true });
    flush(() => process.exit(0));
  };
  const tail = slotTails.get(slot);
  const { http, demoted } = message;
  if (!http && !demoted && !tail) {
    if (outbox.length > 0 && performance.now() - outboxSince > HOLD_ANSWERS_MS) flush();
    // Loading takes a while on a busy machine: the server starts the run's demotion clock after it.
    const loaded = () => {
      send({ t: 'loaded', id: message.id });
      flush();
    };
    if (message.record) slot.recordReads();
    answer(slot.execute(message.args, message.limits, scratch, loaded));
    return;
  }
  const run = async () => {
    if (message.record) slot.recordReads();
    answer(
      http || demoted
        ? await slot.executeAsync(
            message.args,
            message.limits,
            http && { execId: message.id, remaining: http.maxRequests, max: http.maxRequests },
            scratch,
            demoted && ((cancel) => cancels.set(message.id, cancel)),
          )
        : slot.execute(message.args, message.limits, scratch),
    );
    cancels.delete(message.id);
  };
  const next = (tail ?? Promise.resolve()).then(run, run);
  slotTails.set(slot, next);
  void next.finally(() => {
    if (slotTails.get(slot) === next) slotTails.delete(slot);
  });
}

/** A slot (with host bindings of its own) for the message's script; undefined without the source. */
function newSlot(message: ExecMessage, source = message.script.source): ScriptSlot | undefined {
  const { script } = message;
  if (source === undefined || !init || !cache) return undefined;
  // A dry run's property overrides, over the installation's properties (only its own slot sees them).
  const { properties: overrides } = message;
  let merged: ReadonlyMap<string, string> | undefined;
  const readProperties = overrides
    ? () => {
        merged ??= new Map([...properties, ...Object.entries(overrides)]);
        return merged;
      }
    : () => properties;
  return new ScriptSlot({
    source,
    filename: script.filename,
    memoryMb: message.limits.memory_mb,
    log: init.log,
    bindings: createHostBindings(cache, init.cache, readProperties, outbound),
  });
}

/**
 * A slot for the message's script: a free one when there is one, else a new one (an
 * execution waiting on an upstream keeps its isolate busy, so concurrent executions of
 * one script need isolates of their own), up to {@link MAX_SLOTS_PER_SCRIPT}; past that,
 * the first, whose queue the execution joins.
 */
function slotFor(message: ExecMessage): ScriptSlot | undefined {
  const { script } = message;
  const existing = slots.get(script.key) ?? [];
  // Refresh the script's place in the LRU order.
  slots.delete(script.key);
  if (existing.length > 0) slots.set(script.key, existing);
  const free = existing.find((slot) => !slotTails.has(slot));
  if (free) return free;
  if (existing.length >= MAX_SLOTS_PER_SCRIPT) return existing[0];
  // The server sends a script's source once per process; later slots take it from the first.
  const slot = newSlot(message, message.script.source ?? existing[0]?.source);
  if (!slot) return existing[0];
  slots.set(script.key, [...existing, slot]);
  evict();
  return slot;
}

/** Drops the least recently used scripts' idle slots past {@link MAX_SLOTS}. */
function evict(): void {
  let count = 0;
  for (const list of slots.values()) count += list.length;
  for (const [key, list] of slots) {
    if (count <= MAX_SLOTS) return;
    const keep = list.filter((slot) => slotTails.has(slot));
    for (const slot of list) if (!slotTails.has(slot)) slot.discard();
    count -= list.length - keep.length;
    if (keep.length === 0) slots.delete(key);
    else slots.set(key, keep);
  }
}
