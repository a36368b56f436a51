import type { Command } from 'commander';
import type { GlobalOpts } from '../context.js';

type Run = (fn: (...a: never[]) => Promise<number>) => (...args: unknown[]) => Promise<void>;

/** Verbs added by later capabilities (audit, locks, doctor, dlq, tasks). */
export function registerExtraCommands(_program: Command, _g: () => GlobalOpts, _run: Run): void {}
