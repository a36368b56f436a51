import { describe, expect, it } from 'vitest';
import { ConfigError, ValueError, autoscaleDecision, compileConfig, fleetRunnerCount } from '@agora/core';

describe('fleetRunnerCount: the runner-count cap of one host, max(1, min(vcpu, count))', () => {
  it('without a count: one on a host, one per vCPU on cloud capacity', () => {
    expect(fleetRunnerCount(undefined, 8, 'host')).toBe(1);
    expect(fleetRunnerCount(undefined, 8, 'cloud')).toBe(8);
  });

  it('with a count: capped at the vCPUs, never below 1', () => {
    expect(fleetRunnerCount(3, 8, 'host')).toBe(3);
    expect(fleetRunnerCount(12, 8, 'host')).toBe(8);
    expect(fleetRunnerCount(12, 8, 'cloud')).toBe(8);
    expect(fleetRunnerCount(0, 8, 'host')).toBe(1);
    expect(fleetRunnerCount(5, 2.5, 'host')).toBe(2);
  });

  it('refuses a vcpu below 1 and a count that is not a non-negative integer', () => {
    expect(() => fleetRunnerCount(1, 0, 'host')).toThrow(new ValueError('vcpu must be a number >= 1, got 0'));
    expect(() => fleetRunnerCount(-1, 4, 'host')).toThrow(new ValueError('a runner count must be a non-negative integer, got -1'));
    expect(() => fleetRunnerCount(1.5, 4, 'host')).toThrow(ValueError);
  });
});

describe('autoscaleDecision: replicas from queue depth within [min, max]', () => {
  const bounds = { min: 1, max: 6, targetWaitingPerRunner: 10 };

  it('scales up to ceil((waiting + active) / target), at most max', () => {
    expect(autoscaleDecision({ waiting: 25, active: 0, current: 1 }, bounds)).toBe(3);
    expect(autoscaleDecision({ waiting: 15, active: 10, current: 1 }, bounds)).toBe(3);
    expect(autoscaleDecision({ waiting: 1000, active: 6, current: 2 }, bounds)).toBe(6);
  });

  it('an idle queue goes to min, not below', () => {
    expect(autoscaleDecision({ waiting: 0, active: 0, current: 4 }, bounds)).toBe(1);
    expect(autoscaleDecision({ waiting: 0, active: 0, current: 4 }, { ...bounds, min: 0 })).toBe(0);
  });

  it('scales down only as far as half the target per replica (no flapping near a boundary)', () => {
    // 20 jobs on 5 replicas: 2 would carry 10 each, but the count stays where each carries at most 5.
    expect(autoscaleDecision({ waiting: 20, active: 0, current: 5 }, bounds)).toBe(4);
    expect(autoscaleDecision({ waiting: 20, active: 0, current: 4 }, bounds)).toBe(4);
    // 21 jobs on 3 replicas: up to 3 is what the target says; no change.
    expect(autoscaleDecision({ waiting: 21, active: 0, current: 3 }, bounds)).toBe(3);
  });

  it('a count above max (config lowered) comes down to max', () => {
    expect(autoscaleDecision({ waiting: 1000, active: 0, current: 9 }, bounds)).toBe(6);
  });
});

describe('config: fleet', () => {
  it('takes fleet.<name> { provider, options, autoscale } with defaults', () => {
    const cfg = compileConfig({ fleet: { local: { provider: 'local', autoscale: { max: 4 } } } }, 'test', '/tmp', {});
    expect(cfg.fleet['local']).toEqual({ provider: 'local', options: {}, autoscale: { min: 0, max: 4, targetWaitingPerRunner: 10, intervalMs: 15_000 } });
    expect(compileConfig({}, 'test', '/tmp', {}).fleet).toEqual({});
  });

  it('is strict: unknown keys, bad names and min > max are refused with their path', () => {
    const problems = (raw: unknown): readonly string[] => {
      try {
        compileConfig(raw, 'test', '/tmp', {});
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
      return [];
    };
    expect(problems({ fleet: { local: { provider: 'local', replicas: 3 } } })).toEqual(['fleet.local: Unrecognized key: "replicas"']);
    expect(problems({ fleet: { 'Bad Name': { provider: 'local' } } })).toEqual(['fleet.Bad Name: invalid fleet name "Bad Name": fleet names are 1-32 of [a-z0-9_-]']);
    expect(problems({ fleet: { local: { provider: 'local', autoscale: { min: 5, max: 2 } } } })).toEqual(['fleet.local.autoscale: autoscale.min must not exceed autoscale.max']);
  });
});
