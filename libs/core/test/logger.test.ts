import { describe, expect, it } from 'vitest';
import { createLogger } from '@agora/core';

/**
 * The logger (pino): one JSON object per line, level names, ISO time, bindings, the message as
 * `msg`; secret-looking keys redacted at any depth and the REDACT_PATHS values; the level filter.
 */

function capture(level?: Parameters<typeof createLogger>[1], bindings: Record<string, unknown> = { component: 'test' }) {
  const lines: string[] = [];
  const logger = createLogger(bindings, level, (l) => lines.push(l));
  return { logger, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger (pino)', () => {
  it('writes one JSON object per call, without a newline, with level name, ISO time, bindings and msg', () => {
    const c = capture('info');
    c.logger.info({ runId: 'r1', n: 2 }, 'hello');
    c.logger.warn({}, 'careful');
    c.logger.error({ err: 'boom' });
    expect(c.lines).toHaveLength(3);
    for (const l of c.lines) expect(l).not.toContain('\n');
    const [a, b, e] = c.parsed();
    expect(a).toEqual({ level: 'info', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), component: 'test', runId: 'r1', n: 2, msg: 'hello' });
    expect(b).toMatchObject({ level: 'warn', msg: 'careful' });
    expect(e).toEqual({ level: 'error', time: expect.any(String), component: 'test', err: 'boom' });
    // No pid or hostname: a line carries what the caller said and nothing about the machine.
    expect(Object.keys(a!)).not.toContain('pid');
  });

  it('drops lines below the level; an unknown level is info; silent writes nothing', () => {
    const c = capture('warn');
    c.logger.debug({}, 'd');
    c.logger.info({}, 'i');
    c.logger.warn({}, 'w');
    expect(c.parsed().map((l) => l['msg'])).toEqual(['w']);
    const u = capture('loud' as never);
    u.logger.debug({}, 'd');
    u.logger.info({}, 'i');
    expect(u.parsed().map((l) => l['msg'])).toEqual(['i']);
    const s = capture('silent');
    s.logger.error({}, 'e');
    expect(s.lines).toEqual([]);
  });

  it('redacts secret-looking keys at any depth, in bindings too, and the configured paths', () => {
    const secret = 'hunter2-canary-value';
    const c = capture('debug', { component: 'test', apiKey: secret });
    c.logger.info(
      {
        password: secret,
        nested: { deeper: { evenDeeper: { clientSecret: secret, fine: 'kept' } } },
        list: [{ authToken: secret }],
        headers: { Authorization: `Bearer ${secret}` },
        req: { headers: { cookie: `sid=${secret}` } },
        redisUrl: `redis://:${secret}@h:6379`,
        env: { SOME_VAR: secret },
        privateKey: secret,
      },
      'with secrets',
    );
    expect(c.lines.join('\n')).not.toContain(secret);
    const [l] = c.parsed();
    expect(l).toMatchObject({
      apiKey: '[redacted]',
      password: '[redacted]',
      nested: { deeper: { evenDeeper: { clientSecret: '[redacted]', fine: 'kept' } } },
      list: [{ authToken: '[redacted]' }],
      headers: { Authorization: '[redacted]' },
      req: { headers: { cookie: '[redacted]' } },
      redisUrl: '[redacted]',
      env: '[redacted]',
      privateKey: '[redacted]',
      msg: 'with secrets',
    });
  });

  it('never throws, even when its destination does', () => {
    const logger = createLogger({}, 'info', () => {
      throw new Error('disk full');
    });
    expect(() => logger.info({ a: 1 }, 'x')).not.toThrow();
  });
});
