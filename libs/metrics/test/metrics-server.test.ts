import { describe, expect, it } from 'vitest';
import { createAgoraMetrics, startMetricsServer } from '@agora/metrics';
import { parsePrometheusText, scrape } from '../../../test/support/prometheus.js';

describe('startMetricsServer', () => {
  it('serves /metrics as Prometheus text, /healthz, and /readyz with the check\'s reason', async () => {
    const m = createAgoraMetrics();
    m.itemsEnded.inc({ state: 'done', queue: 'q' }, 3);
    m.itemDuration.observe({ state: 'done', queue: 'q' }, 0.2);
    m.observeQueueJobs(async () => [{ queue: 'q', counts: { waiting: 5, active: 1 } }]);
    let problem: string | undefined = 'not yet';
    const server = await startMetricsServer({ registry: m.registry, port: 0, ready: async () => problem });
    try {
      const s = await scrape(server.url);
      expect(s.value('agora_items_total', { state: 'done', queue: 'q' })).toBe(3);
      expect(s.count('agora_item_duration_seconds', { state: 'done', queue: 'q' })).toBe(1);
      expect(s.value('agora_queue_jobs', { queue: 'q', state: 'waiting' })).toBe(5);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      const notReady = await fetch(`${server.url}/readyz`);
      expect([notReady.status, await notReady.json()]).toEqual([503, { ok: false, error: 'not yet' }]);
      problem = undefined;
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      const post = await fetch(`${server.url}/metrics`, { method: 'POST' });
      // RFC 9110: a 405 names the methods the resource takes.
      expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    } finally {
      await server.close();
    }
  });

  it('/readyz gives up on a check that hangs and answers 503 within 2 s', async () => {
    const m = createAgoraMetrics();
    const server = await startMetricsServer({ registry: m.registry, port: 0, ready: () => new Promise(() => undefined) });
    try {
      const t0 = Date.now();
      const res = await fetch(`${server.url}/readyz`);
      expect(res.status).toBe(503);
      expect(Date.now() - t0).toBeLessThan(2500);
      expect(((await res.json()) as { error: string }).error).toMatch(/within 2000 ms/);
    } finally {
      await server.close();
    }
  });

  it('a collect-time source that fails or hangs leaves its gauge empty instead of failing the scrape', async () => {
    const m = createAgoraMetrics();
    m.observeQueueJobs(() => Promise.reject(new Error('redis down')));
    m.observeLockWaiters(() => new Promise(() => undefined));
    const s = parsePrometheusText(await m.registry.metrics());
    expect(s.get('agora_queue_jobs')!.samples).toHaveLength(0);
    expect(s.get('agora_lock_waiters')!.samples).toHaveLength(0);
  });
});

describe('the test parser (test/support/prometheus.ts) is strict', () => {
  const ok = '# HELP x_total x\n# TYPE x_total counter\nx_total{a="1"} 2\n';
  it('reads a well-formed family', () => {
    expect(parsePrometheusText(ok).get('x_total')!.samples).toEqual([{ name: 'x_total', labels: { a: '1' }, value: 2 }]);
  });
  it.each([
    ['sample-of-undeclared-family', '# TYPE x_total counter\ny_total 1\n'],
    ['unquoted-label-value', '# TYPE x counter\nx{a=1} 1\n'],
    ['non-numeric-value', '# TYPE x gauge\nx one\n'],
    ['negative-counter', '# TYPE x_total counter\nx_total -1\n'],
    ['histogram-without-inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['histogram-count-mismatch', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n'],
    ['histogram-not-cumulative', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
  ])('refuses %s', (_name, text) => {
    expect(() => parsePrometheusText(text)).toThrow();
  });
});
