import { describe, expect, it } from 'vitest';
import { ConfigError, ValueError, assertRedisUrl, compileConfig, isRedisClusterUrl, parseRedisClusterUrl, redactRedisUrl } from '@agora/core';

/** Redis Cluster URLs (`redis+cluster://…`) and the config's `redis.cluster`; no Redis needed. */
describe('Redis Cluster URLs', () => {
  it('parses seed nodes, credentials and TLS', () => {
    expect(parseRedisClusterUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001,redis-3.internal')).toEqual({
      tls: false,
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: 'redis-3.internal', port: 6379 },
      ],
    });
    expect(parseRedisClusterUrl('rediss+cluster://runner:p%40ss:w@rd@[::1]:7000,h:7001/0')).toEqual({
      tls: true,
      username: 'runner',
      password: 'p@ss:w@rd',
      nodes: [
        { host: '::1', port: 7000 },
        { host: 'h', port: 7001 },
      ],
    });
    // As ioredis reads redis:// userinfo: a lone word is a password.
    expect(parseRedisClusterUrl('REDIS+CLUSTER://s3cret@h:1')).toMatchObject({ password: 's3cret', tls: false });
    expect(isRedisClusterUrl('redis://h:1')).toBe(false);
  });

  it('masks the password (also one holding "@") and keeps the seed nodes', () => {
    expect(redactRedisUrl('redis+cluster://runner:p@ss@h1:7000,h2:7001')).toBe('redis+cluster://runner:***@h1:7000,h2:7001');
    expect(redactRedisUrl('rediss+cluster://s3cret@h1:7000')).toBe('rediss+cluster://***@h1:7000');
    expect(redactRedisUrl('redis+cluster://:s3cret@h1:7000/0')).toBe('redis+cluster://***@h1:7000/0');
    expect(redactRedisUrl('redis+cluster://h1:7000,h2:7001')).toBe('redis+cluster://h1:7000,h2:7001');
  });

  it.each([
    ['redis+cluster://', 'it names no seed node'],
    ['redis+cluster://h1:7000,', 'seed node 2 is empty'],
    ['redis+cluster://h1:7000,h2:x', 'seed node 2 is not host[:port]'],
    ['redis+cluster://h1:70000', 'seed node 1: the port is out of range'],
    ['redis+cluster://h1:7000/2', 'a cluster has only database 0'],
    ['redis+cluster://h1:7000?password=x', 'a cluster URL takes no ?options'],
    ['redis+cluster://us%er:pw@h1:7000', 'the credentials are not properly percent-encoded'],
    ['redis://h1:7000,h2:7001', 'it names several hosts: a Redis Cluster URL starts with redis+cluster://'],
  ])('refuses %s with a ValueError naming the problem, never the value', (url, problem) => {
    const err = (() => {
      try {
        assertRedisUrl(url);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ValueError);
    expect((err as Error).message).toContain(`REDIS_URL is not a valid Redis URL (${problem})`);
    expect((err as Error).message).toContain('redis+cluster://[[user]:password@]host1:port1,host2:port2');
    expect((err as Error).message).not.toContain('pw@');
  });

  it('a password next to a bad seed node is not echoed', () => {
    expect(() => assertRedisUrl('redis+cluster://u:hunter2hunter2@h1:7000,bad host')).toThrow(ValueError);
    try {
      assertRedisUrl('redis+cluster://u:hunter2hunter2@h1:7000,bad host');
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
      expect((e as Error).message).not.toContain('bad host');
    }
  });
});

describe('config redis.cluster', () => {
  it('becomes the Redis URL when REDIS_URL and redisUrl are unset; REDIS_URL still wins', () => {
    expect(compileConfig({ redis: { cluster: ['10.0.0.1:7000', '10.0.0.2:7000'] } }, 'test', '/tmp', {}).redisUrl).toBe('redis+cluster://10.0.0.1:7000,10.0.0.2:7000');
    expect(compileConfig({ redis: { cluster: ['h:7000'], tls: true } }, 'test', '/tmp', {}).redisUrl).toBe('rediss+cluster://h:7000');
    expect(compileConfig({ redis: { cluster: ['h:7000'] } }, 'test', '/tmp', { REDIS_URL: 'redis://other:6379' }).redisUrl).toBe('redis://other:6379');
    expect(compileConfig({}, 'test', '/tmp', {}).redisUrl).toBe('redis://127.0.0.1:6379');
  });

  it('refuses a seed node without a port, an empty list, and redisUrl beside it', () => {
    expect(() => compileConfig({ redis: { cluster: ['h'] } }, 'test', '/tmp', {})).toThrow(/redis\.cluster\.0: a seed node is host:port/);
    expect(() => compileConfig({ redis: { cluster: [] } }, 'test', '/tmp', {})).toThrow(ConfigError);
    expect(() => compileConfig({ redisUrl: 'redis://h:1', redis: { cluster: ['h:7000'] } }, 'test', '/tmp', {})).toThrow(/give either redisUrl or redis\.cluster, not both/);
    expect(() => compileConfig({ redis: { cluster: ['h:7000'], sentinel: true } }, 'test', '/tmp', {})).toThrow(ConfigError);
  });
});
