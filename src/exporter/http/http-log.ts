/**
 * What the HTTP side logs through: pino's Logger fits it, and so does the worker thread's, which
 * hands each line to the main thread's logger (serve-worker.ts) instead of loading pino again.
 */
export interface HttpLog {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}
