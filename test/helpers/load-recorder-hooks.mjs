// The resolve hook of load-recorder.mjs (it runs on the loader's own thread).
import { appendFileSync } from "node:fs";

export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (process.env.LOAD_RECORD) appendFileSync(process.env.LOAD_RECORD, `${result.url}\n`);
  return result;
}
