import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ScriptHistory } from '../src/engine/scheduler/script-history.js';

test('a long run of a script with no quick history routes it to demoted processes', () => {
  const history = new ScriptHistory();
  assert.equal(history.record('s', 80, true, false), true);
  assert.equal(history.isSlow('s'), true);
});

test('the first long run after 100 quick ones is forgiven once; a second long run is not', () => {
  const history = new ScriptHistory();
  for (let i = 0; i < 100; i++) history.record('s', 0.05, false, false);
  assert.equal(history.isQuick('s'), true);
  // A GC pause or a starved machine: the script stays in normal processes.
  assert.equal(history.markSlow('s'), false);
  assert.equal(history.isSlow('s'), false);
  // Its recent CPU is still known, so it still pipelines.
  assert.equal(history.isQuick('s'), true);
  // Long again soon after, even after many quick runs: now it is slow.
  for (let i = 0; i < 200; i++) history.record('s', 0.05, false, false);
  assert.equal(history.record('s', 90, true, false), true);
  assert.equal(history.isSlow('s'), true);
});

test('fewer than 100 quick runs before a long one forgive nothing', () => {
  const history = new ScriptHistory();
  for (let i = 0; i < 99; i++) history.record('s', 0.05, false, false);
  assert.equal(history.markSlow('s'), true);
  assert.equal(history.isSlow('s'), true);
});
