import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRedactor, MASK } from '../src/engine/redact.js';

describe('masking sensitive values in script-made text', () => {
  test('every occurrence, whatever its case', () => {
    const redact = createRedactor(['s3cr3t-Key']);
    assert.equal(redact('a s3cr3t-Key b S3CR3T-KEY c s3cr3t-key'), `a ${MASK} b ${MASK} c ${MASK}`);
  });

  test('a secret containing another is masked whole; short values are left alone', () => {
    const redact = createRedactor(['abcd', 'abcdefgh', 'xyz']);
    assert.equal(redact('ABCDEFGH abcd xyz'), `${MASK} ${MASK} xyz`);
  });

  test('regular-expression characters in a secret are taken literally', () => {
    const redact = createRedactor(['a.b*c(d)']);
    assert.equal(redact('a.b*c(d) axbbc(d)'), `${MASK} axbbc(d)`);
  });

  test('non-ASCII secrets match case-insensitively too', () => {
    const redact = createRedactor(['Ünïcødé-päss']);
    assert.equal(redact('üNÏCØDÉ-PÄSS'), MASK);
  });

  test('no secrets: the text is unchanged', () => {
    assert.equal(createRedactor([])('anything'), 'anything');
  });
});
