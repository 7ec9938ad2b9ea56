import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ERROR_REGISTRY, type ErrorKind, RegistrarError, wireCode } from '../src/errors.js';

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

/** The rows of the README's error table as `HTTP error` pairs. */
function documentedErrors(): string[] {
  const section = readme.slice(readme.indexOf('### Errors'));
  const rows = [...section.matchAll(/^\| (\d{3}) \| `([a-z_]+)` \|/gm)];
  return rows.map(([, status, code]) => `${status} ${code}`).sort();
}

test('the README error table and the error registry list the same codes and statuses', () => {
  const registered = (Object.keys(ERROR_REGISTRY) as ErrorKind[])
    .map((kind) => `${ERROR_REGISTRY[kind].status} ${wireCode(kind)}`)
    .sort();
  assert.ok(documentedErrors().length > 0, 'the README has an error table');
  assert.deepEqual(documentedErrors(), registered);
});

test('5xx errors never carry their cause or a custom description to the caller', () => {
  const error = new RegistrarError('internal_server_error', 'database password is hunter2', {
    cause: new Error('stack'),
  });
  assert.deepEqual(error.toBody(), {
    error: 'internal_server_error',
    error_description: ERROR_REGISTRY.internal_server_error.description,
  });
});

test('4xx errors may say precisely what was wrong', () => {
  assert.deepEqual(new RegistrarError('invalid_request', 'data must be a string').toBody(), {
    error: 'invalid_request',
    error_description: 'data must be a string',
  });
  assert.equal(new RegistrarError('request_too_large').toBody().error, 'invalid_request');
  assert.equal(new RegistrarError('request_too_large').status, 413);
});
