/** The request lines Go's TLS server takes for plain HTTP (crypto/tls RecordHeaderError, net/http). */
const httpStarts = ["GET /", "HEAD ", "POST ", "PUT /", "OPTIO"];

/** What Go's net/http writes back in plain text to such a request, then closes. */
export const plainHttpAnswer =
  "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/**
 * "tls" for a TLS record (or anything that is not a known request line: the TLS handshake then
 * fails as it would), "http" for a plain request line, "undecided" while fewer than 5 bytes came.
 */
export function looksLikeHttp(first: Buffer): "tls" | "http" | "undecided" {
  if (first.length === 0) return "undecided";
  const head = first.subarray(0, 5).toString("latin1");
  if (!httpStarts.some((start) => start.startsWith(head) || head.startsWith(start))) return "tls";
  return head.length < 5 ? "undecided" : "http";
}
