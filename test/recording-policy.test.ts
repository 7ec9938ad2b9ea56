/**
 * The recording policy (`identity_providers[].record`): which executions ExecutionRecorder
 * stores (failures, a sample of successes), that a failed write is only logged, and the
 * config file's validation of the setting.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { ExecutionRecorder } from '../src/registration/recorder.js';
import type { NewRecording, RecordingStore } from '../src/storage/types.js';

describe('ExecutionRecorder', () => {
  const policy = { failures: true, sample_percent: 50, retain_days: 7, max_recordings: 10 };
  const idpRecord = {
    id: 'x',
    name: null,
    flow: 'one_step',
    enabled: true,
    limits: {},
    scripts: {},
    record: policy,
  } as const;
  const outcome = (status: number) => ({
    ok: true as const,
    result: { status },
    logs: [],
    dropped: 0,
    cpuMs: 1,
    wallMs: 2,
  });
  const fakeStore = (append: (r: NewRecording) => Promise<number>): RecordingStore => ({
    append,
    list: async () => ({ items: [], next: null }),
    get: async () => undefined,
    purge: async () => 0,
  });
  const warnings: unknown[] = [];
  const logger = { warn: (...args: unknown[]) => warnings.push(args) } as never;
  const mask = { mask: <T>(value: T) => value };

  test('samples successes by sample_percent and records failures by failures', async () => {
    const stored: NewRecording[] = [];
    let roll = 0.3;
    const recorder = new ExecutionRecorder(
      fakeStore(async (rec) => stored.push(rec)),
      mask,
      logger,
      () => roll,
    );
    await recorder.offer({ ...idpRecord }, 'complete', 3, ['d', null, null, null], outcome(2000), 'q1');
    roll = 0.7;
    await recorder.offer({ ...idpRecord }, 'complete', 3, ['d', null, null, null], outcome(2000), 'q2');
    await recorder.offer({ ...idpRecord }, 'complete', 3, ['d', null, null, null], outcome(4000), 'q3');
    await recorder.offer(
      { ...idpRecord, record: { ...policy, failures: false } },
      'complete',
      3,
      ['d', null, null, null],
      outcome(5000),
      'q4',
    );
    assert.deepEqual(
      stored.map((rec) => [rec.request_id, rec.outcome, rec.version]),
      [
        ['q1', 'success', 3],
        ['q3', 'failure', 3],
      ],
    );
  });

  test('a failed write is logged, never thrown', async () => {
    const recorder = new ExecutionRecorder(
      fakeStore(async () => Promise.reject(new Error('disk full'))),
      mask,
      logger,
    );
    await recorder.offer({ ...idpRecord }, 'complete', 1, [null, null, null, null], outcome(5000), 'q5');
    assert.equal(warnings.length, 1);
  });
});

describe('identity_providers[].record in the config file', () => {
  const parse = (record: unknown) =>
    parseConfig(
      {
        identity_providers: [{ id: 'x', scripts: { complete: { source: 'function execute() {}' } }, record }],
      },
      { baseDir: '.', dataDir: '.' },
    );
  test('defaults fill in; bad values are refused naming the field', () => {
    assert.deepEqual(parse({}).identity_providers[0]?.record, {
      failures: true,
      sample_percent: 0,
      retain_days: 7,
      max_recordings: 1000,
    });
    for (const [record, field] of [
      [{ sample_percent: 101 }, 'sample_percent'],
      [{ sample_percent: -1 }, 'sample_percent'],
      [{ retain_days: 0 }, 'retain_days'],
      [{ retain_days: 1.5 }, 'retain_days'],
      [{ max_recordings: 0 }, 'max_recordings'],
      [{ failures: 'yes' }, 'failures'],
      [{ every: true }, 'every'],
    ] as const) {
      assert.throws(() => parse(record), new RegExp(`identity_providers\\[0\\]\\.record\\.${field}`));
    }
  });
});
