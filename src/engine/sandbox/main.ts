/**
 * Entry point of a sandbox process. The server forks a few of these (with
 * `--no-node-snapshot`, which isolated-vm needs) and sends each one execution at a
 * time over IPC; the process runs it in the script's isolate and answers: synchronously
 * as a rule, asynchronously when the IdP may make outbound calls (see ScriptSlot). If a process dies or stalls, only the execution in it fails, and the
 * server starts another. Nothing here trusts the scripts: they run in isolates with
 * their own heap and time limit.
 */
import { openSandboxCache } from '../../storage/open.js';
import type { SandboxCache } from '../../storage/types.js';
import type { ChildMessage, ExecMessage, ExecOutcome, InitMessage, ParentMessage } from '../protocol.js';
import { createHostBindings, type HostBindings } from './host-bindings.js';
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
  close: () => {},
};

/** Compiled scripts kept per process before the least recently used is dropped. */
const MAX_SLOTS = 256;

let init: InitMessage | undefined;
let bindings: HostBindings | undefined;
let properties: ReadonlyMap<string, string> = new Map();
const slots = new Map<string, ScriptSlot>();
const outbound = new OutboundCalls(send);
/** One execution at a time: those that arrive while an asynchronous one runs wait here. */
const waiting: ExecMessage[] = [];
let busy = false;

function send(message: ChildMessage): void {
  process.send?.(message);
}

process.on('message', (message: ParentMessage) => {
  switch (message.t) {
    case 'init':
      init = message;
      properties = new Map(Object.entries(message.properties));
      bindings = createHostBindings(
        message.cacheUrl === null ? NO_CACHE : openSandboxCache(message.cacheUrl),
        message.cache,
        () => properties,
        outbound.call,
      );
      send({ t: 'ready' });
      break;
    case 'properties':
      properties = new Map(Object.entries(message.values));
      break;
    case 'exec':
      if (busy) waiting.push(message);
      else start(message);
      break;
    case 'http_result':
      outbound.settle(message);
      break;
  }
});

// The server owns this process: when the channel closes, stop.
process.on('disconnect', () => process.exit(0));

/** Runs `message` and then whatever queued up behind it. */
function start(message: ExecMessage): void {
  busy = true;
  const done = () => {
    outbound.end();
    busy = false;
    const next = waiting.shift();
    if (next) start(next);
  };
  const running = execute(message);
  if (running) running.then(done, done);
  else done();
}

/** Runs one execution; returns a promise when it runs asynchronously (outbound calls allowed). */
function execute(message: ExecMessage): Promise<void> | undefined {
  const slot = message.scratch ? newSlot(message) : slotFor(message);
  if (!slot) {
    send({ t: 'need_source', id: message.id });
    return undefined;
  }
  // A dry run gets a fresh isolate of its own, dropped afterwards: no globals left by earlier
  // runs, and drafts never crowd real scripts out of the slots.
  const scratch = message.scratch && new ScratchCache(message.scratch);
  const answer = (outcome: ExecOutcome) => {
    if (scratch) slot.discard();
    send({ t: 'result', id: message.id, outcome });
  };
  if (!message.http) {
    answer(slot.execute(message.args, message.limits, scratch));
    return undefined;
  }
  outbound.begin(message.id, message.http.maxRequests);
  return slot.executeAsync(message.args, message.limits, scratch).then(answer);
}

/** A slot for the message's script; undefined when the message lacks the source (or init has not arrived). */
function newSlot(message: ExecMessage): ScriptSlot | undefined {
  const { script } = message;
  if (script.source === undefined || !init || !bindings) return undefined;
  return new ScriptSlot({
    source: script.source,
    filename: script.filename,
    memoryMb: message.limits.memory_mb,
    log: init.log,
    bindings,
  });
}

function slotFor(message: ExecMessage): ScriptSlot | undefined {
  const { script } = message;
  const existing = slots.get(script.key);
  if (existing) {
    // Refresh its place in the LRU order.
    slots.delete(script.key);
    slots.set(script.key, existing);
    return existing;
  }
  const slot = newSlot(message);
  if (!slot) return undefined;
  slots.set(script.key, slot);
  for (const [key, old] of slots) {
    if (slots.size <= MAX_SLOTS) break;
    old.discard();
    slots.delete(key);
  }
  return slot;
}
