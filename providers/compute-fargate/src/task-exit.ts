import type { Container, Task } from '@aws-sdk/client-ecs';

/**
 * How a STOPPED task ended, from ECS's own words. `stopCode` is the coarse reason; `stoppedReason`
 * and the container's `reason` carry the detail (`CannotPullContainerError: ...`,
 * `ResourceInitializationError: ...`, `RESOURCE:ENI`...).
 */
export type StoppedOutcome =
  | { readonly kind: 'exited'; readonly exitCode: number; readonly detail: string }
  | { readonly kind: 'cancelled'; readonly detail: string }
  | { readonly kind: 'infrastructure'; readonly reason: string };

/** Stop codes that mean the platform, not the worker, ended the task. */
const INFRA_STOP_CODES = new Set(['TaskFailedToStart', 'ServiceSchedulerInitiated', 'SpotInterruption', 'TerminationNotice', 'InfrastructureHealth']);

/**
 * Reasons that mean the worker never ran or was taken away: image pulls, ENI/secret/log setup,
 * capacity ("RESOURCE:CPU", "Capacity is unavailable"), agent trouble. Matched anywhere in
 * `stoppedReason` or the container's `reason`.
 */
const INFRA_REASON_RE =
  /CannotPullContainerError|ResourceInitializationError|CannotStartContainerError|CannotCreateContainerError|CannotInspectContainerError|CannotCreateVolumeError|ContainerRuntimeError|ContainerRuntimeTimeoutError|DockerTimeoutError|InternalError|OutOfCapacity|RESOURCE:|Capacity is unavailable|Timeout waiting for network interface|unable to pull secrets|AGENT/;

export function essentialContainer(task: Task, containerName: string): Container | undefined {
  return task.containers?.find((c) => c.name === containerName) ?? task.containers?.[0];
}

export function stoppedOutcome(task: Task, containerName: string): StoppedOutcome {
  const container = essentialContainer(task, containerName);
  const detail = [task.stopCode, task.stoppedReason, container?.reason].filter((s): s is string => !!s).join(': ');
  // StopTask (ours from cancel/timeout, or anyone's) always yields UserInitiated.
  if (task.stopCode === 'UserInitiated') return { kind: 'cancelled', detail };
  const reasons = `${task.stoppedReason ?? ''} ${container?.reason ?? ''}`;
  if ((task.stopCode !== undefined && INFRA_STOP_CODES.has(task.stopCode)) || INFRA_REASON_RE.test(reasons)) {
    return { kind: 'infrastructure', reason: `task ${taskIdOf(task.taskArn ?? '')} stopped: ${detail || 'no reason given'}` };
  }
  if (typeof container?.exitCode === 'number') return { kind: 'exited', exitCode: container.exitCode, detail };
  return { kind: 'infrastructure', reason: `task ${taskIdOf(task.taskArn ?? '')} stopped without a container exit code: ${detail || 'no reason given'}` };
}

/** `arn:aws:ecs:region:acct:task/cluster/<id>` (or the old `task/<id>`) -> `<id>`. */
export function taskIdOf(taskArn: string): string {
  return taskArn.slice(taskArn.lastIndexOf('/') + 1);
}
