// The Agora config of the compose topology (docker-compose.yml sets AGORA_CONFIG to this file in
// every agora container). It is a .mjs so one file serves both storage set-ups: the default keeps
// results in the shared `agora-data` volume (every container of one host mounts it), the `s3`
// profile in an S3 bucket (what a fleet on several hosts needs). Everything else comes from the
// environment the compose file passes: REDIS_URL (a user per role), AGORA_DATA_DIR, the keys.
//
//   AGORA_STORAGE         local | s3                        (default local)
//   AGORA_S3_ENDPOINT     S3-compatible endpoint (MinIO, s3rver); unset for AWS S3
//   AGORA_S3_BUCKET       results bucket                    (default agora-results)
//   AGORA_S3_REGION       region                            (default us-east-1)
//   AGORA_ANCHOR          local | s3: where sealed audit checkpoints are anchored (default local)
//   AGORA_ANCHOR_BUCKET   Object Lock bucket                (default agora-audit)
//   AGORA_ANCHOR_RETENTION_DAYS  COMPLIANCE retention       (default 365)
//   AGORA_QUEUE_CONCURRENCY      global concurrency of the "default" queue (default 6)
//   AGORA_RUNNER_JOB_LOCK_MS     a runner silent this long loses its jobs to another (default 30000;
//                                also the stalled-job check interval)
//   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: read by the AWS SDK itself.
const env = process.env;

function oneOf(name, value, allowed) {
  if (!allowed.includes(value)) throw new Error(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value;
}

/** A whole number from `min` up, named when it is not one (Number('abc') would reach the config as NaN). */
function wholeNumber(name, fallback, min) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = /^[0-9]+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(n >= min) || !Number.isSafeInteger(n)) throw new Error(`${name} must be a whole number of at least ${min}, got "${raw}"`);
  return n;
}

const storageKind = oneOf('AGORA_STORAGE', env.AGORA_STORAGE ?? 'local', ['local', 's3']);
const anchorKind = oneOf('AGORA_ANCHOR', env.AGORA_ANCHOR ?? 'local', ['local', 's3']);
const region = env.AGORA_S3_REGION ?? 'us-east-1';
const endpoint = env.AGORA_S3_ENDPOINT ? { endpoint: env.AGORA_S3_ENDPOINT, forcePathStyle: true } : {};

export default {
  namespace: 'agora',
  queues: { default: { concurrency: wholeNumber('AGORA_QUEUE_CONCURRENCY', 6, 1) } },
  runner: {
    jobLockMs: wholeNumber('AGORA_RUNNER_JOB_LOCK_MS', 30_000, 1),
    stalledIntervalMs: wholeNumber('AGORA_RUNNER_JOB_LOCK_MS', 30_000, 1),
  },
  storage:
    storageKind === 's3'
      ? { provider: 's3', options: { bucket: env.AGORA_S3_BUCKET ?? 'agora-results', region, ...endpoint } }
      : { provider: 'local' },
  audit: {
    anchor:
      anchorKind === 's3'
        ? {
            provider: 's3',
            options: { bucket: env.AGORA_ANCHOR_BUCKET ?? 'agora-audit', region, retentionDays: wholeNumber('AGORA_ANCHOR_RETENTION_DAYS', 365, 1), ...endpoint },
          }
        : { provider: 'local' },
  },
  tasks: {
    // A sample task (the image has node): prints its worker input and how many dependencies it got.
    echo: {
      command: [
        'node',
        '-e',
        "const fs=require('fs');const deps=JSON.parse(fs.readFileSync(process.env.AGORA_DEPENDENCIES_FILE,'utf8'));process.stdout.write(JSON.stringify({input:JSON.parse(fs.readFileSync(process.env.AGORA_WORKER_INPUT_FILE,'utf8')),dependencies:Object.keys(deps).length}))",
      ],
      timeoutMs: 60_000,
    },
  },
  // The dashboard listens on every interface of its container; compose publishes the port.
  dashboard: { host: '0.0.0.0', port: 3000 },
};
