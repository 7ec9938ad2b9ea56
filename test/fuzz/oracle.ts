/**
 * What every answer must satisfy, whatever was asked: no 5xx, the documented error
 * shape with a registered (status, code) pair, the usual headers, no stack trace, file
 * path or secret, an answer within 10 s, and valid credentials never refused as
 * `invalid_client`.
 */
import { tmpdir } from 'node:os';
import { ERROR_REGISTRY, wireCode } from '../../src/errors.js';

/** An answer as the fuzzer read it (header names lower-case). */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
}

/** What the oracle knows about the request behind an answer. */
export interface Asked {
  method: string;
  path: string;
  /** `valid`: the caller's credentials are good, so `invalid_client` is a finding. */
  credentials: string;
}

/** The slowest answer that is not a finding. */
export const MAX_ANSWER_MS = 10_000;

const JSON_TYPE = 'application/json;charset=UTF-8';
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
/** `status code` pairs the registry allows. */
const REGISTERED = new Set(
  (Object.keys(ERROR_REGISTRY) as Array<keyof typeof ERROR_REGISTRY>).map(
    (kind) => `${ERROR_REGISTRY[kind].status} ${wireCode(kind)}`,
  ),
);
/** A V8 stack frame, also inside a JSON string: `at fn (file:line:col)` or `at /file:line:col`. */
const STACK_FRAME = /\bat (?:async )?(?:\S+ \([^()\s"]+:\d+:\d+\)|(?:file:\/\/|node:|\/)[^()\s"]+:\d+:\d+)/;
/** Places on this machine an answer has no business naming. */
const FILE_PATHS = [
  process.cwd(),
  tmpdir(),
  'node_modules',
  'file://',
  'node:internal',
  '/src/',
  '.ts:',
  'registrar-test-',
];

/**
 * The problems with one answer (empty when there are none). `secrets` are values that
 * must never be answered: client secrets, sensitive property values, the secret key.
 */
export function checkAnswer(asked: Asked, answer: Answer, secrets: Iterable<string>): string[] {
  const problems: string[] = [];
  const header = (name: string) => {
    const value = answer.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const isAdmin =
    asked.path.startsWith('/api/v1/configuration/') || asked.path.startsWith('/api/v1/audit-events');
  if (answer.ms > MAX_ANSWER_MS) problems.push(`answered after ${answer.ms} ms`);
  if (answer.status >= 500) problems.push(`status ${answer.status}`);
  if (!REQUEST_ID.test(header('x-request-id') ?? '')) problems.push('no valid X-Request-Id');
  if (header('cache-control') !== 'no-store') problems.push(`Cache-Control: ${header('cache-control')}`);
  if (header('pragma') !== 'no-cache') problems.push(`Pragma: ${header('pragma')}`);
  // /readyz answers 503 with its documented readiness body, not an error.
  const readiness = answer.status === 503 && asked.path.startsWith('/readyz');
  if (answer.status >= 400 && asked.method !== 'HEAD' && !readiness) {
    problems.push(...errorShapeProblems(answer, header('content-type'), isAdmin));
  }
  const everything = `${JSON.stringify(answer.headers)}\n${answer.body}`;
  for (const secret of secrets) {
    if (everything.includes(secret)) problems.push(`answer contains the secret ${JSON.stringify(secret)}`);
  }
  if (STACK_FRAME.test(answer.body))
    problems.push(`stack frame: ${STACK_FRAME.exec(answer.body)?.[0].trim()}`);
  for (const path of FILE_PATHS) {
    if (everything.includes(path)) problems.push(`names a file path (${JSON.stringify(path)})`);
  }
  return problems;
}

function errorShapeProblems(answer: Answer, contentType: string | undefined, isAdmin: boolean): string[] {
  if (contentType !== JSON_TYPE) return [`error with Content-Type ${contentType}`];
  let body: unknown;
  try {
    body = JSON.parse(answer.body);
  } catch {
    return [`error body is not JSON: ${answer.body.slice(0, 200)}`];
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return ['error body is not an object'];
  const { error, error_description, details, ...rest } = body as Record<string, unknown>;
  const problems: string[] = [];
  if (Object.keys(rest).length > 0) problems.push(`error body has members ${Object.keys(rest).join(', ')}`);
  if (typeof error !== 'string' || typeof error_description !== 'string') {
    problems.push('error or error_description is not a string');
  } else if (!REGISTERED.has(`${answer.status} ${error}`)) {
    problems.push(`${answer.status} ${error} is not in the error registry`);
  }
  if (details !== undefined) {
    const fieldsOk =
      Array.isArray(details) &&
      details.every(
        (d: Record<string, unknown>) =>
          typeof d === 'object' && d !== null && typeof d.field === 'string' && typeof d.message === 'string',
      );
    if (!isAdmin || error !== 'invalid_request' || !fieldsOk)
      problems.push('unexpected or malformed details');
  }
  return problems;
}

/** The `error` code of an error answer, if it has one. */
export function errorCode(answer: Answer): string | undefined {
  try {
    const body = JSON.parse(answer.body) as { error?: unknown };
    return typeof body.error === 'string' ? body.error : undefined;
  } catch {
    return undefined;
  }
}

/** A finding when valid credentials were refused (throttling, or a bug in reading them). */
export function credentialProblem(asked: Asked, answer: Answer): string | undefined {
  if (asked.credentials !== 'valid' || answer.status !== 400 || errorCode(answer) !== 'invalid_client') {
    return undefined;
  }
  return 'valid credentials answered invalid_client';
}
