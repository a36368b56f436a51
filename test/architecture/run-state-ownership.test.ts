import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Two structural acceptance items of issue #14, held by the sources themselves:
 * - no package other than libs/state names a run key or a run-hash field (everything else reads
 *   and writes runs through RunStore);
 * - `createRunner` and `createScheduler` are composition roots under 80 lines each.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');

function sourceFiles(dir: string, exts: readonly string[]): string[] {
  let out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(sourceFiles(p, exts));
    else if (exts.some((e) => name.endsWith(e))) out.push(p);
  }
  return out;
}

/** Every package's own source (TypeScript and Lua) except the state library's. */
function otherPackagesSources(): string[] {
  const files: string[] = [];
  for (const group of ['apps', 'libs', 'providers', 'examples']) {
    for (const pkg of readdirSync(path.join(ROOT, group))) {
      if (group === 'libs' && pkg === 'state') continue;
      for (const sub of ['src', 'commands']) {
        const dir = path.join(ROOT, group, pkg, sub);
        try {
          if (statSync(dir).isDirectory()) files.push(...sourceFiles(dir, ['.ts', '.lua']));
        } catch {
          // the package has no such folder
        }
      }
    }
  }
  return files;
}

/** The code without its comments (comments may name a field to explain it). */
function code(text: string, lua: boolean): string {
  return lua ? text.replace(/--\[\[[\s\S]*?\]\]/g, '').replace(/--.*$/gm, '') : text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

// Run-hash fields that mean nothing outside a run record (generic ones such as `state` would
// match unrelated code; the key checks below keep those behind RunStore too).
const RUN_HASH_FIELD = /['"`](taskRefs|enqueuedAt|cancelRequested|nRunning|flowChunks|retryLevels|n_done|n_failed|n_skipped|n_cancelled)['"`]/;
// The run key layout (`<ns>:run:{<ns>}:<runId>…`) and the builder of it.
const RUN_KEY = /:run:|\bstateKeys\b|\bkeys\.run\(|\.keys\.run\(/;

describe('run state ownership (issue #14)', () => {
  const files = otherPackagesSources();

  it('scans the other packages', () => {
    // The runner, the scheduler, the dashboard, the SDK, the evidence library at least.
    for (const pkg of ['apps/runner/src', 'apps/scheduler/src', 'apps/dashboard/src', 'libs/sdk/src', 'libs/evidence/src']) {
      expect(files.some((f) => f.startsWith(path.join(ROOT, pkg)))).toBe(true);
    }
    expect(files.some((f) => f.startsWith(path.join(ROOT, 'libs/state')))).toBe(false);
  });

  it('no package but libs/state names a run key or a run-hash field', () => {
    const offending: string[] = [];
    for (const f of files) {
      const body = code(readFileSync(f, 'utf8'), f.endsWith('.lua'));
      for (const [i, line] of body.split('\n').entries()) {
        if (RUN_KEY.test(line) || RUN_HASH_FIELD.test(line)) offending.push(`${path.relative(ROOT, f)}:${i + 1}: ${line.trim()}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('the checks find what they look for', () => {
    // So the test above cannot pass by matching nothing.
    expect(RUN_KEY.test("const k = store.keys.run(runId).meta;")).toBe(true);
    expect(RUN_KEY.test('const base = `${ns}:run:{${ns}}:${runId}`;')).toBe(true);
    expect(RUN_HASH_FIELD.test("redis.hget(meta, 'enqueuedAt')")).toBe(true);
    expect(RUN_HASH_FIELD.test(code("// the run's `enqueuedAt` says so", false))).toBe(false);
    const stateSource = readFileSync(path.join(ROOT, 'libs/state/src/run-store.ts'), 'utf8');
    expect(RUN_HASH_FIELD.test(code(stateSource, false))).toBe(true);
    expect(RUN_KEY.test(readFileSync(path.join(ROOT, 'libs/state/src/keys.ts'), 'utf8'))).toBe(true);
  });

  it.each([
    ['apps/runner/src/runner.ts', 'createRunner'],
    ['apps/scheduler/src/scheduler.ts', 'createScheduler'],
  ])('%s: %s is under 80 lines', (file, name) => {
    const lines = readFileSync(path.join(ROOT, file), 'utf8').split('\n');
    const start = lines.findIndex((l) => new RegExp(`^export (async )?function ${name}\\(`).test(l));
    expect(start).toBeGreaterThanOrEqual(0);
    const end = lines.findIndex((l, i) => i > start && l === '}');
    expect(end).toBeGreaterThan(start);
    expect(end - start + 1).toBeLessThan(80);
  });
});
