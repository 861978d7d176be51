import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { HandlerRequest, HandlerResponse } from './httpTypes';

const EMPTY: Uint8Array = new Uint8Array(0);

/** @azure/functions HttpRequest → the handlers' neutral request (the body stays a stream: size caps apply while reading). */
export function fromFunctionsRequest(req: HttpRequest): HandlerRequest {
  const headers: Record<string, string | undefined> = {};
  req.headers.forEach((v, k) => {
    headers[k.toLowerCase()] = v;
  });
  const query: Record<string, string | undefined> = {};
  req.query.forEach((v, k) => {
    query[k] = v;
  });
  const body = req.body as unknown as AsyncIterable<Uint8Array> | null;
  return { method: req.method, headers, query, body: body ?? EMPTY };
}

export function toFunctionsResponse(res: HandlerResponse): HttpResponseInit {
  return { status: res.status, ...(res.headers ? { headers: res.headers } : {}), body: res.body };
}
