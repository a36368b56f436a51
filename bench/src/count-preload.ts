/**
 * Loaded with `node --import` into every process the bench starts (scheduler, runners, raw
 * workers): counts the Redis commands the process sends (see command-count.ts) and answers the
 * harness's `bench:commands` message on the IPC channel with `{ benchCommands: n, byKind }` (byKind: see BENCH_COMMAND_NAMES).
 */
import { commandsByKind, commandsSent } from './command-count.js';

if (process.send) {
  process.on('message', (m: unknown) => {
    if (m === 'bench:commands') process.send?.({ benchCommands: commandsSent(), byKind: commandsByKind() });
  });
  // The channel must not keep the process alive: it exits on SIGTERM exactly as without us.
  process.channel?.unref();
}
