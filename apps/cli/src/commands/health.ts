import os from 'node:os';
import { request } from 'node:http';
import { z } from 'zod';
import { ValueError, redactRedisUrl, type AgoraConfig } from '@agora/core';
import { liveRunners } from '@agora/state';
import { EXIT, cliErrorMessage, exitCodeFor, resolveConfig, type GlobalOpts } from '../context.js';
import { assertRedisReachable, probeRedis } from '../redis-check.js';

const TIMEOUT_MESSAGE = 'must be an integer number of milliseconds from 100 to 60000';

/**
 * `agora health`: a container healthcheck (the image's HEALTHCHECK and compose's) for a process
 * that serves no HTTP of its own. It runs in the same container as the process it checks, so it
 * shares its REDIS_URL, config and host name:
 * - always: Redis answers with this process's URL and user (a scheduler that cannot reach Redis
 *   is not serving, whatever its state);
 * - `--runner`: also, a runner on this host (AGORA_HOST or the host name, as the runner
 *   registers itself) has a heartbeat in Redis younger than 15 s, so a runner whose event loop
 *   is stuck or whose Redis writes fail turns unhealthy;
 * - `--url <url>`: also, GET <url> answers 200 (the dashboard's `/healthz`).
 * Exit 0 healthy, 3 (unavailable) otherwise, with the reason on stderr; 2 for a bad option or bad
 * Redis settings (an unparsable REDIS_URL, an unreadable AGORA_REDIS_CA_FILE).
 */
const optsSchema = z.object({
  runner: z.boolean().optional(),
  url: z
    .string()
    .url()
    .refine((u) => /^http:\/\//.test(u), 'only http:// URLs (the check runs inside the container)')
    .optional(),
  timeoutMs: z
    .string()
    .regex(/^[0-9]{1,6}$/, TIMEOUT_MESSAGE)
    .transform(Number)
    .refine((n) => n >= 100 && n <= 60_000, TIMEOUT_MESSAGE)
    .default(4000),
});

/** The names the options have on the command line, for messages. */
const FLAG: Record<string, string> = { timeoutMs: '--timeout', url: '--url', runner: '--runner' };

export async function healthCmd(raw: { runner?: boolean; url?: string; timeout?: string; json?: boolean }, g: GlobalOpts): Promise<number> {
  let opts: z.output<typeof optsSchema>;
  let config: AgoraConfig;
  try {
    // Found before the verb ran: an unreadable REDIS_URL_FILE, a bad AGORA_LOG_LEVEL.
    if (g.startupError !== undefined) throw g.startupError;
    const parsed = optsSchema.safeParse({ runner: raw.runner, url: raw.url, ...(raw.timeout !== undefined ? { timeoutMs: raw.timeout } : {}) });
    if (!parsed.success) throw new ValueError(`health: ${parsed.error.issues.map((i) => `${FLAG[String(i.path[0])] ?? 'option'}: ${i.message}`).join('; ')}`);
    opts = parsed.data;
    config = await resolveConfig(g);
  } catch (err) {
    // Nothing was checked: --json still prints { healthy, problems } (a script parses stdout on
    // every outcome), with the verb's exit code for the error (2 for bad settings).
    if (raw.json) process.stdout.write(JSON.stringify({ healthy: false, problems: [cliErrorMessage(err)] }) + '\n');
    // A bad secret file is a bad Redis setting: the same `unhealthy:` line as an empty REDIS_URL_FILE.
    else if (err === g.startupError) process.stderr.write(`unhealthy: ${cliErrorMessage(err)}\n`);
    else throw err;
    return exitCodeFor(err);
  }
  const problems: string[] = [];
  // Bad settings (an unparsable REDIS_URL, an empty REDIS_URL_FILE, an unreadable CA file) are exit 2, as for every verb; unreachable is 3.
  let badInput = false;
  try {
    await assertRedisReachable(config.redisUrl, opts.timeoutMs);
  } catch (err) {
    problems.push((err as Error).message);
    badInput = exitCodeFor(err) === EXIT.usage;
  }
  if (opts.runner && problems.length === 0) {
    const host = process.env['AGORA_HOST'] ?? os.hostname();
    const r = probeRedis(config.redisUrl, opts.timeoutMs);
    r.on('error', () => undefined);
    try {
      const mine = (await liveRunners(r, config.namespace)).filter((x) => x.host === host);
      if (mine.length === 0) problems.push(`no runner on host "${host}" has a heartbeat in namespace "${config.namespace}" within the last 15 s`);
    } catch (err) {
      problems.push(`cannot read the runner registry: ${cliErrorMessage(err)}`);
    } finally {
      r.disconnect();
    }
  }
  if (opts.url !== undefined) {
    const status = await httpStatus(opts.url, opts.timeoutMs);
    // The URL may hold credentials (user:password@, a token in the query): never printed whole.
    if (status !== 200) problems.push(`GET ${redactRedisUrl(opts.url)} answered ${String(status).split(opts.url).join(redactRedisUrl(opts.url))}`);
  }
  if (raw.json) process.stdout.write(JSON.stringify({ healthy: problems.length === 0, problems }) + '\n');
  if (problems.length > 0) {
    if (!raw.json) process.stderr.write(`unhealthy: ${problems.join('; ')}\n`);
    return badInput ? EXIT.usage : EXIT.unavailable;
  }
  if (!raw.json) process.stdout.write('healthy\n');
  return EXIT.ok;
}

function httpStatus(url: string, timeoutMs: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 'no status');
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (err) => resolve(`an error (${err.message})`));
    req.end();
  });
}
