import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthThrottle, addressKey, type HashReservation } from '../src/security/auth-throttle.js';
import { BoundedWork, WorkShedError } from '../src/security/bounded-work.js';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  const clock = { now: start, advance: (ms: number) => (clock.now += ms) };
  return clock;
}

/** A promise with its resolve function, to hold a task open. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('AuthThrottle', () => {
  const settings = { perClient: 10, perAddress: 20, windowMs: 60_000, maxKeys: 1000 };

  test('a client id is throttled after its 10th failure in a minute, and one failure leaks away every 6 s', () => {
    const clock = manualClock();
    const throttle = new AuthThrottle(settings, () => clock.now);
    for (let i = 0; i < 9; i++) throttle.fail('c', `10.0.0.${i}`);
    assert.equal(throttle.check('c', '10.0.1.1'), null, '9 failures: not yet');
    throttle.fail('c', '10.0.0.9');
    assert.equal(throttle.check('c', '10.0.1.1'), 'client');
    assert.equal(throttle.check('other', '10.0.1.1'), null, 'other client ids are not affected');
    clock.advance(5_999);
    assert.equal(throttle.check('c', '10.0.1.1'), 'client', 'still throttled just before 6 s');
    clock.advance(1);
    assert.equal(throttle.check('c', '10.0.1.1'), null, 'room for one failure after 6 s');
    throttle.fail('c', '10.0.1.1');
    assert.equal(throttle.check('c', '10.0.1.1'), 'client', 'and that one fills it again');
    clock.advance(60_000);
    assert.equal(throttle.check('c', '10.0.1.1'), null);
  });

  test('an address is throttled after 20 failures across any client ids', () => {
    const clock = manualClock();
    const throttle = new AuthThrottle(settings, () => clock.now);
    for (let i = 0; i < 20; i++) throttle.fail(`client-${i}`, '192.0.2.7');
    assert.equal(throttle.check('fresh', '192.0.2.7'), 'address');
    assert.equal(throttle.check('fresh', '192.0.2.8'), null, 'other addresses are not affected');
    assert.equal(
      throttle.check('fresh', undefined),
      null,
      'an attempt without an address is checked by client id only',
    );
  });

  test('a burst far beyond the limit throttles for one window at most', () => {
    const clock = manualClock();
    const throttle = new AuthThrottle(settings, () => clock.now);
    for (let i = 0; i < 1000; i++) throttle.fail('c', undefined);
    clock.advance(6_000);
    assert.equal(throttle.check('c', undefined), null);
  });

  test('IPv6 addresses count by their /64; IPv4-mapped addresses count as IPv4', () => {
    assert.equal(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:2:ffff::9'));
    assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
    assert.equal(addressKey('::ffff:192.0.2.1'), addressKey('192.0.2.1'));
    assert.notEqual(addressKey('192.0.2.1'), addressKey('192.0.2.2'));
    const throttle = new AuthThrottle(settings, () => 0);
    for (let i = 0; i < 20; i++) throttle.fail(`c${i}`, `2001:db8:1:2::${i.toString(16)}`);
    assert.equal(throttle.check('fresh', '2001:db8:1:2:abcd::1'), 'address');
  });

  test('slow verifications in progress count until released, so a burst cannot start more than the limit', () => {
    const throttle = new AuthThrottle(settings, () => 0);
    const held: HashReservation[] = [];
    for (let i = 0; i < 10; i++) {
      const reservation = throttle.reserve('c', `10.0.0.${i}`);
      assert.equal(typeof reservation, 'object', `reservation ${i}`);
      held.push(reservation as HashReservation);
    }
    assert.equal(throttle.reserve('c', '10.0.1.1'), 'client', 'the 11th would overflow');
    assert.equal(
      throttle.check('c', '10.0.1.1'),
      null,
      'reservations alone do not refuse attempts (a cached secret needs no hash)',
    );
    held[0]?.release();
    held[0]?.release();
    const next = throttle.reserve('c', '10.0.1.1');
    assert.equal(typeof next, 'object', 'a released reservation frees its place (releasing twice frees one)');
    assert.equal(throttle.reserve('c', '10.0.1.2'), 'client');
  });

  test('a limit of 0 turns that throttle off', () => {
    const throttle = new AuthThrottle({ ...settings, perClient: 0, perAddress: 0 }, () => 0);
    for (let i = 0; i < 100; i++) throttle.fail('c', '10.0.0.1');
    assert.equal(throttle.check('c', '10.0.0.1'), null);
    assert.deepEqual(throttle.tracked(), { clients: 0, addresses: 0 });
  });

  test('tracks at most maxKeys client ids and addresses, dropping the least recently failed', () => {
    const clock = manualClock();
    const throttle = new AuthThrottle({ ...settings, maxKeys: 100 }, () => clock.now);
    for (let i = 0; i < 10; i++) throttle.fail('old', '10.0.0.1');
    for (let i = 0; i < 5000; i++) {
      clock.advance(1);
      throttle.fail(`id-${i}`, `10.1.${i >> 8}.${i & 255}`);
    }
    const tracked = throttle.tracked();
    assert.ok(tracked.clients <= 100 && tracked.addresses <= 100, JSON.stringify(tracked));
    assert.equal(throttle.check('old', undefined), null, 'the oldest entry was dropped');
    assert.equal(throttle.check('id-4999', undefined), null, 'one failure does not throttle');
  });
});

describe('BoundedWork', () => {
  test('runs at most `concurrency` tasks at once, the rest in arrival order', async () => {
    const work = new BoundedWork(2, 10);
    const gates = Array.from({ length: 5 }, () => deferred());
    const started: number[] = [];
    const done = gates.map((gate, i) =>
      work.run(async () => {
        started.push(i);
        await gate.promise;
        return i;
      }),
    );
    await settle();
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual(work.usage(), { active: 2, queued: 3 });
    gates[1]?.resolve();
    await settle();
    assert.deepEqual(started, [0, 1, 2]);
    for (const gate of gates) gate.resolve();
    assert.deepEqual(await Promise.all(done), [0, 1, 2, 3, 4]);
    assert.deepEqual(work.usage(), { active: 0, queued: 0 });
  });

  test('a task arriving at a full queue is refused at once and never runs', async () => {
    const work = new BoundedWork(1, 2);
    const gate = deferred();
    let ran = 0;
    const task = async () => {
      ran++;
      await gate.promise;
    };
    const accepted = [work.run(task), work.run(task), work.run(task)];
    await assert.rejects(work.run(task), WorkShedError);
    await settle();
    assert.equal(ran, 1);
    gate.resolve();
    await Promise.all(accepted);
    assert.equal(ran, 3, 'the shed task did not run later either');
  });

  test('waiting tasks take turns by key, each key in arrival order', async () => {
    const work = new BoundedWork(1, 10);
    const gate = deferred();
    const order: string[] = [];
    const task = (name: string) => async () => {
      order.push(name);
      await gate.promise;
    };
    const all = [
      work.run(task('busy-0'), 'busy'),
      work.run(task('busy-1'), 'busy'),
      work.run(task('busy-2'), 'busy'),
      work.run(task('busy-3'), 'busy'),
      work.run(task('other-0'), 'other'),
      work.run(task('third-0'), 'third'),
    ];
    gate.resolve();
    await Promise.all(all);
    assert.deepEqual(order, ['busy-0', 'busy-1', 'other-0', 'third-0', 'busy-2', 'busy-3']);
  });

  test('a failing task frees its slot and passes its error on', async () => {
    const work = new BoundedWork(1, 1);
    const failure = new Error('boom');
    const failing = work.run(() => Promise.reject(failure));
    const next = work.run(async () => 'next');
    await assert.rejects(failing, (error) => error === failure);
    assert.equal(await next, 'next');
  });

  test('refuses nonsensical limits', () => {
    assert.throws(() => new BoundedWork(0, 1), RangeError);
    assert.throws(() => new BoundedWork(1, -1), RangeError);
  });
});
