import { readConfigText } from "./host/config-files.js";

/** The package version; package.json sits one level above both src/ and dist/. */
export function packageVersion(): string {
  try {
    const text = readConfigText(new URL("../package.json", import.meta.url));
    const parsed: unknown = JSON.parse(text);
    const version = (parsed as { version?: unknown }).version;
    return typeof version === "string" ? version : "unknown";
  } catch {
    return "unknown";
  }
}
