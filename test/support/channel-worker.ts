/**
 * A worker that tails its channel (`$AGORA_CHANNEL`) until it holds the number of whole lines its
 * input asks for (`{ messages: n }`, default 1), then prints those messages as one JSON array and
 * exits 0; exit 3 when it has no channel. With `{ report: true }` it prints
 * `{ messages, channel, writable }` instead: the path it was given and whether it could open it for
 * appending (an empty write). CommonJS, for `node -e` or a `.cjs` file, in a process or in the test image's node.
 */
export const CHANNEL_WORKER = `
const fs = require('node:fs');
const input = JSON.parse(process.env.AGORA_WORKER_INPUT || '{}');
const want = input.messages ?? 1;
const file = process.env.AGORA_CHANNEL;
if (!file) { process.stderr.write('no AGORA_CHANNEL\\n'); process.exit(3); }
const tick = () => {
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\\n').slice(0, -1);
  if (lines.length >= want) {
    const messages = lines.slice(0, want).map((l) => JSON.parse(l));
    if (!input.report) {
      process.stdout.write(JSON.stringify(messages));
      process.exit(0);
    }
    let writable = true;
    try { fs.appendFileSync(file, ''); } catch { writable = false; }
    process.stdout.write(JSON.stringify({ messages, channel: file, writable }));
    process.exit(0);
  }
  setTimeout(tick, 50);
};
tick();
`;
