import { afterAll, describe, expect, it } from 'vitest';
import { cliEnv, type CliEnv } from '../../../test/support/cli.js';

/**
 * Fleet config an audit found unclear: a bad fleet name said only "Invalid key in record", and a
 * local fleet whose command cannot be read was scaled anyway (exit 3, desired 1 recorded).
 */
const envs: CliEnv[] = [];
afterAll(async () => {
  for (const e of envs) await e.close();
});

describe('fleet config', () => {
  it('a bad fleet name is refused naming the rule', () => {
    const env = cliEnv({ fleet: { Bad: { provider: 'local' } } });
    envs.push(env);
    const r = env.agora(['fleet', 'status']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid fleet name "Bad": fleet names are 1-32 of [a-z0-9_-]');
  });

  it('scaling a local fleet whose command cannot be read is bad config (exit 2), and nothing is recorded', () => {
    const env = cliEnv({ fleet: { loc: { provider: 'local', options: { command: ['/nonexistent/agora'], vcpu: 4 } } } });
    envs.push(env);
    const r = env.agora(['fleet', 'scale', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot read /nonexistent/agora (fleet.loc.options.command)');
    const st = env.agora(['fleet', 'status', '--json']);
    expect(st.code, st.stderr).toBe(0);
    expect((JSON.parse(st.stdout) as { fleets: Array<{ desired: number; running: number }> }).fleets[0]).toMatchObject({ desired: 0, running: 0 });
  });
});
