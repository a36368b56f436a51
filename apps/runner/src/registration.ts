import { coerceError, type Logger } from '@agora/core';
import { RUNNER_HEARTBEAT_MS, deregisterRunner, registerRunner, type RedisClient, type RunnerRegistration } from '@agora/state';

/**
 * The fleet registry entry of a runner (who runs, where, with which storage: `agora doctor` and
 * `serve` warn about local storage across hosts), renewed by a heartbeat until `stop()`, which
 * removes it at once.
 */
export async function startRegistration(
  redis: RedisClient,
  namespace: string,
  registration: Omit<RunnerRegistration, 'heartbeatAt'>,
  logger: Logger,
): Promise<{ stop(): Promise<void> }> {
  const heartbeat = (): Promise<void> =>
    registerRunner(redis, namespace, registration).catch((err: unknown) => logger.warn({ err: coerceError(err).message }, 'runner heartbeat failed'));
  await heartbeat();
  const timer = setInterval(() => void heartbeat(), RUNNER_HEARTBEAT_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await deregisterRunner(redis, namespace, registration.id).catch(() => undefined);
    },
  };
}
