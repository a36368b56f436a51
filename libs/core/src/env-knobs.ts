import os from 'node:os';
import { isLogLevel } from './logger.js';

/** A CPU count `AGORA_CPUS` may give. */
const CPUS_RE = /^[1-9][0-9]{0,3}$/;
const MAX_CPUS = 4096;

/**
 * The environment knobs every process reads (`AGORA_LOG_LEVEL`, `AGORA_CPUS`), checked once at
 * start: a typo would otherwise be ignored in silence (an unknown level logged at info, a CPU
 * count that is not a number counted as the CPUs Node sees). Empty counts as unset (env files).
 * Returns each problem, naming the variable; the CLI refuses to start on any (exit 2).
 */
export function environmentKnobProblems(env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  const level = env['AGORA_LOG_LEVEL'];
  if (level !== undefined && level !== '' && !isLogLevel(level)) {
    problems.push(`AGORA_LOG_LEVEL must be one of debug, info, warn, error, silent, got ${JSON.stringify(level.slice(0, 40))}`);
  }
  const cpus = env['AGORA_CPUS'];
  if (cpus !== undefined && cpus !== '' && !(CPUS_RE.test(cpus) && Number(cpus) <= MAX_CPUS)) {
    problems.push(`AGORA_CPUS must be a whole number of CPUs from 1 to ${MAX_CPUS}, got ${JSON.stringify(cpus.slice(0, 40))}`);
  }
  return problems;
}

/** The CPUs this host offers Agora: `AGORA_CPUS` when it names a count, else the CPUs Node sees. */
export function hostCpus(env: NodeJS.ProcessEnv = process.env): number {
  const cpus = env['AGORA_CPUS'];
  return cpus !== undefined && CPUS_RE.test(cpus) && Number(cpus) <= MAX_CPUS ? Number(cpus) : os.availableParallelism();
}
