import { readFile } from 'node:fs/promises';
import { allNames, decodeUtf8, parsePlanText } from '@agora/core';
import { ProviderSet, loadTask, registerTask, resolveTaskRef } from '@agora/registry';
import { CliError, EXIT, resolveConfig, type GlobalOpts } from '../context.js';

/** `agora tasks register <name> <file>`: stores a task definition, content-addressed; prints its pinned URI. */
export async function tasksRegisterCmd(name: string, file: string, g: GlobalOpts, opts: { json?: boolean } = {}): Promise<number> {
  const config = await resolveConfig(g);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const def = (() => {
    try {
      return parsePlanText(decodeUtf8(bytes, file), file);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
  })();
  const storage = await new ProviderSet(config).storage();
  try {
    const r = await registerTask(storage, config.namespace, name, def, { configTasks: config.tasks });
    process.stdout.write(opts.json ? JSON.stringify({ name, uri: r.uri }) + '\n' : `${r.uri}\n`);
    return EXIT.ok;
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

/** `agora tasks list`: registered task names with their latest pinned URI. */
export async function tasksListCmd(g: GlobalOpts, opts: { json?: boolean } = {}): Promise<number> {
  const config = await resolveConfig(g);
  const storage = await new ProviderSet(config).storage();
  const names: string[] = [];
  for await (const n of allNames(storage, { namespace: config.namespace, type: 'task' })) names.push(n);
  const rows: Array<{ name: string; uri: string | null; source: 'storage' | 'config' }> = [];
  for (const n of names) rows.push({ name: n, uri: (await resolveTaskRef(storage, config.namespace, n)) ?? null, source: 'storage' });
  for (const n of Object.keys(config.tasks)) if (!names.includes(n)) rows.push({ name: n, uri: null, source: 'config' });
  if (opts.json) process.stdout.write(JSON.stringify(rows) + '\n');
  else for (const r of rows) process.stdout.write(`${r.name}\t${r.source === 'config' ? '(config file only)' : (r.uri ?? '')}\n`);
  return EXIT.ok;
}

/** `agora tasks show <name|uri>`: the definition a name (latest) or pinned URI resolves to. */
export async function tasksShowCmd(ref: string, g: GlobalOpts): Promise<number> {
  const config = await resolveConfig(g);
  const storage = await new ProviderSet(config).storage();
  const uri = ref.startsWith('agora://') ? ref : await resolveTaskRef(storage, config.namespace, ref);
  if (!uri) {
    const local = config.tasks[ref];
    if (!local) throw new CliError(`no task "${ref}" registered or in the config`);
    process.stdout.write(JSON.stringify({ source: 'config', definition: local }, null, 2) + '\n');
    return EXIT.ok;
  }
  process.stdout.write(JSON.stringify({ source: uri, definition: await loadTask(storage, uri) }, null, 2) + '\n');
  return EXIT.ok;
}
