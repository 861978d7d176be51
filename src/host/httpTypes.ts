/** Framework-neutral HTTP request/response used by the handlers, adapted from node:http (serve) and @azure/functions. */
export interface HandlerRequest {
  method: string;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  body: AsyncIterable<Uint8Array> | Uint8Array | string;
}

export interface HandlerResponse {
  status: number;
  headers?: Record<string, string>;
  body: string;
}
