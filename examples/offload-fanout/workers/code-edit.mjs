// The "code-edit" worker: modernises one fixture file (var -> let/const) and prints the change
// as a unified diff on stdout. It never writes the fixture: the patch is its escaped artifact.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTwoFilesPatch } from 'diff';

const here = path.dirname(fileURLToPath(import.meta.url));
const input = JSON.parse(process.env.AGORA_WORKER_INPUT ?? '{}');
if (typeof input.file !== 'string' || !/^[A-Za-z0-9._-]+$/.test(input.file)) {
  console.error(`code-edit: workerInput.file must be a plain file name, got ${JSON.stringify(input.file)}`);
  process.exit(2);
}
const rel = `fixture/${input.file}`;
const before = await readFile(path.join(here, '..', rel), 'utf8');
// A variable that is never reassigned becomes const, the others let.
const reassigned = new Set([...before.matchAll(/\b([A-Za-z_]\w*)\s*(?:=(?!=)|\+=|-=|\+\+|--)/g)].map((m) => m[1]));
const declared = [...before.matchAll(/\bvar\s+([A-Za-z_]\w*)\s*=/g)].map((m) => m[1]);
let after = before;
for (const name of declared) {
  const assignments = [...before.matchAll(new RegExp(`\\b${name}\\s*(?:=(?!=)|\\+=|-=|\\+\\+|--)`, 'g'))].length;
  const kind = assignments > 1 || (reassigned.has(name) && assignments > 1) ? 'let' : 'const';
  after = after.replace(new RegExp(`\\bvar\\s+${name}\\b`), `${kind} ${name}`);
}
// Simulated work, so the fan-out (two at a time) is visible in `watch`.
await new Promise((r) => setTimeout(r, Number(process.env.CODE_EDIT_DELAY_MS ?? 400)));
process.stdout.write(createTwoFilesPatch(`a/${rel}`, `b/${rel}`, before, after, '', '', { context: 2 }));
