/**
 * Sandbox-escape attempts against the script engine (SPEC §3, "Isolation and limits").
 *
 * Every IdP below carries one attack. A script reports what it could reach as
 * `{escaped, detail, ...evidence}` in its responsePayload; the tests assert both that
 * it did not escape and the specific evidence of why (the error it got, the value it
 * saw), so no test passes just because the attempt silently did nothing. Attacks
 * that are fatal by design (blocking, stack overflow) must end as a 500 for their
 * own request only, and the server must keep answering.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { backchannel, idp, startRegistrar, type TestRegistrar } from './helpers/registrar.js';

const CANARY = `canary-${randomUUID()}`;
const SOURCE_MARKER = `SRC-MARKER-${randomUUID()}`;
const SECRET_PROPERTY_VALUE = `sk_live_${randomUUID()}`;

/**
 * Asserts that an error stack a script saw names only isolate code: the message line,
 * then frames of the prelude or the script's own file (and the marker isolated-vm puts
 * where a host call was), never a host path.
 */
function assertIsolateOnlyStack(stack: unknown, message: string, ownFile: string): void {
  const lines = String(stack).split('\n');
  assert.equal(lines[0], `Error: ${message}`);
  for (const line of lines.slice(1)) {
    const frame =
      /^ {4}at (?:\(<isolated-vm boundary>\)|[\w.<>]+ \((?:registrar:prelude|([^:()]+)):\d+:\d+\))$/.exec(
        line,
      );
    assert.ok(
      frame && (frame[1] === undefined || frame[1] === ownFile),
      `a frame from outside the isolate: ${line}`,
    );
  }
  assert.doesNotMatch(String(stack), /\/work\/|\/home\/|node:|node_modules|\.ts\b|host-bindings/);
}

/** Every script starts with this helper; the evidence travels as JSON text. */
const DONE = 'function done(o) { return { status: 2000, responsePayload: JSON.stringify(o) }; }\n';
const js = (source: string) => DONE + source;

// ---------------------------------------------------------------------------------
// The attacks, one IdP each.
// ---------------------------------------------------------------------------------

const SCRIPTS: Record<string, { source: string; limits?: Record<string, number> }> = {
  ok: { source: js('function execute(p) { return done({ alive: true, echo: p }); }') },

  'ctor-ctor': {
    source: js(`function execute() {
  var F = this.constructor.constructor;
  var typeofProcess = F('return typeof process')();
  var typeofRequire = F('return typeof require')();
  var env;
  try { env = F('return process.env')(); env = 'got ' + typeof env; } catch (e) { env = e.name + ': ' + e.message; }
  return done({
    escaped: typeofProcess !== 'undefined' || typeofRequire !== 'undefined' || env.indexOf('got') === 0,
    detail: 'process=' + typeofProcess + ' require=' + typeofRequire,
    sameFunction: F === Function, thisIsGlobal: this === globalThis,
    typeofProcess: typeofProcess, typeofRequire: typeofRequire, env: env
  });
}`),
  },

  'function-this': {
    source: js(`function execute() {
  var g = Function('return this')();
  var names = ['process', 'require', 'module', 'exports', 'Buffer', 'global', '__dirname', '__filename',
    'setImmediate', 'ivm', '_ivm', 'isolatedVm', 'Reference', 'ExternalCopy', 'Callback', 'Isolate'];
  var found = names.filter(function (n) { return typeof g[n] !== 'undefined'; });
  return done({ escaped: found.length > 0, detail: 'found: ' + found.join(','), found: found,
    isGlobal: g === globalThis, seesCache: typeof g.CACHE === 'object' && typeof g.CACHE.fetch === 'function' });
}`),
  },

  'binding-ctors': {
    source: js(`function execute() {
  var fns = {
    'CACHE.store': CACHE.store, 'CACHE.fetch': CACHE.fetch, 'CACHE.delete': CACHE.delete,
    'LOG.info': LOG.info, 'LOG.error': LOG.error, 'PROPERTIES.get': PROPERTIES.get,
    'java.util.UUID.randomUUID': java.util.UUID.randomUUID,
    'UUID#toString': java.util.UUID.randomUUID().toString,
    'print': print, 'Java.type': Java.type
  };
  var report = {}, escaped = false;
  for (var name in fns) {
    var f = fns[name];
    var viaCtor = f.constructor.constructor('return typeof process')();
    var viaCtorRequire = f.constructor('return typeof require')();
    var entry = {
      isolateFunction: f.constructor === Function && Object.getPrototypeOf(f) === Function.prototype,
      ctorCtorIsFunction: f.constructor.constructor === Function,
      madeInIsolate: Function.prototype.toString.call(f).indexOf('[native code]') === -1,
      typeofProcess: viaCtor, typeofRequire: viaCtorRequire
    };
    if (viaCtor !== 'undefined' || viaCtorRequire !== 'undefined') escaped = true;
    report[name] = entry;
  }
  return done({ escaped: escaped, detail: 'checked ' + Object.keys(fns).length + ' functions', report: report });
}`),
  },

  'arg-and-error-ctors': {
    source: js(`function execute(requestPayload) {
  var viaArg = requestPayload.constructor.constructor('return typeof process')();
  var hostError;
  try { CACHE.store(new Array(2000).join('k'), 'v'); } catch (e) { hostError = e; }
  var viaError = hostError.constructor.constructor('return typeof process')();
  var viaErrorProto = Object.getPrototypeOf(hostError).constructor.constructor('return typeof require')();
  return done({
    escaped: viaArg !== 'undefined' || viaError !== 'undefined' || viaErrorProto !== 'undefined',
    detail: 'arg=' + viaArg + ' error=' + viaError + ' errorProto=' + viaErrorProto,
    payloadType: typeof requestPayload,
    errorIsIsolateError: hostError instanceof Error && hostError.constructor === Error,
    message: hostError.message, stack: String(hostError.stack),
    errorKeys: Object.getOwnPropertyNames(hostError)
  });
}`),
  },

  'other-function-ctors': {
    source: js(`async function execute() {
  var AF = (async function () {}).constructor;
  var GF = (function* () {}).constructor;
  var AGF = (async function* () {}).constructor;
  var results = {
    asyncFunction: await AF('return typeof process')(),
    generatorFunction: GF('yield typeof require')().next().value,
    asyncGeneratorFunction: (await AGF('yield typeof module')().next()).value,
    reflectConstruct: Reflect.construct(Function, ['return typeof Buffer'])(),
    boundFunction: Function.bind(null, 'return typeof process')()(),
    protoConstructor: Function.prototype.constructor('return typeof global')()
  };
  var escaped = Object.keys(results).some(function (k) { return results[k] !== 'undefined'; });
  return done({ escaped: escaped, detail: JSON.stringify(results), results: results,
    intrinsics: Object.getPrototypeOf(AF) === Function && Object.getPrototypeOf(GF) === Function &&
      Object.getPrototypeOf(AGF) === Function && AF !== Function });
}`),
  },

  'callsite-capture': {
    source: js(`function execute() {
  var frames = [];
  Error.prepareStackTrace = function (error, callsites) {
    for (var i = 0; i < callsites.length; i++) {
      var cs = callsites[i], self = cs.getThis(), fn = cs.getFunction();
      var reach = 'none';
      try { if (self && self.constructor) reach = self.constructor.constructor('return typeof process')(); } catch (e) { reach = 'threw'; }
      frames.push({ file: cs.getFileName(), fn: cs.getFunctionName(), thisType: typeof self, fnType: typeof fn,
        thisIsGlobal: self === globalThis, reach: reach,
        typeName: String(cs.getTypeName()) });
    }
    return 'captured';
  };
  var keyErrorStack, hostErrorStack;
  try { CACHE.fetch(42); } catch (e) { keyErrorStack = e.stack; }
  try { CACHE.fetch(new Array(2000).join('x')); } catch (e) { hostErrorStack = String(e.stack); }
  var cacheFrames = frames;
  frames = [];
  function sloppyInner() { return new Error('sanity').stack; }
  sloppyInner();
  var sanity = frames[0] || {};
  frames = cacheFrames;
  Error.prepareStackTrace = undefined;
  var escaped = frames.some(function (f) { return f.reach !== 'none' && f.reach !== 'undefined'; });
  return done({ escaped: escaped, detail: frames.length + ' frames', frames: frames,
    keyErrorStack: keyErrorStack, hostErrorStack: hostErrorStack,
    sanity: { fn: sanity.fn, fnType: sanity.fnType, thisIsGlobal: sanity.thisIsGlobal } });
}`),
  },

  'caller-chain': {
    source: js(`function execute() {
  function walk(f) {
    var names = [], c;
    try { c = f.caller; } catch (e) { return ['threw ' + e.name]; }
    for (var n = 0; c && n < 20; n++) {
      names.push(c.name || '<anonymous>');
      try { c = c.caller; } catch (e) { names.push('threw ' + e.name); break; }
    }
    return names;
  }
  var chains = {};
  CACHE.store('sandbox-escapes:caller-a', 'v', { valueOf: function () { chains.ttlValueOf = walk(arguments.callee); return 5; } });
  CACHE.store('sandbox-escapes:caller-b', { toJSON: function () { chains.valueToJSON = walk(arguments.callee); return 'x'; } });
  LOG.info('{}', { toJSON: function () { chains.logToJSON = walk(arguments.callee); return 's'; } });
  function sanity() { return walk(arguments.callee); }
  chains.sanity = sanity();
  var strictCaller, strictArguments;
  try { void CACHE.fetch.caller; strictCaller = 'readable'; } catch (e) { strictCaller = e.name + ': ' + e.message; }
  try { void CACHE.store.arguments; strictArguments = 'readable'; } catch (e) { strictArguments = e.name + ': ' + e.message; }
  var hostNames = ['store', 'fetch', 'cacheCall', 'checkKey', 'run', 'logger', 'format', 'show', 'normalise'];
  var reached = [];
  ['ttlValueOf', 'valueToJSON', 'logToJSON'].forEach(function (k) {
    (chains[k] || []).forEach(function (n) { if (hostNames.indexOf(n) !== -1) reached.push(k + ':' + n); });
  });
  return done({ escaped: reached.length > 0, detail: 'reached ' + reached.join(','), chains: chains,
    executeCaller: String(execute.caller), strictCaller: strictCaller, strictArguments: strictArguments });
}`),
  },

  'dynamic-import': {
    source: js(`async function execute() {
  var specs = ['fs', 'node:child_process', 'node:process', 'registrar:prelude', '/etc/passwd'];
  var out = {}, escaped = false;
  for (var i = 0; i < specs.length; i++) {
    try { var m = await import(specs[i]); out[specs[i]] = 'loaded ' + Object.keys(m).join(','); escaped = true; }
    catch (e) { out[specs[i]] = e.name + ': ' + e.message; }
  }
  var meta;
  try { Function('return import.meta')(); meta = 'readable'; escaped = true; } catch (e) { meta = e.name + ': ' + e.message; }
  return done({ escaped: escaped, detail: JSON.stringify(out), results: out, importMeta: meta });
}`),
  },

  'eval-variants': {
    source: js(`function execute() {
  var direct;
  try { direct = typeof eval('process'); } catch (e) { direct = e.name + ': ' + e.message; }
  var indirectGlobal = (0, eval)('this');
  var results = {
    direct: direct,
    directTypeof: eval('typeof require'),
    indirect: (0, eval)('typeof process'),
    indirectModule: (0, eval)('typeof module'),
    windowEval: globalThis.eval('typeof Buffer'),
    newFunctionEval: new Function('return eval("typeof process")')()
  };
  var escaped = direct.indexOf('ReferenceError') !== 0 || ['directTypeof', 'indirect', 'indirectModule', 'windowEval',
    'newFunctionEval'].some(function (k) { return results[k] !== 'undefined'; });
  return done({ escaped: escaped, detail: JSON.stringify(results), results: results,
    indirectIsGlobal: indirectGlobal === globalThis });
}`),
  },

  'node-globals': {
    source: js(`function execute() {
  var attempts = {
    require: function () { return require('child_process'); },
    processBinding: function () { return process.binding('spawn_sync'); },
    processDlopen: function () { return process.dlopen({}, '/tmp/x.node'); },
    moduleLoad: function () { return module.constructor._load('fs'); },
    mainModule: function () { return process.mainModule.require('fs'); },
    globalProcess: function () { return global.process; },
    buffer: function () { return Buffer.from('x'); }
  };
  var out = {}, escaped = false;
  for (var k in attempts) {
    try { var v = attempts[k](); out[k] = 'returned ' + typeof v; escaped = true; }
    catch (e) { out[k] = e.name + ': ' + e.message; }
  }
  return done({ escaped: escaped, detail: JSON.stringify(out), results: out });
}`),
  },

  'global-names': {
    source: js(`function execute() {
  return done({ escaped: false, detail: 'listing',
    names: Object.getOwnPropertyNames(globalThis),
    symbols: Object.getOwnPropertySymbols(globalThis).map(String),
    protoNames: Object.getOwnPropertyNames(Object.getPrototypeOf(globalThis)),
    protoIsObjectPrototype: Object.getPrototypeOf(Object.getPrototypeOf(globalThis)) === Object.prototype });
}`),
  },

  'pollute-a': {
    source: js(`function execute() {
  Object.prototype.polluted = 'by-A';
  Array.prototype.includes = function () { return 'hijacked-by-A'; };
  JSON.parse = function () { return { hijacked: 'by-A' }; };
  return done({ escaped: false, detail: 'polluted', selfSees: ({}).polluted, selfArray: [1].includes(1) });
}`),
  },
  'pollute-b': {
    source: js(`function execute() {
  var seen = ({}).polluted, arr = [1].includes(1), parsed = JSON.parse('{"a":1}');
  return done({ escaped: seen !== undefined || arr !== true || parsed.a !== 1,
    detail: 'polluted=' + String(seen) + ' includes=' + String(arr), seen: seen === undefined ? null : seen,
    includes: arr, parsed: parsed, hasOwnPolluted: 'polluted' in {} });
}`),
  },

  'global-a': {
    source: js(`function execute() {
  globalThis.leak = 1; this.leak2 = 'from-A'; leak3 = 'implicit-A';
  return done({ escaped: false, detail: 'set', selfSees: [leak, leak2, leak3] });
}`),
  },
  'global-b': {
    source: js(`function execute() {
  var types = [typeof leak, typeof leak2, typeof leak3, typeof globalThis.leak];
  return done({ escaped: types.some(function (t) { return t !== 'undefined'; }), detail: types.join(','), types: types });
}`),
  },

  'equals-a': {
    source: js(`function execute() {
  String.prototype.equals = function () { return true; };
  String.prototype.equalsIgnoreCase = function () { return true; };
  return done({ escaped: false, detail: 'overridden', selfSees: 'a'.equals('b') });
}`),
  },
  'equals-b': {
    source: js(`function execute() {
  var r = { differ: 'a'.equals('b'), same: 'a'.equals('a'), ignoreCase: 'A'.equalsIgnoreCase('b'), ignoreCaseSame: 'A'.equalsIgnoreCase('a') };
  return done({ escaped: r.differ !== false || r.ignoreCase !== false, detail: JSON.stringify(r), results: r });
}`),
  },

  'symbol-a': {
    source: js(`function execute() {
  var s = Symbol.for('registrar.shared');
  globalThis[s] = 'from-A'; Object.prototype[s] = 'proto-from-A';
  return done({ escaped: false, detail: 'set', selfSees: globalThis[s], keyFor: Symbol.keyFor(s) });
}`),
  },
  'symbol-b': {
    source: js(`function execute() {
  var s = Symbol.for('registrar.shared');
  var onGlobal = globalThis[s], onProto = ({})[s];
  return done({ escaped: onGlobal !== undefined || onProto !== undefined,
    detail: String(onGlobal) + '/' + String(onProto), keyFor: Symbol.keyFor(s),
    globalSymbols: Object.getOwnPropertySymbols(globalThis).map(String) });
}`),
  },

  'status-getter-throws': {
    source: js(`function execute() {
  return { get status() { throw new Error('status getter exploded ' + PROPERTIES.get('api_key')); }, responsePayload: 'x' };
}`),
  },

  'payload-tojson': {
    source: js(`function execute() {
  return { status: 2000, responsePayload: { toJSON: function () {
    var reach, env;
    try { reach = this.constructor.constructor('return typeof process')(); } catch (e) { reach = 'threw ' + e.name; }
    try { env = Function('return process.env.REGISTRAR_ESCAPE_CANARY')(); } catch (e) { env = e.name + ': ' + e.message; }
    return { escaped: reach !== 'undefined' || env.indexOf('ReferenceError') !== 0, detail: 'toJSON saw process=' + reach,
      reach: reach, env: env, thisIsPlain: Object.getPrototypeOf(this) === Object.prototype };
  } } };
}`),
  },

  'proxy-result': {
    source: js(`var traps = [];
function execute(p) {
  if (p === 'report') return done({ escaped: traps.some(function (t) { return t.reach !== 'undefined'; }),
    detail: traps.map(function (t) { return t.trap + ':' + t.key; }).join(','), traps: traps });
  traps = [];
  var target = { status: 2000, responsePayload: 'from-proxy' };
  var proxy;
  function note(trap, key, receiver) {
    var reach = target.constructor.constructor('return typeof process')();
    var receiverKind = receiver === undefined ? 'none' : receiver === proxy ? 'proxy' : 'foreign';
    if (receiverKind === 'foreign') reach = 'foreign receiver';
    traps.push({ trap: trap, key: String(key), reach: reach, receiver: receiverKind });
  }
  proxy = new Proxy(target, {
    get: function (t, k, receiver) { note('get', k, receiver); return t[k]; },
    has: function (t, k) { note('has', k); return k in t; },
    ownKeys: function (t) { note('ownKeys', ''); return Reflect.ownKeys(t); },
    getOwnPropertyDescriptor: function (t, k) { note('gopd', k); return Reflect.getOwnPropertyDescriptor(t, k); },
    getPrototypeOf: function (t) { note('getPrototypeOf', ''); return Object.getPrototypeOf(t); }
  });
  return proxy;
}`),
  },

  'forge-outcome': {
    source: js(`Object.prototype.toJSON = function (key) {
  if (key === '' && Object.prototype.hasOwnProperty.call(this, 'dropped')) {
    return { result: { status: 'forged-status', responsePayload: 'forged' },
      logs: [{ level: 'fatal', message: 'FORGED-FATAL-LINE' }], dropped: 0 };
  }
  return this;
};
function execute() { return { status: 2000, responsePayload: 'honest' }; }`),
  },

  'atomics-wait': {
    source: js(`function execute() {
  var cell = new Int32Array(new SharedArrayBuffer(4));
  var r = Atomics.wait(cell, 0, 0);
  return done({ escaped: true, detail: 'Atomics.wait returned ' + r });
}`),
    limits: { wall_time_ms: 500, cpu_time_ms: 300 },
  },

  bystander: {
    source: js(`function execute() {
  var started = Date.now(), spins = 0;
  while (Date.now() - started < 700) spins++;
  return done({ escaped: false, detail: 'worked', spins: spins });
}`),
  },
  'wait-async': {
    source: js(`function execute() {
  var cell = new Int32Array(new SharedArrayBuffer(4));
  var r = Atomics.waitAsync(cell, 0, 0, 10);
  return done({ escaped: false, detail: 'waitAsync async=' + r.async });
}`),
  },

  'recursion-caught': {
    source: js(`function execute() {
  function f(n) { return f(n + 1) + 1; }
  try { f(0); } catch (e) {
    return done({ escaped: false, detail: e.name + ': ' + e.message, name: e.name, message: e.message,
      isRangeError: e instanceof RangeError });
  }
  return done({ escaped: true, detail: 'infinite recursion returned' });
}`),
  },
  'recursion-uncaught': {
    source: js('function execute() { function f(n) { return f(n + 1) + 1; } return f(0); }'),
  },
  'recursion-host-edge': {
    source: js(`function execute() {
  var attempts = 0, failures = 0;
  function f(n) {
    try { return f(n + 1); } catch (e) {
      attempts++;
      try { CACHE.fetch('sandbox-escapes:edge'); PROPERTIES.get('x'); java.util.UUID.randomUUID(); LOG.debug('depth {}', n); return n; }
      catch (e2) { failures++; throw e2; }
    }
  }
  var depth = f(0);
  return done({ escaped: false, detail: 'host calls at depth ' + depth, depth: depth, attempts: attempts,
    failures: failures, stillWorks: CACHE.fetch('sandbox-escapes:edge') === null });
}`),
  },

  wasm: {
    source: js(`function execute() {
  // WebAssembly is removed from script globals: its memory is not counted against the heap limit.
  var reached = [];
  try { reached.push(typeof WebAssembly); } catch (e) { reached.push(e.name); }
  try { reached.push(typeof globalThis.WebAssembly); } catch (e) { reached.push(e.name); }
  try { reached.push(typeof Function('return this')().WebAssembly); } catch (e) { reached.push(e.name); }
  return done({ escaped: reached.some(function (t) { return t !== 'undefined'; }), detail: reached.join(','), reached: reached });
}`),
  },

  'wasm-memory': {
    source: js(`function execute() {
  var memory;
  try { memory = new WebAssembly.Memory({ initial: 2048 }); } catch (e) {
    return done({ escaped: false, detail: e.name + ': ' + e.message });
  }
  var bytes = new Uint8Array(memory.buffer);
  bytes.fill(1);
  globalThis.keepMemory = memory;
  return done({ escaped: memory.buffer.byteLength > 16 * 1048576,
    detail: 'holding ' + memory.buffer.byteLength / 1048576 + ' MiB of WebAssembly memory under a 16 MiB limit',
    mib: memory.buffer.byteLength / 1048576, sample: bytes[bytes.length - 1] });
}`),
    limits: { memory_mb: 16 },
  },

  'arraybuffer-limit': {
    source: js(`function execute() {
  var out = {};
  try { out.arrayBuffer = 'allocated ' + new ArrayBuffer(256 * 1048576).byteLength; } catch (e) { out.arrayBuffer = e.name + ': ' + e.message; }
  try { out.shared = 'allocated ' + new SharedArrayBuffer(256 * 1048576).byteLength; } catch (e) { out.shared = e.name + ': ' + e.message; }
  try { out.typed = 'allocated ' + new Float64Array(64 * 1048576).length; } catch (e) { out.typed = e.name + ': ' + e.message; }
  var escaped = Object.keys(out).some(function (k) { return out[k].indexOf('allocated') === 0; });
  return done({ escaped: escaped, detail: JSON.stringify(out), results: out });
}`),
    limits: { memory_mb: 16 },
  },

  'java-access': {
    source: js(`function execute() {
  function attempt(f) { try { var v = f(); return 'returned ' + typeof v; } catch (e) { return e.name + ': ' + e.message; } }
  var out = {
    runtimeExec: attempt(function () { return java.lang.Runtime.getRuntime().exec('id'); }),
    javaTypeSystem: attempt(function () { return Java.type('java.lang.System').getenv(); }),
    packagesFile: attempt(function () { return new Packages.java.io.File('/etc/passwd'); }),
    processBuilder: attempt(function () { return new java.lang.ProcessBuilder(['id']).start(); }),
    javaNio: attempt(function () { return java.nio.file.Files.readAllLines('/etc/passwd'); }),
    utilOther: attempt(function () { return java.util.Scanner; }),
    javaImporter: attempt(function () { return new JavaImporter(java.io); }),
    nashornLoad: attempt(function () { return load('nashorn:mozilla_compat.js'); })
  };
  var uuid = java.util.UUID.randomUUID().toString();
  var escaped = Object.keys(out).some(function (k) { return out[k].indexOf('returned') === 0; });
  return done({ escaped: escaped, detail: JSON.stringify(out), results: out, uuid: uuid,
    typeUuid: String(Java.type('java.util.UUID').randomUUID()) });
}`),
  },

  'env-canary': {
    source: js(`function execute() {
  var found = [];
  function attempt(name, f) { try { var v = f(); if (v !== undefined && v !== null) found.push(name + '=' + JSON.stringify(v)); } catch (e) {} }
  attempt('process.env', function () { return process.env.REGISTRAR_ESCAPE_CANARY; });
  attempt('ctor', function () { return this.constructor.constructor('return process.env')().REGISTRAR_ESCAPE_CANARY; });
  attempt('Function', function () { return Function('return process')().env.REGISTRAR_ESCAPE_CANARY; });
  attempt('global', function () { return globalThis.process.env.REGISTRAR_ESCAPE_CANARY; });
  attempt('properties', function () { return PROPERTIES.get('REGISTRAR_ESCAPE_CANARY'); });
  attempt('properties-env', function () { return PROPERTIES.get('env'); });
  attempt('cache', function () { return CACHE.fetch('REGISTRAR_ESCAPE_CANARY'); });
  attempt('java', function () { return java.lang.System.getenv('REGISTRAR_ESCAPE_CANARY'); });
  attempt('Java.type', function () { return Java.type('java.lang.System').getenv('REGISTRAR_ESCAPE_CANARY'); });
  attempt('Deno', function () { return Deno.env.get('REGISTRAR_ESCAPE_CANARY'); });
  return done({ escaped: found.length > 0, detail: found.join(';'), found: found });
}`),
  },

  'async-host-apis': {
    source: js(`function execute() {
  var names = ['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'queueMicrotask', 'fetch', 'XMLHttpRequest',
    'WebSocket', 'EventSource', 'importScripts', 'Worker', 'MessageChannel', 'structuredClone', 'performance',
    'TextDecoder', 'URL', 'navigator', 'Deno', 'Bun', 'process'];
  var present = names.filter(function (n) { return typeof globalThis[n] !== 'undefined'; });
  var consoleResult = console.log('console output from a script');
  var consoleMethods = Object.getOwnPropertyNames(console).length;
  return done({ escaped: present.length > 0, detail: 'present: ' + present.join(','), present: present,
    consoleReturns: String(consoleResult), consoleMethods: consoleMethods });
}`),
  },

  'microtask-spin': {
    source: js(`function execute() {
  var p = Promise.resolve();
  for (var i = 0; i < 50; i++) p = p.then(function () {});
  p.then(function () { for (;;) {} });
  return done({ escaped: true, detail: 'returned while a microtask spins' });
}`),
    limits: { cpu_time_ms: 300, wall_time_ms: 2000 },
  },

  finalization: {
    source: js(`var registry = new FinalizationRegistry(function () {
  if (globalThis.frRun) return;
  var started = Date.now();
  while (Date.now() - started < 250) {}
  globalThis.frRun = { startedAt: started, spentMs: Date.now() - started, insideExecution: globalThis.inExecution === true };
});
function execute(p) {
  globalThis.inExecution = true;
  try {
    if (p === 'report') {
      var run = globalThis.frRun || null;
      return done({ escaped: run !== null && !run.insideExecution,
        detail: run ? 'cleanup callback ran ' + run.spentMs + ' ms while inExecution=' + run.insideExecution : 'cleanup callback did not run',
        frRun: run, registered: globalThis.registered || 0 });
    }
    for (var i = 0; i < 2000; i++) registry.register({ i: i }, i);
    globalThis.registered = 2000;
    var junk = [];
    for (var j = 0; j < 300; j++) junk.push(new Array(10000).fill(j));
    return done({ escaped: false, detail: 'registered', registered: 2000 });
  } finally {
    globalThis.inExecution = false;
  }
}`),
  },

  'secret-holder': {
    source: js(`var SECRET_SOURCE = '${SOURCE_MARKER}';
function execute() { return done({ escaped: false, detail: 'holder', length: SECRET_SOURCE.length }); }`),
  },
  snoop: {
    source: js(`function execute(reversed) {
  var marker = reversed.split('').reverse().join('');
  var selfMarker = ['SNOOP', 'SELF', 'SOURCE'].join('-');
  var hits = [], sawOwnSource = false, objects = 0, strings = 0;
  function check(text, where) {
    strings++;
    if (text.indexOf(marker) !== -1) hits.push(where);
    if (text.indexOf('SNOOP-SELF' + '-SOURCE') !== -1 || text.indexOf("['SNOOP', 'SELF', 'SOURCE']") !== -1) sawOwnSource = true;
  }
  var seen = new Set(), queue = [globalThis];
  while (queue.length && objects < 5000) {
    var o = queue.shift();
    if (seen.has(o)) continue;
    seen.add(o); objects++;
    if (typeof o === 'function') { try { check(Function.prototype.toString.call(o), 'source of ' + o.name); } catch (e) {} }
    var keys;
    try { keys = Reflect.ownKeys(o); } catch (e) { continue; }
    for (var i = 0; i < keys.length; i++) {
      var d;
      try { d = Object.getOwnPropertyDescriptor(o, keys[i]); } catch (e) { continue; }
      if (!d) continue;
      [d.value, d.get, d.set].forEach(function (v) {
        if (typeof v === 'string') check(v, String(keys[i]));
        else if (v !== null && (typeof v === 'object' || typeof v === 'function')) queue.push(v);
      });
    }
    try { var proto = Object.getPrototypeOf(o); if (proto) queue.push(proto); } catch (e) {}
  }
  check(String(new Error('probe').stack), 'stack');
  var guesses = ['secret-holder', 'secret-holder/backchannel', 'secret-holder/backchannel.js', 'source', 'scripts', 'script'];
  for (var g = 0; g < guesses.length; g++) {
    var cached = CACHE.fetch(guesses[g]);
    if (cached !== null) check(JSON.stringify(cached), 'cache ' + guesses[g]);
    var prop = PROPERTIES.get(guesses[g]);
    if (prop !== null) check(String(prop), 'property ' + guesses[g]);
  }
  return done({ escaped: hits.length > 0, detail: 'hits: ' + hits.join(','), hits: hits, objects: objects,
    strings: strings, sawOwnSource: sawOwnSource, selfMarkerLength: selfMarker.length });
}`),
  },

  'properties-proto': {
    source: js(`function execute() {
  var names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'size', 'get', 'prototype'];
  var properties = names.map(function (n) { var v = PROPERTIES.get(n); return [n, v === null ? null : typeof v + ':' + String(v)]; });
  var cache = names.map(function (n) { var v = CACHE.fetch(n); return [n, v === null ? null : typeof v]; });
  var escaped = properties.concat(cache).some(function (pair) { return pair[1] !== null; });
  return done({ escaped: escaped, detail: JSON.stringify(properties) + ' ' + JSON.stringify(cache),
    properties: properties, cache: cache, known: PROPERTIES.get('api_key') === null ? 'missing' : 'present',
    nonString: [PROPERTIES.get({ toString: function () { return 'api_key'; } }), PROPERTIES.get(['api_key'])] });
}`),
  },

  'then-hooks': {
    source: js(`var seen = [];
var originalThen = Promise.prototype.then;
Promise.prototype.then = function (onFulfilled, onRejected) {
  [onFulfilled, onRejected].forEach(function (f) {
    if (typeof f === 'function') seen.push({ via: 'Promise.prototype.then', isolate: f.constructor === Function,
      reach: f.constructor.constructor('return typeof process')() });
  });
  return originalThen.call(this, onFulfilled, onRejected);
};
Object.defineProperty(Object.prototype, 'then', { configurable: true, get: function () {
  seen.push({ via: 'Object.prototype.then getter', isolate: this.constructor === Object || this.constructor === undefined,
    reach: this.constructor ? this.constructor.constructor('return typeof process')() : 'undefined',
    keys: Object.keys(this).join(',') });
  return undefined;
} });
async function execute(p) {
  if (p === 'report') {
    var before = seen.slice();
    Promise.resolve(1).then(function () {});
    return done({ escaped: before.some(function (s) { return !s.isolate || s.reach !== 'undefined'; }),
      detail: before.length + ' hook calls from the previous execution', previous: before, sanity: seen.length - before.length });
  }
  await CACHE.fetch('sandbox-escapes:then');
  return { status: 2000, responsePayload: 'first' };
}`),
  },

  'top-level': {
    source: js(`var TOP = (function () {
  var r = { typeofProcess: typeof process, typeofRequire: typeof require };
  try { r.viaCtor = this.constructor.constructor('return typeof process')(); } catch (e) { r.viaCtor = 'threw ' + e.name; }
  try { r.viaFunction = Function('return this')().process === undefined ? 'undefined' : 'found'; } catch (e) { r.viaFunction = 'threw'; }
  try { CACHE.store('sandbox-escapes:top-level', 'stored at load'); r.cacheAtLoad = CACHE.fetch('sandbox-escapes:top-level'); } catch (e) { r.cacheAtLoad = e.name + ': ' + e.message; }
  return r;
})();
function execute() {
  return done({ escaped: TOP.typeofProcess !== 'undefined' || TOP.typeofRequire !== 'undefined' ||
    TOP.viaCtor !== 'undefined' || TOP.viaFunction !== 'undefined', detail: JSON.stringify(TOP), top: TOP });
}`),
  },
};

// ---------------------------------------------------------------------------------

interface Evidence {
  escaped: boolean;
  detail: string;
  [key: string]: unknown;
}

describe('sandbox escapes (SPEC §3: isolation and limits)', () => {
  let r: TestRegistrar;
  /** Every response body any script produced, for the canary check at the end. */
  const bodies: string[] = [];

  before(async () => {
    process.env.REGISTRAR_ESCAPE_CANARY = CANARY;
    r = await startRegistrar({
      identity_providers: Object.entries(SCRIPTS).map(([id, { source, limits }]) =>
        idp(id, { backchannel: source }, limits ? { limits } : {}),
      ),
      properties: [{ id: 'api_key', value: SECRET_PROPERTY_VALUE, sensitive: true }],
      // Some checks need a second call in the isolate of the first (FinalizationRegistry); a
      // script that ran past the demotion threshold would move to a demoted process instead.
      engine: { demote_after_ms: 5000 },
    });
  });
  after(async () => {
    delete process.env.REGISTRAR_ESCAPE_CANARY;
    await r?.close();
  });

  const call = async (id: string, data = 'x') => {
    const res = await backchannel(r.app, id, data);
    bodies.push(res.body);
    return res;
  };
  /** Runs an IdP that must answer 2000 and returns its evidence. */
  const evidence = async (id: string, data = 'x'): Promise<Evidence> => {
    const res = await call(id, data);
    assert.equal(res.statusCode, 200, `${id}: ${res.body}`);
    const body = res.json();
    assert.equal(body.status, 2000, `${id}: ${res.body}`);
    return JSON.parse(body.data) as Evidence;
  };
  const notEscaped = (e: Evidence) => assert.equal(e.escaped, false, `escaped: ${e.detail}`);
  /** The failure the engine logged for the IdP's last failed execution. */
  const failureOf = (id: string): { kind: string; message: string } | undefined => {
    const lines = r.logs.lines.filter((l) => l.idp === id && l.failure);
    return lines.at(-1)?.failure as { kind: string; message: string } | undefined;
  };
  const expect500 = (res: Awaited<ReturnType<typeof call>>, id: string) => {
    assert.equal(res.statusCode, 500, `${id}: ${res.body}`);
    assert.equal(res.json().error, 'internal_server_error');
  };
  const stillServing = async () => {
    const e = await evidence('ok', 'still-alive');
    assert.equal(e.alive, true, 'the ok IdP did not answer');
    assert.equal(e.echo, 'still-alive');
  };

  test('this.constructor.constructor("return process")() reaches only the isolate', async () => {
    const e = await evidence('ctor-ctor');
    notEscaped(e);
    assert.equal(e.sameFunction, true, 'this.constructor.constructor is not the isolate Function');
    assert.equal(e.thisIsGlobal, true, 'sloppy this inside execute is not the isolate global');
    assert.equal(e.typeofProcess, 'undefined');
    assert.equal(e.typeofRequire, 'undefined');
    assert.equal(e.env, 'ReferenceError: process is not defined');
  });

  test('Function("return this")() is the isolate global, without process/require/module/Buffer/global', async () => {
    const e = await evidence('function-this');
    notEscaped(e);
    assert.deepEqual(e.found, []);
    assert.equal(e.isGlobal, true, 'Function("return this")() is not globalThis');
    assert.equal(e.seesCache, true, 'the global object does not carry CACHE, so the probe looked elsewhere');
  });

  test('constructor.constructor from CACHE, LOG, PROPERTIES, print, Java.type and UUID functions is the isolate Function', async () => {
    const e = await evidence('binding-ctors');
    notEscaped(e);
    const report = e.report as Record<string, Record<string, unknown>>;
    assert.equal(Object.keys(report).length, 10);
    for (const [name, entry] of Object.entries(report)) {
      assert.deepEqual(
        entry,
        {
          isolateFunction: true,
          ctorCtorIsFunction: true,
          madeInIsolate: true,
          typeofProcess: 'undefined',
          typeofRequire: 'undefined',
        },
        name,
      );
    }
  });

  test('constructor.constructor from the execute arguments and from errors thrown by host bindings', async () => {
    const e = await evidence('arg-and-error-ctors', 'payload');
    notEscaped(e);
    assert.equal(e.payloadType, 'string');
    assert.equal(e.errorIsIsolateError, true, 'the host error is not an isolate Error');
    assert.equal(e.message, 'CACHE.store: the key is 1999 bytes; the limit is 1024');
    assertIsolateOnlyStack(e.stack, String(e.message), 'arg-and-error-ctors/backchannel.js');
    assert.deepEqual([...(e.errorKeys as string[])].sort(), ['message', 'stack']);
  });

  test('AsyncFunction, GeneratorFunction, AsyncGeneratorFunction, Reflect.construct and bound Function constructors', async () => {
    const e = await evidence('other-function-ctors');
    notEscaped(e);
    assert.equal(e.intrinsics, true, 'the function constructors are not the isolate intrinsics');
    for (const [name, value] of Object.entries(e.results as Record<string, string>)) {
      assert.equal(value, 'undefined', name);
    }
  });

  test('Error.prepareStackTrace + CallSite getThis()/getFunction() during a CACHE.fetch call capture no host frame', async () => {
    const e = await evidence('callsite-capture');
    notEscaped(e);
    const frames = e.frames as Array<Record<string, unknown>>;
    assert.ok(frames.length >= 3, `too few frames captured: ${JSON.stringify(frames)}`);
    const names = frames.map((f) => f.fn);
    assert.deepEqual(names.slice(0, 3), ['checkKey', 'fetch', 'execute'], JSON.stringify(frames));
    for (const frame of frames) {
      assert.ok(
        frame.file === 'registrar:prelude' || frame.file === 'callsite-capture/backchannel.js',
        `a frame from outside the isolate: ${JSON.stringify(frame)}`,
      );
      if (frame.file === 'registrar:prelude') {
        // The prelude is strict: its receivers and functions (closures over the host references) stay hidden.
        assert.equal(frame.thisType, 'undefined', JSON.stringify(frame));
        assert.equal(frame.fnType, 'undefined', JSON.stringify(frame));
      }
    }
    // The same hook does expose a sloppy script frame's function and receiver: the technique works.
    assert.deepEqual(e.sanity, { fn: 'sloppyInner', fnType: 'function', thisIsGlobal: true });
    assert.equal(e.keyErrorStack, 'captured');
    assertIsolateOnlyStack(
      e.hostErrorStack,
      'CACHE.fetch: the key is 1999 bytes; the limit is 1024',
      'callsite-capture/backchannel.js',
    );
  });

  test('arguments.callee.caller chains from callbacks inside CACHE.store and LOG stop at strict prelude frames', async () => {
    const e = await evidence('caller-chain');
    notEscaped(e);
    const chains = e.chains as Record<string, string[]>;
    assert.deepEqual(chains.ttlValueOf, []);
    assert.deepEqual(chains.valueToJSON, []);
    assert.deepEqual(chains.logToJSON, []);
    assert.deepEqual(chains.sanity, ['execute'], 'the caller walk does not work at all');
    assert.equal(e.executeCaller, 'null');
    assert.match(
      String(e.strictCaller),
      /^TypeError: 'caller', 'callee', and 'arguments' properties may not be/,
    );
    assert.match(
      String(e.strictArguments),
      /^TypeError: 'caller', 'callee', and 'arguments' properties may not be/,
    );
  });

  test('dynamic import("fs") / import("node:child_process") and import.meta fail', async () => {
    const e = await evidence('dynamic-import');
    notEscaped(e);
    for (const [spec, outcome] of Object.entries(e.results as Record<string, string>)) {
      assert.equal(outcome, 'Error: Not supported', spec);
    }
    assert.equal(e.importMeta, "SyntaxError: Cannot use 'import.meta' outside a module");
  });

  test('eval("process"), indirect eval and new Function(eval) see only the isolate global', async () => {
    const e = await evidence('eval-variants');
    notEscaped(e);
    const results = e.results as Record<string, string>;
    assert.equal(results.direct, 'ReferenceError: process is not defined');
    for (const key of ['directTypeof', 'indirect', 'indirectModule', 'windowEval', 'newFunctionEval']) {
      assert.equal(results[key], 'undefined', key);
    }
    assert.equal(e.indirectIsGlobal, true, 'indirect eval did not run in the isolate global');
  });

  test('require, process.binding, process.dlopen, module._load, mainModule, global and Buffer are absent', async () => {
    const e = await evidence('node-globals');
    notEscaped(e);
    assert.deepEqual(e.results, {
      require: 'ReferenceError: require is not defined',
      processBinding: 'ReferenceError: process is not defined',
      processDlopen: 'ReferenceError: process is not defined',
      moduleLoad: 'ReferenceError: module is not defined',
      mainModule: 'ReferenceError: process is not defined',
      globalProcess: 'ReferenceError: global is not defined',
      buffer: 'ReferenceError: Buffer is not defined',
    });
  });

  test('globalThis holds only standard ES globals and the script globals (no host or isolated-vm internals)', async () => {
    const e = await evidence('global-names');
    const standard = [
      'Object',
      'Function',
      'Array',
      'Number',
      'parseFloat',
      'parseInt',
      'Infinity',
      'NaN',
      'undefined',
      'Boolean',
      'String',
      'Symbol',
      'Date',
      'Promise',
      'RegExp',
      'Error',
      'AggregateError',
      'EvalError',
      'RangeError',
      'ReferenceError',
      'SyntaxError',
      'TypeError',
      'URIError',
      'globalThis',
      'JSON',
      'Math',
      'Intl',
      'ArrayBuffer',
      'Uint8Array',
      'Int8Array',
      'Uint16Array',
      'Int16Array',
      'Uint32Array',
      'Int32Array',
      'Float32Array',
      'Float64Array',
      'Uint8ClampedArray',
      'BigUint64Array',
      'BigInt64Array',
      'DataView',
      'Map',
      'BigInt',
      'Set',
      'WeakMap',
      'WeakSet',
      'Proxy',
      'Reflect',
      'FinalizationRegistry',
      'WeakRef',
      'decodeURI',
      'decodeURIComponent',
      'encodeURI',
      'encodeURIComponent',
      'escape',
      'unescape',
      'eval',
      'isFinite',
      'isNaN',
      'console',
      'SharedArrayBuffer',
      'Atomics',
      'WebAssembly',
      // newer V8 versions (Node 22+)
      'Iterator',
      'Float16Array',
      'SuppressedError',
      'DisposableStack',
      'AsyncDisposableStack',
    ];
    const scriptGlobals = [
      'CACHE',
      'RATE',
      'LOG',
      'PROPERTIES',
      'HTTP',
      'java',
      'Java',
      'Packages',
      'print',
      'execute',
      'done',
    ];
    const allowed = new Set([...standard, ...scriptGlobals]);
    const names = e.names as string[];
    const unexpected = names.filter((n) => !allowed.has(n));
    assert.deepEqual(unexpected, [], `unexpected globals: ${unexpected.join(', ')}`);
    for (const required of ['CACHE', 'LOG', 'PROPERTIES', 'java', 'Java', 'Packages', 'print', 'execute']) {
      assert.ok(
        names.includes(required),
        `${required} is missing, so the listing is not of the script global`,
      );
    }
    assert.deepEqual(e.symbols, []);
    assert.deepEqual(e.protoNames, ['constructor']);
    assert.equal(e.protoIsObjectPrototype, true, 'the global prototype chain has a foreign link');
  });

  test('Object.prototype, Array.prototype and JSON pollution by one IdP is invisible to another IdP', async () => {
    const a = await evidence('pollute-a');
    assert.equal(a.selfSees, 'by-A', 'IdP A could not even pollute its own isolate');
    assert.equal(a.selfArray, 'hijacked-by-A');
    const b = await evidence('pollute-b');
    notEscaped(b);
    assert.equal(b.seen, null);
    assert.equal(b.includes, true);
    assert.deepEqual(b.parsed, { a: 1 });
    assert.equal(b.hasOwnPolluted, false);
  });

  test('globals set by one IdP (globalThis.leak, this.x, implicit) are invisible to another IdP', async () => {
    const a = await evidence('global-a');
    assert.deepEqual(a.selfSees, [1, 'from-A', 'implicit-A']);
    const b = await evidence('global-b');
    notEscaped(b);
    assert.deepEqual(b.types, ['undefined', 'undefined', 'undefined', 'undefined']);
  });

  test('String.prototype.equals overridden by one IdP does not change another IdP', async () => {
    const a = await evidence('equals-a');
    assert.equal(a.selfSees, true, 'IdP A could not override equals in its own isolate');
    const b = await evidence('equals-b');
    notEscaped(b);
    assert.deepEqual(b.results, { differ: false, same: true, ignoreCase: false, ignoreCaseSame: true });
  });

  test('the Symbol.for registry and symbol-keyed globals are per isolate', async () => {
    const a = await evidence('symbol-a');
    assert.equal(a.selfSees, 'from-A');
    assert.equal(a.keyFor, 'registrar.shared');
    const b = await evidence('symbol-b');
    notEscaped(b);
    assert.equal(b.detail, 'undefined/undefined');
    assert.equal(b.keyFor, 'registrar.shared');
    assert.deepEqual(b.globalSymbols, []);
  });

  test('a status getter that throws ends as a 500 without revealing its message or a property value', async () => {
    const res = await call('status-getter-throws');
    expect500(res, 'status-getter-throws');
    assert.doesNotMatch(res.body, /exploded|sk_live_/);
    const failure = failureOf('status-getter-throws');
    assert.equal(failure?.kind, 'exception', JSON.stringify(failure));
    assert.match(String(failure?.message), /^Error: status getter exploded \*{8}$/);
    assert.ok(!r.logs.text().includes(SECRET_PROPERTY_VALUE), 'the sensitive property value reached the log');
    await stillServing();
  });

  test('a toJSON on responsePayload runs inside the isolate and cannot reach the host', async () => {
    const e = await evidence('payload-tojson');
    notEscaped(e);
    assert.equal(e.reach, 'undefined');
    assert.equal(e.env, 'ReferenceError: process is not defined');
    assert.equal(e.thisIsPlain, true, 'toJSON ran with a foreign receiver');
  });

  test('a Proxy returned from execute: every trap runs in the isolate, with isolate receivers only', async () => {
    const res = await call('proxy-result');
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { status: 2000, data: 'from-proxy' });
    const e = await evidence('proxy-result', 'report');
    notEscaped(e);
    const traps = e.traps as Array<{ trap: string; key: string; reach: string; receiver: string }>;
    assert.ok(traps.length >= 2, `the proxy was not even consulted: ${JSON.stringify(traps)}`);
    assert.ok(
      traps.some((t) => t.trap === 'get' && t.key === 'status'),
      `status was not read: ${e.detail}`,
    );
    for (const t of traps) {
      assert.equal(t.reach, 'undefined', JSON.stringify(t));
      assert.ok(t.receiver !== 'foreign', `a trap got a foreign receiver: ${JSON.stringify(t)}`);
    }
  });

  test('Object.prototype.toJSON pollution cannot forge the outcome the host receives', async () => {
    const res = await call('forge-outcome');
    const body = res.json();
    assert.ok(
      res.statusCode === 500 || (Number.isInteger(body.status) && body.data === 'honest'),
      `the script forged its outcome past the integer-status check: HTTP ${res.statusCode} ${res.body}`,
    );
    const forgedFatal = r.logs.lines.find(
      (l) => l.level === 60 && String(l.msg).includes('FORGED-FATAL-LINE'),
    );
    assert.equal(forgedFatal, undefined, 'the script wrote a log line at a level LOG does not offer (fatal)');
    await stillServing();
  });

  test('SharedArrayBuffer + Atomics.wait blocking forever ends as a 500 within the limits; the server still answers', async () => {
    const started = Date.now();
    const res = await call('atomics-wait');
    const elapsed = Date.now() - started;
    expect500(res, 'atomics-wait');
    assert.ok(elapsed < 3000, `the blocked script held its request for ${elapsed} ms`);
    const failure = failureOf('atomics-wait');
    assert.ok(
      failure?.kind === 'cpu_timeout' || failure?.kind === 'wall_timeout',
      `unexpected failure ${JSON.stringify(failure)}`,
    );
    await stillServing();
  });

  test('deep recursion: the RangeError is catchable, an uncaught one is a 500, the server still answers', async () => {
    const caught = await evidence('recursion-caught');
    notEscaped(caught);
    assert.equal(caught.isRangeError, true, 'the stack overflow was not a RangeError');
    assert.equal(caught.message, 'Maximum call stack size exceeded');
    const res = await call('recursion-uncaught');
    expect500(res, 'recursion-uncaught');
    const failure = failureOf('recursion-uncaught');
    assert.equal(failure?.kind, 'exception', JSON.stringify(failure));
    assert.match(String(failure?.message), /^RangeError: Maximum call stack size exceeded/);
    await stillServing();
  });

  test('host calls (CACHE, PROPERTIES, UUID, LOG) at the very edge of the stack fail cleanly', async () => {
    const e = await evidence('recursion-host-edge');
    notEscaped(e);
    assert.ok(Number(e.depth) > 1000, `the recursion was shallow: ${e.detail}`);
    assert.ok(Number(e.failures) >= 1, `no host call ran out of stack, the edge was not probed: ${e.detail}`);
    assert.equal(Number(e.attempts), Number(e.failures) + 1);
    assert.equal(e.stillWorks, true, 'CACHE stopped working after the stack edge');
    await stillServing();
  });

  test('WebAssembly is not available to scripts (its memory would escape the heap limit)', async () => {
    const e = await evidence('wasm');
    notEscaped(e);
    assert.deepEqual(e.reached, ['undefined', 'undefined', 'undefined']);
  });

  test('ArrayBuffer / SharedArrayBuffer / typed arrays beyond the memory limit are refused', async () => {
    const e = await evidence('arraybuffer-limit');
    notEscaped(e);
    assert.deepEqual(e.results, {
      arrayBuffer: 'RangeError: Array buffer allocation failed',
      shared: 'RangeError: Array buffer allocation failed',
      typed: 'RangeError: Array buffer allocation failed',
    });
  });

  test('WebAssembly.Memory cannot hold memory beyond the memory limit', async () => {
    const res = await call('wasm-memory');
    assert.equal(res.statusCode, 200, res.body);
    const e = JSON.parse(res.json().data) as Evidence;
    notEscaped(e);
    assert.match(e.detail, /^ReferenceError: WebAssembly is not defined/);
    await stillServing();
  });

  test('java.lang.Runtime.exec, Java.type("java.lang.System"), Packages.java.io.File throw clear TypeErrors', async () => {
    const e = await evidence('java-access');
    notEscaped(e);
    const tail = 'is not available in Registrar scripts; of the Java classes only';
    const results = e.results as Record<string, string>;
    assert.equal(
      results.runtimeExec,
      `TypeError: java.lang ${tail} java.util.UUID.randomUUID() is supported`,
    );
    assert.equal(
      results.javaTypeSystem,
      `TypeError: Java.type("java.lang.System") ${tail} java.util.UUID is supported`,
    );
    assert.equal(results.packagesFile, `TypeError: java.io ${tail} java.util.UUID.randomUUID() is supported`);
    assert.equal(
      results.processBuilder,
      `TypeError: java.lang ${tail} java.util.UUID.randomUUID() is supported`,
    );
    assert.equal(results.javaNio, `TypeError: java.nio ${tail} java.util.UUID.randomUUID() is supported`);
    assert.equal(
      results.utilOther,
      `TypeError: java.util.Scanner ${tail} java.util.UUID.randomUUID() is supported`,
    );
    assert.equal(results.javaImporter, 'ReferenceError: JavaImporter is not defined');
    assert.equal(results.nashornLoad, 'ReferenceError: load is not defined');
    // The supported part works, so the failures above are the guard, not a broken java object.
    assert.match(String(e.uuid), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.match(String(e.typeUuid), /^[0-9a-f-]{36}$/);
  });

  test('process.env cannot be read by any route a script has (canary)', async () => {
    assert.equal(process.env.REGISTRAR_ESCAPE_CANARY, CANARY);
    const e = await evidence('env-canary');
    notEscaped(e);
    assert.deepEqual(e.found, []);
  });

  test('setTimeout/setInterval/fetch/XMLHttpRequest/queueMicrotask and other host async APIs are absent', async () => {
    const e = await evidence('async-host-apis');
    notEscaped(e);
    assert.deepEqual(e.present, []);
    assert.equal(e.consoleReturns, 'undefined');
    assert.ok(Number(e.consoleMethods) > 0, 'console was not the V8 console');
  });

  test('a promise chain left spinning after execute returns is still charged to the execution', async () => {
    const started = Date.now();
    const res = await call('microtask-spin');
    expect500(res, 'microtask-spin');
    assert.ok(Date.now() - started < 2500, 'the spinning microtask held the request past its limits');
    assert.equal(failureOf('microtask-spin')?.kind, 'cpu_timeout');
    await stillServing();
  });

  test("another IdP's script source is not reachable from anything a script can reach", async () => {
    const holder = await evidence('secret-holder');
    assert.equal(holder.length, SOURCE_MARKER.length);
    const e = await evidence('snoop', [...SOURCE_MARKER].reverse().join(''));
    notEscaped(e);
    assert.deepEqual(e.hits, []);
    assert.equal(e.sawOwnSource, true, 'the walk did not even find the script own source');
    assert.ok(Number(e.objects) > 100, `the walk visited too little: ${e.objects} objects`);
  });

  test('PROPERTIES.get and CACHE.fetch with prototype names return null (no host Map/Object leak)', async () => {
    const e = await evidence('properties-proto');
    notEscaped(e);
    const properties = e.properties as Array<[string, unknown]>;
    const cache = e.cache as Array<[string, unknown]>;
    assert.equal(properties.length, 8);
    assert.equal(cache.length, 8);
    for (const [name, value] of properties) assert.equal(value, null, `PROPERTIES.get(${name})`);
    for (const [name, value] of cache) assert.equal(value, null, `CACHE.fetch(${name})`);
    assert.equal(e.known, 'present', 'PROPERTIES.get does not work at all');
    assert.deepEqual(e.nonString, [null, null]);
  });

  test('Promise.prototype.then / Object.prototype.then hooks never receive host functions', async () => {
    const first = await call('then-hooks');
    assert.deepEqual(first.json(), { status: 2000, data: 'first' });
    const e = await evidence('then-hooks', 'report');
    notEscaped(e);
    assert.equal(e.sanity, 1, 'the Promise.prototype.then hook is not installed');
    for (const hook of e.previous as Array<Record<string, unknown>>) {
      assert.equal(hook.isolate, true, JSON.stringify(hook));
      assert.equal(hook.reach, 'undefined', JSON.stringify(hook));
    }
  });

  test('top-level script code (run at load) cannot reach the host either', async () => {
    const e = await evidence('top-level');
    notEscaped(e);
    assert.deepEqual(e.top, {
      typeofProcess: 'undefined',
      typeofRequire: 'undefined',
      viaCtor: 'undefined',
      viaFunction: 'undefined',
      cacheAtLoad: 'stored at load',
    });
  });

  test('FinalizationRegistry cleanup callbacks cannot run script code outside an execution', async () => {
    const first = await evidence('finalization');
    assert.equal(first.registered, 2000);
    await sleep(500);
    const e = await evidence('finalization', 'report');
    assert.equal(e.registered, 2000, 'the report ran in another isolate than the registrations');
    notEscaped(e);
    // Either the cleanup never ran, or it ran inside an execution (under that execution's limits).
    const run = e.frRun as { insideExecution: boolean } | null;
    assert.ok(run === null || run.insideExecution, `cleanup ran outside an execution: ${e.detail}`);
  });

  test('Atomics.waitAsync with a timeout fails only its own request and does not abort the sandbox process', async () => {
    const bystander = call('bystander');
    await sleep(150);
    const attack = await call('wait-async');
    const innocent = await bystander;
    assert.equal(
      innocent.statusCode,
      200,
      `a concurrent innocent execution failed: ${innocent.body}; ${JSON.stringify(failureOf('bystander'))}`,
    );
    assert.equal(JSON.parse(innocent.json().data).detail, 'worked');
    await stillServing();
    if (attack.statusCode !== 200) {
      expect500(attack, 'wait-async');
      const failure = failureOf('wait-async');
      assert.notEqual(
        failure?.kind,
        'sandbox_crashed',
        `a script call aborted the whole sandbox process: ${JSON.stringify(failure)}`,
      );
    }
  });

  test('no script output or log line ever contained the process.env canary', async () => {
    assert.ok(bodies.length >= 40, `too few responses collected: ${bodies.length}`);
    const leaked = bodies.filter((b) => b.includes(CANARY));
    assert.deepEqual(leaked, []);
    assert.ok(!r.logs.text().includes(CANARY), 'the canary reached the server log');
  });
});
