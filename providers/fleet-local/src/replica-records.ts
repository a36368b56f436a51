import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/**
 * The durable record of a local fleet: one file per replica (`replicas/<pid>.json`) and the
 * desired count (`desired.json`), under `<dataDir>/fleet/<name>/`. Files, not memory: the CLI
 * that started the runners exits at once, and a later `agora fleet status` must still find them.
 */

const replicaRecordSchema = z
  .object({
    pid: z.number().int().positive(),
    host: z.string().max(255),
    startedAt: z.string().max(64),
    /** /proc/<pid>/stat start time (clock ticks since boot): tells a reused pid from ours. */
    procStart: z.string().max(32).optional(),
    log: z.string().max(4096),
  })
  .strict();

export type ReplicaRecord = z.infer<typeof replicaRecordSchema>;

const desiredSchema = z.object({ desired: z.number().int().nonnegative() }).strict();

/** Logs of replicas that died on their own, kept for a look (the newest few). */
const KEPT_EXITED_LOGS = 5;

export class ReplicaRecords {
  readonly dir: string;
  private readonly replicasDir: string;
  readonly logsDir: string;

  constructor(dataDir: string, fleetName: string) {
    this.dir = path.join(dataDir, 'fleet', fleetName);
    this.replicasDir = path.join(this.dir, 'replicas');
    this.logsDir = path.join(this.dir, 'logs');
  }

  ensure(): void {
    mkdirSync(this.replicasDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.logsDir, { recursive: true, mode: 0o700 });
  }

  write(rec: ReplicaRecord): void {
    this.ensure();
    writeAtomically(path.join(this.replicasDir, `${rec.pid}.json`), JSON.stringify(rec));
  }

  /** Every readable record; a torn or foreign file is dropped (it names no process we can trust). */
  all(): ReplicaRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.replicasDir);
    } catch {
      return [];
    }
    const out: ReplicaRecord[] = [];
    for (const n of names) {
      if (!/^\d+\.json$/.test(n)) continue;
      const file = path.join(this.replicasDir, n);
      try {
        out.push(replicaRecordSchema.parse(JSON.parse(readFileSync(file, 'utf8'))));
      } catch {
        rmSync(file, { force: true });
      }
    }
    return out;
  }

  /** Forgets a replica that was stopped on purpose: its log goes too. */
  remove(rec: ReplicaRecord): void {
    rmSync(path.join(this.replicasDir, `${rec.pid}.json`), { force: true });
    rmSync(rec.log, { force: true });
  }

  /** Forgets a replica that died on its own; its log is kept (renamed `*.exited.log`) among the newest few. */
  removeExited(rec: ReplicaRecord): void {
    rmSync(path.join(this.replicasDir, `${rec.pid}.json`), { force: true });
    try {
      renameSync(rec.log, rec.log.replace(/\.log$/, '.exited.log'));
    } catch {
      return;
    }
    const exited = readdirSync(this.logsDir)
      .filter((n) => n.endsWith('.exited.log'))
      .map((n) => path.join(this.logsDir, n))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
    for (const old of exited.slice(KEPT_EXITED_LOGS)) rmSync(old, { force: true });
  }

  readDesired(): number | undefined {
    try {
      return desiredSchema.parse(JSON.parse(readFileSync(path.join(this.dir, 'desired.json'), 'utf8'))).desired;
    } catch {
      return undefined;
    }
  }

  writeDesired(desired: number): void {
    this.ensure();
    writeAtomically(path.join(this.dir, 'desired.json'), JSON.stringify({ desired }));
  }
}

/** Written whole and renamed into place: a reader never sees half a record. */
function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}
