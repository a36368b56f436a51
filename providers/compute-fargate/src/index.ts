export * from './fargate-compute-provider.js';
export * from './task-exit.js';
export { isDigestPinned } from './image-ref.js';
