export * from './dashboard.js';
export * from './api.js';
