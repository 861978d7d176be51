/** Types of scripts/register-webhook.js (plain CommonJS so it runs without a build). */
export interface RegisterWebhookOptions {
  /** Environment URL, e.g. https://contoso.crm4.dynamics.com */
  dataverseUrl: string;
  /** The deployment's webhookUrl output. */
  webhookUrl: string;
  /** Sent by Dataverse in the x-flowwarden-key header; at least 16 characters. */
  secret: string;
  /** Logical names of the monitored tables (the policy's `tables` keys). */
  tables: string[];
  /** A bearer token for the Dataverse environment. */
  getToken: () => Promise<string>;
  dryRun?: boolean;
  fetch?: typeof globalThis.fetch;
  log?: (line: string) => void;
}

export interface RegisterWebhookResult {
  serviceEndpointId: string;
  /** Step names added (or, with dryRun, to be added). */
  created: string[];
  /** Step names already registered on the endpoint. */
  existing: string[];
  /** Steps not possible on the table (Assign/sharing on organization-owned tables), with the reason. */
  skipped: string[];
}

export declare class RegistrationError extends Error {
  readonly status?: number;
  readonly field?: string;
}

export declare function registerWebhook(opts: RegisterWebhookOptions): Promise<RegisterWebhookResult>;
export declare const ENDPOINT_NAME: string;
export declare const HEADER_NAME: string;
export declare const TABLE_MESSAGES: readonly string[];
export declare const GLOBAL_MESSAGES: readonly string[];
