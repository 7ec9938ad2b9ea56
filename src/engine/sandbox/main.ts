/**
 * Entry point of a sandbox process. The server forks a few of these (with
 * `--no-node-snapshot`, which isolated-vm needs) and sends them executions over IPC;
 * if one dies or stalls, only the executions in it fail, and the server starts
 * another. Nothing here trusts the scripts: they run in isolates with their own heap.
 */

import { openCacheStore } from '../../storage/open.js';
import type { CacheStore } from '../../storage/types.js';
import type { ChildMessage, ExecMessage, InitMessage, ParentMessage } from '../protocol.js';
import { createHostBindings, type HostBindings } from './host-bindings.js';
import { ScriptSlot } from './script-slot.js';
import { CpuWatchdog } from './watchdog.js';

/** Idle compiled scripts kept per process before the least recently used is dropped. */
const MAX_SLOTS = 256;

let init: InitMessage | undefined;
let cache: CacheStore | undefined;
let bindings: HostBindings | undefined;
let properties: ReadonlyMap<string, string> = new Map();
const slots = new Map<string, ScriptSlot>();
const watchdog = new CpuWatchdog();
let reportedStuck = false;

function send(message: ChildMessage): void {
  process.send?.(message);
}

process.on('message', (message: ParentMessage) => {
  switch (message.t) {
    case 'init':
      init = message;
      properties = new Map(Object.entries(message.properties));
      cache = openCacheStore(message.cacheUrl);
      bindings = createHostBindings(cache, message.cache, () => properties);
      send({ t: 'ready' });
      break;
    case 'properties':
      properties = new Map(Object.entries(message.values));
      break;
    case 'exec':
      void execute(message);
      break;
  }
});

// The server owns this process: when the channel closes, stop.
process.on('disconnect', () => process.exit(0));

async function execute(message: ExecMessage): Promise<void> {
  const slot = slotFor(message);
  if (!slot) {
    send({ t: 'need_source', id: message.id });
    return;
  }
  const outcome = await slot.execute(message.args, message.limits);
  send({ t: 'result', id: message.id, outcome });
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
  if (script.source === undefined || !init || !bindings) return undefined;
  const slot = new ScriptSlot({
    key: script.key,
    source: script.source,
    filename: script.filename,
    memoryMb: message.limits.memory_mb,
    maxInstances: init.instancesPerScript,
    killGraceMs: init.killGraceMs,
    log: init.log,
    bindings,
    watchdog,
    onStuck,
  });
  slots.set(script.key, slot);
  evictIdleSlots();
  return slot;
}

function evictIdleSlots(): void {
  for (const [key, slot] of slots) {
    if (slots.size <= MAX_SLOTS) break;
    if (slot.busy) continue;
    slot.dispose();
    slots.delete(key);
  }
}

function onStuck(): void {
  if (reportedStuck) return;
  reportedStuck = true;
  send({ t: 'stuck' });
}
