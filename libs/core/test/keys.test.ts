import { describe, expect, it } from 'vitest';
import { ValueError, assertDeadLetterId, deadLetterId, keys, parseDeadLetterId } from '../src/index.js';

describe('dead letter ids', () => {
  const runId = 'run_0123456789abcdef';
  it('round-trips <runId>.<itemId> (the first dot splits: an item id may hold dots)', () => {
    const id = deadLetterId(runId, 'build.linux');
    expect(parseDeadLetterId(id)).toEqual({ runId, itemId: 'build.linux' });
    expect(assertDeadLetterId(id)).toEqual({ runId, itemId: 'build.linux' });
  });
  it('refuses ids outside the grammar with one message, and never builds a key from them', () => {
    for (const bad of ['', '.x', 'nodot', `${runId}.`, '../../etc/passwd.x', `${runId}.a b`]) {
      expect(parseDeadLetterId(bad)).toBeNull();
      expect(() => assertDeadLetterId(bad)).toThrow(ValueError);
      expect(() => assertDeadLetterId(bad)).toThrow('expected <runId>.<itemId>');
      expect(() => keys('agora').deadLetters.letter(bad)).toThrow(ValueError);
    }
  });
  it('quotes at most 200 characters of a long bad id', () => {
    const err = (() => { try { assertDeadLetterId('x'.repeat(5000)); } catch (e) { return e as Error; } return null; })();
    expect(err?.message.length).toBeLessThan(300);
  });
});
