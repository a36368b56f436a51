import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OUTPUT_CAP_BYTES } from '@agora/core';
import { ProcessComputeProvider } from '@agora/compute-process';

const node = process.execPath;
const p = new ProcessComputeProvider({ killGraceMs: 500 });

/** The exit with stdout decoded (stdout is bytes; these workers print text). */
async function run(command: string[], extra: Record<string, unknown> = {}, ctx = {}) {
  const h = await p.run({ command, ...extra }, ctx);
  const exit = await p.awaitExit(h, ctx);
  expect(Buffer.isBuffer(exit.stdout)).toBe(true);
  return { ...exit, stdout: Buffer.from(exit.stdout).toString('utf8') };
}

/** Alive and not a zombie (an orphan's zombie lingers until PID 1 reaps it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** What only this provider does; the contract every compute/storage provider meets is test/conformance.test.ts. */
describe('ProcessComputeProvider', () => {
  it('reports a missing command as an infrastructure failure', async () => {
    const exit = await run(['/nonexistent/agora-worker']);
    expect(exit.exitCode).toBeNull();
    expect(exit.providerFailureReason).toBe('command not found: /nonexistent/agora-worker');
  });

  it('caps stdout at 10 MiB with a visible marker', async () => {
    const total = OUTPUT_CAP_BYTES + 12345;
    const exit = await run([node, '-e', `const b = Buffer.alloc(1 << 20, 97); let left = ${total}; while (left > 0) { const n = Math.min(left, b.length); process.stdout.write(b.subarray(0, n)); left -= n; }`]);
    expect(exit.exitCode).toBe(0);
    expect(exit.stdout.startsWith('a'.repeat(1000))).toBe(true);
    expect(exit.stdout).toContain(`[agora: output truncated at ${OUTPUT_CAP_BYTES} bytes; 12345 more bytes dropped]`);
    expect(exit.stdout.length).toBeLessThan(OUTPUT_CAP_BYTES + 200);
  });

  it('passes env and stdin, and only the env it is given', async () => {
    process.env['AGORA_TEST_LEAK'] = 'should-not-pass';
    const exit = await run(
      [node, '-e', 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.stringify({x:process.env.X,leak:process.env.AGORA_TEST_LEAK??null,s})))'],
      { env: { X: 'y' }, stdin: 'hello' },
    );
    expect(JSON.parse(exit.stdout)).toEqual({ x: 'y', leak: null, s: 'hello' });
  });

  it('cancel kills the whole process tree', async () => {
    // The worker starts a grandchild that would outlive a plain kill of the worker.
    // It writes the grandchild's pid to a file once it has one: cancel only then (a fixed sleep
    // was too short on a loaded machine: the worker had not started its grandchild yet).
    const pidFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'agora-tree-')), 'grandchild.pid');
    const h = await p.run(
      { command: [node, '-e', `const c=require("child_process").spawn(process.execPath,["-e","setInterval(()=>{},1000)"],{stdio:"ignore"});require("fs").writeFileSync(${JSON.stringify(pidFile)},String(c.pid));setInterval(()=>{},1000)`] },
      {},
    );
    for (let i = 0; i < 400 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    expect(grandchild).toBeGreaterThan(0);
    expect(alive(grandchild)).toBe(true);
    const t0 = Date.now();
    await p.cancel(h);
    const exit = await p.awaitExit(h);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(exit.cancelled).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(alive(grandchild)).toBe(false);
  });

  it('aborting the context signal stops the worker and marks it cancelled', async () => {
    const ac = new AbortController();
    const h = await p.run({ command: [node, '-e', 'setInterval(()=>{},1000)'] }, { signal: ac.signal });
    setTimeout(() => ac.abort('test'), 100);
    const exit = await p.awaitExit(h);
    expect(exit.cancelled).toBe(true);
    expect(alive(Number(h['pid']))).toBe(false);
  });

});
