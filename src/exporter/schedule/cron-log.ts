import cron from "node-cron";
import type { Logger } from "pino";

/**
 * node-cron logs through a module-wide logger that writes coloured text to stdout (its
 * "missed execution at ...! Possible blocking IO" warning under load), which breaks a JSON log
 * stream. Route it into pino instead, as one JSON line per message.
 */
export function routeCronLogs(log: Logger): void {
  const cronLog = log.child({ component: "node-cron" });
  const describe = (message: string | Error, err?: Error) =>
    message instanceof Error
      ? { fields: { err: message.message }, text: message.message }
      : { fields: err ? { err: err.message } : {}, text: message };
  cron.setLogger({
    info: (message) => cronLog.info(message),
    warn: (message) => cronLog.warn(message),
    error: (message, err) => {
      const { fields, text } = describe(message, err);
      cronLog.error(fields, text);
    },
    debug: (message, err) => {
      const { fields, text } = describe(message, err);
      cronLog.debug(fields, text);
    },
  });
}
