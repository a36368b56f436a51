// The "verify" worker: the DAG gate. It receives every edit's patch (staged by the runner in
// AGORA_DEPS_DIR, one file per dependency) and checks each applies cleanly to its fixture.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyPatch, parsePatch } from 'diff';

const here = path.dirname(fileURLToPath(import.meta.url));
const deps = JSON.parse(process.env.AGORA_DEPENDENCIES ?? '{}');
const dir = process.env.AGORA_DEPS_DIR;
const report = [];
for (const [itemId, resultRef] of Object.entries(deps)) {
  const patchText = await readFile(path.join(dir, itemId), 'utf8');
  const [patch] = parsePatch(patchText);
  const rel = (patch?.oldFileName ?? '').replace(/^a\//, '');
  if (!/^fixture\/[A-Za-z0-9._-]+$/.test(rel)) {
    console.error(`verify: ${itemId} patches an unexpected path ${JSON.stringify(rel)}`);
    process.exit(1);
  }
  const original = await readFile(path.join(here, '..', rel), 'utf8');
  const applied = applyPatch(original, patch);
  if (applied === false) {
    console.error(`verify: the patch of ${itemId} (${resultRef}) does not apply to ${rel}`);
    process.exit(1);
  }
  const changed = patch.hunks.reduce((n, h) => n + h.lines.filter((l) => l.startsWith('+')).length, 0);
  report.push({ itemId, file: rel, resultRef, applies: true, linesChanged: changed });
}
if (report.length === 0) {
  console.error('verify: no patches to verify');
  process.exit(1);
}
process.stdout.write(JSON.stringify({ verified: report.length, patches: report }, null, 2) + '\n');
