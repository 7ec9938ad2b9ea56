/**
 * Source of the code that runs first in every script context. It evaluates to a
 * function that receives the host bindings, installs the script globals (CACHE, RATE, LOG,
 * PROPERTIES, HTTP, java, Java, Packages, print) and returns `{run, collect}`: the two
 * functions the host calls. The host functions stay in this closure; the script sees
 * only plain functions made inside the isolate.
 *
 * `run` takes the four `execute` arguments as JSON text and returns the outcome as
 * JSON text: `{result: {...}}` or `{error: {kind, message, line}}`, plus `logs`. When
 * `execute` returns a promise, `run` returns the string `"pending"`; the host then
 * calls `collect` (after the isolate ran its microtasks) for the settled outcome.
 * Everything the script can influence (its return value's getters, toJSON, ...) is
 * read inside the isolate, under the execution's limits.
 */
export const PRELUDE_SOURCE = String.raw`(function (cacheOp, newUuid, getProperty, options, httpRef) {
  'use strict';
  const global = globalThis;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const isInteger = Number.isInteger;
  const defineProperty = Object.defineProperty;
  const freeze = Object.freeze;
  const hasOwn = Object.prototype.hasOwnProperty;
  const StringCtor = String;
  const filename = options.filename;
  const maxLineChars = options.maxLineChars;
  const maxLines = options.maxLines;

  let logs = [];
  let dropped = 0;

  // Built-ins that reach past the isolate's limits: WebAssembly memory is not counted
  // against the heap limit, and Atomics.waitAsync with a timeout aborts the process.
  delete global.WebAssembly;
  if (typeof Atomics === 'object') delete Atomics.waitAsync;

  function constant(name, value) {
    defineProperty(global, name, { value: value, writable: false, enumerable: false, configurable: false });
  }

  // ---- LOG: SLF4J-style "{}" placeholders, lines collected per execution ----
  function show(value) {
    if (typeof value === 'string') return value;
    if (value instanceof Error) return value.stack || StringCtor(value);
    if (value !== null && typeof value === 'object') {
      try { return stringify(value); } catch (e) { return StringCtor(value); }
    }
    return StringCtor(value);
  }
  function format(message, args) {
    const text = show(message);
    let out = '';
    let next = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c === '\\' && text[i + 1] === '{' && text[i + 2] === '}') { out += '{}'; i += 2; continue; }
      if (c === '{' && text[i + 1] === '}' && next < args.length) { out += show(args[next++]); i++; continue; }
      out += c;
    }
    const last = args[args.length - 1];
    if (next === args.length - 1 && last instanceof Error) out += '\n' + show(last);
    return out;
  }
  function logger(level) {
    return function () {
      const args = [];
      for (let i = 1; i < arguments.length; i++) args[args.length] = arguments[i];
      if (logs.length >= maxLines) { dropped++; return; }
      let line = format(arguments[0], args);
      if (line.length > maxLineChars) line = line.slice(0, maxLineChars) + '... [truncated]';
      logs[logs.length] = { level: level, message: line };
    };
  }
  const LOG = freeze({
    trace: logger('trace'), debug: logger('debug'), info: logger('info'),
    warn: logger('warn'), error: logger('error'),
    isTraceEnabled: function () { return true; }, isDebugEnabled: function () { return true; },
    isInfoEnabled: function () { return true; },
  });
  constant('LOG', LOG);
  constant('print', function () {
    const parts = [];
    for (let i = 0; i < arguments.length; i++) parts[parts.length] = show(arguments[i]);
    LOG.info(parts.join(' '));
  });

  // ---- CACHE: shared installation-wide, values as JSON ----
  function checkKey(method, key) {
    if (typeof key !== 'string') throw new TypeError('CACHE.' + method + ': key must be a string');
  }
  function cacheCall(args) {
    return cacheOp(args[0], args[1], args[2], args[3]);
  }
  constant('CACHE', freeze({
    store: function (key, value, ttlSeconds) {
      checkKey('store', key);
      let json;
      // undefined is kept as null (what fetch returns for "nothing"), as published scripts rely on.
      try { json = value === undefined ? 'null' : stringify(value); } catch (e) {
        throw new TypeError('CACHE.store: value is not JSON-serialisable: ' + e.message);
      }
      if (json === undefined) throw new TypeError('CACHE.store: value must be a string or a JSON-serialisable value');
      let ttl = null;
      if (ttlSeconds !== undefined && ttlSeconds !== null) {
        ttl = Number(ttlSeconds);
        if (!(ttl > 0) || ttl === Infinity) throw new RangeError('CACHE.store: ttlSeconds must be a positive number');
      }
      cacheCall(['store', key, json, ttl]);
    },
    fetch: function (key) {
      checkKey('fetch', key);
      const json = cacheCall(['fetch', key, null, null]);
      return json === null ? null : parse(json);
    },
    delete: function (key) {
      checkKey('delete', key);
      return cacheCall(['delete', key, null, null]) === true;
    },
    increment: function (key, delta, ttlSeconds) {
      checkKey('increment', key);
      const by = delta === undefined || delta === null ? 1 : delta;
      if (typeof by !== 'number' || !isInteger(by)) throw new TypeError('CACHE.increment: delta must be an integer');
      let ttl = null;
      if (ttlSeconds !== undefined && ttlSeconds !== null) {
        ttl = Number(ttlSeconds);
        if (!(ttl > 0) || ttl === Infinity) throw new RangeError('CACHE.increment: ttlSeconds must be a positive number');
      }
      return cacheCall(['increment', key, by, ttl]);
    },
  }));

  // ---- RATE: fixed-window rate limits, counted in the CACHE ----
  constant('RATE', freeze({
    take: function (key, limit, windowSeconds) {
      if (typeof key !== 'string') throw new TypeError('RATE.take: key must be a string');
      if (typeof limit !== 'number' || !isInteger(limit)) throw new TypeError('RATE.take: limit must be an integer');
      if (typeof windowSeconds !== 'number' || !isInteger(windowSeconds)) {
        throw new TypeError('RATE.take: windowSeconds must be an integer');
      }
      const reply = parse(cacheCall(['rate', key, limit, windowSeconds]));
      return freeze({ allowed: reply.allowed === true, remaining: reply.remaining, resetSeconds: reply.resetSeconds });
    },
  }));

  // ---- PROPERTIES ----
  constant('PROPERTIES', freeze({
    get: function (id) {
      if (typeof id !== 'string') return null;
      const value = getProperty(id);
      return value === undefined ? null : value;
    },
  }));

  // ---- HTTP: outbound calls, made by the server under the egress policy ----
  // Only an execution started with outbound calls enabled may wait on the host (it runs
  // asynchronously); in any other the call fails at once.
  let httpAllowed = false;
  function isPropertyRef(value) {
    return value !== null && typeof value === 'object' && typeof value.$property === 'string';
  }
  function httpCall(options, jsonBody) {
    const what = jsonBody ? 'HTTP.json' : 'HTTP.request';
    if (options === null || typeof options !== 'object') throw new TypeError(what + ': options must be an object');
    if (typeof options.url !== 'string') throw new TypeError(what + ': url must be a string');
    const request = { method: options.method === undefined ? (jsonBody && options.body !== undefined ? 'POST' : 'GET') : StringCtor(options.method), url: options.url, headers: {} };
    const headers = options.headers;
    if (headers !== undefined && headers !== null) {
      if (typeof headers !== 'object') throw new TypeError(what + ': headers must be an object');
      for (const name in headers) {
        if (!hasOwn.call(headers, name)) continue;
        const value = headers[name];
        request.headers[name] = isPropertyRef(value) ? { $property: value.$property } : StringCtor(value);
      }
    }
    const body = options.body;
    if (jsonBody) {
      if (body !== undefined) {
        request.body = stringify(body);
        if (request.body === undefined) throw new TypeError('HTTP.json: body is not JSON-serialisable');
        if (!hasOwn.call(request.headers, 'content-type') && !hasOwn.call(request.headers, 'Content-Type')) request.headers['content-type'] = 'application/json';
      }
      if (!hasOwn.call(request.headers, 'accept') && !hasOwn.call(request.headers, 'Accept')) request.headers.accept = 'application/json';
    } else if (body !== undefined && body !== null) {
      if (typeof body === 'string') request.body = body;
      else if (isPropertyRef(body)) request.body = { $property: body.$property };
      else throw new TypeError('HTTP.request: body must be a string (use HTTP.json for objects)');
    }
    if (options.timeoutMs !== undefined) {
      const timeout = Number(options.timeoutMs);
      if (!(timeout > 0)) throw new RangeError(what + ': timeoutMs must be a positive number');
      request.timeoutMs = timeout;
    }
    if (!httpAllowed) {
      throw new Error(what + ': outbound calls are not enabled for this identity provider (no host is on its allow-list)');
    }
    const reply = parse(httpRef.applySyncPromise(undefined, [stringify(request)]));
    if (!reply.ok) throw new Error(StringCtor(reply.message));
    const response = reply.response;
    return { status: response.status, headers: response.headers, body: response.body };
  }
  constant('HTTP', freeze({
    request: function (options) { return httpCall(options, false); },
    json: function (options) {
      const response = httpCall(options, true);
      const text = response.body;
      let value = null;
      if (text.length > 0) {
        try { value = parse(text); } catch (e) {
          throw new SyntaxError('HTTP.json: the response (status ' + response.status + ') is not JSON');
        }
      }
      return { status: response.status, headers: response.headers, body: value };
    },
  }));

  // ---- Nashorn compatibility ----
  const UUID = freeze({
    randomUUID: function () {
      const text = newUuid();
      return freeze({
        toString: function () { return text; },
        equals: function (other) { return other !== null && other !== undefined && StringCtor(other) === text; },
      });
    },
    fromString: function (text) {
      const value = StringCtor(text);
      return freeze({ toString: function () { return value; } });
    },
  });
  function javaPackage(path, members) {
    return new Proxy(freeze(members), {
      get: function (target, name) {
        if (typeof name === 'symbol') return undefined;
        if (hasOwn.call(target, name)) return target[name];
        throw new TypeError(path + '.' + StringCtor(name) + ' is not available in Registrar scripts; ' +
          'of the Java classes only java.util.UUID.randomUUID() is supported');
      },
      set: function () { return false; },
      defineProperty: function () { return false; },
    });
  }
  const javaRoot = javaPackage('java', { util: javaPackage('java.util', { UUID: UUID }) });
  constant('java', javaRoot);
  constant('Packages', javaPackage('Packages', { java: javaRoot }));
  constant('Java', freeze({
    type: function (name) {
      if (name === 'java.util.UUID') return UUID;
      throw new TypeError('Java.type("' + StringCtor(name) + '") is not available in Registrar scripts; ' +
        'of the Java classes only java.util.UUID is supported');
    },
  }));
  const stringMethods = {
    equals: function (other) { return other !== null && other !== undefined && StringCtor(this) === StringCtor(other); },
    equalsIgnoreCase: function (other) {
      return other !== null && other !== undefined && StringCtor(this).toLowerCase() === StringCtor(other).toLowerCase();
    },
    isEmpty: function () { return StringCtor(this).length === 0; },
    contains: function (part) { return StringCtor(this).indexOf(StringCtor(part)) !== -1; },
    matches: function (regex) { return new RegExp('^(?:' + regex + ')$').test(StringCtor(this)); },
  };
  for (const name in stringMethods) {
    defineProperty(String.prototype, name, { value: stringMethods[name], writable: true, configurable: true, enumerable: false });
  }

  // ---- The runner ----
  function lineOf(error) {
    const stack = error && typeof error.stack === 'string' ? error.stack : '';
    const at = stack.indexOf(filename + ':');
    if (at === -1) return null;
    const line = parseInt(stack.slice(at + filename.length + 1), 10);
    return isInteger(line) ? line : null;
  }
  function describe(error) {
    if (error instanceof Error) {
      return { kind: 'exception', message: StringCtor(error.name) + ': ' + StringCtor(error.message), line: lineOf(error) };
    }
    let text;
    try { text = StringCtor(error); } catch (e) { text = 'a value that cannot be shown'; }
    return { kind: 'exception', message: 'Uncaught ' + text, line: null };
  }
  function optionalText(value, name) {
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') return value;
    const json = stringify(value);
    if (json === undefined) throw new TypeError(name + ' cannot be serialised');
    return json;
  }
  function normalise(result) {
    if (result === null || typeof result !== 'object') {
      return { error: { kind: 'invalid_result', message: 'execute returned ' + (result === null ? 'null' : typeof result) + ', not an object', line: null } };
    }
    const status = result.status;
    if (typeof status !== 'number' || !isInteger(status)) {
      return { error: { kind: 'invalid_result', message: 'execute returned no integer status', line: null } };
    }
    const out = { status: status };
    const payload = optionalText(result.responsePayload, 'responsePayload');
    if (payload !== undefined) out.responsePayload = payload;
    const registrationData = optionalText(result.registrationData, 'registrationData');
    if (registrationData !== undefined) out.registrationData = registrationData;
    if (result.user !== undefined && result.user !== null) out.user = parse(stringify(result.user));
    return { result: out };
  }
  function finish(outcome) {
    outcome.logs = logs;
    outcome.dropped = dropped;
    logs = [];
    dropped = 0;
    return stringify(outcome);
  }
  let settled = null;
  function run(argsJson, withHttp) {
    settled = null;
    httpAllowed = withHttp === true;
    const args = parse(argsJson);
    try {
      const execute = global.execute;
      if (typeof execute !== 'function') {
        return finish({ error: { kind: 'no_execute', message: 'the script defines no execute function', line: null } });
      }
      const result = execute(args[0], args[1], args[2], args[3]);
      if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
        result.then(
          function (value) { try { settled = finish(normalise(value)); } catch (e) { settled = finish({ error: describe(e) }); } },
          function (error) { settled = finish({ error: describe(error) }); }
        );
        return 'pending';
      }
      return finish(normalise(result));
    } catch (error) {
      return finish({ error: describe(error) });
    }
  }
  function collect() {
    if (settled !== null) return settled;
    return finish({ error: { kind: 'invalid_result', message: 'execute returned a promise that never settled', line: null } });
  }
  // Lines the top-level code logs while loading stay in the buffer for the first execution.
  return { run: run, collect: collect };
})`;
