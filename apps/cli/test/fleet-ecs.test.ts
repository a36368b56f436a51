import { afterAll, describe, expect, it } from 'vitest';
import { cliEnv } from '../../../test/support/cli.js';

/**
 * `agora fleet` with the ECS provider through the real CLI, without AWS: the provider names what
 * is missing before it sends anything (providers/fleet-ecs/test has the requests themselves).
 */
const env = cliEnv({ fleet: { cloud: { provider: 'ecs', options: { cluster: 'agora', service: 'agora-runners' } } } });
afterAll(() => env.close());

describe('agora fleet (ecs) without AWS settings', () => {
  it('exits 3 naming the missing region, and stderr holds only that line (no SDK warning)', () => {
    for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED']) delete env.env[k];
    env.env['AWS_CONFIG_FILE'] = '/nonexistent/aws-config';
    for (const verb of [['fleet', 'status'], ['fleet', 'scale', '2']]) {
      const r = env.agora(verb);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/^agora: (DescribeServices|UpdateService): AWS region is not configured: set AWS_REGION \(or fleet\.cloud\.options\.region\)\n$/);
    }
  });
});
