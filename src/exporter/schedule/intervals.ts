/**
 * The node-cron expression that fires every `seconds`, aligned to the clock. Cron can only express
 * intervals that divide a minute, an hour or a day; others are refused rather than drifting.
 */
export function cronForInterval(seconds: number): string | undefined {
  if (!Number.isInteger(seconds) || seconds < 1) return undefined;
  if (seconds < 60) return 60 % seconds === 0 ? `*/${seconds} * * * * *` : undefined;
  if (seconds % 60 !== 0) return undefined;
  const minutes = seconds / 60;
  if (minutes < 60) return 60 % minutes === 0 ? `0 */${minutes} * * * *` : undefined;
  if (minutes % 60 !== 0) return undefined;
  const hours = minutes / 60;
  if (hours === 24) return "0 0 0 * * *";
  return hours < 24 && 24 % hours === 0 ? `0 0 */${hours} * * *` : undefined;
}
