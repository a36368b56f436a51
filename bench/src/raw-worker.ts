/**
 * Raw BullMQ worker for the side-by-side numbers: a no-op processor on one queue, the same
 * concurrency our runners get. argv: redisUrl prefix queue concurrency
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const [url, prefix, queue, concurrency] = process.argv.slice(2) as [string, string, string, string];
const connection = new Redis(url, { maxRetriesPerRequest: null });
// startedAt: when the processor began, for the start-latency scenario (sub-ms wall clock).
const worker = new Worker(queue, async (job) => ({ ok: true, id: job.id, startedAt: performance.timeOrigin + performance.now() }), {
  connection,
  prefix,
  concurrency: Number(concurrency),
});
worker.on('ready', () => process.stdout.write('raw worker ready\n'));
const stop = async (): Promise<void> => {
  await worker.close();
  connection.disconnect();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
