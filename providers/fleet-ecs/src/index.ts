export * from './ecs-fleet-provider.js';
