import type { TestProject } from 'vitest/node';
import { startAzurite, type AzuriteHandle } from '../src/dev/azurite';

let azurite: AzuriteHandle | undefined;

/** One in-memory Azurite for the whole run; tests isolate themselves by table/queue name prefix. */
export async function setup(project: TestProject): Promise<void> {
  azurite = await startAzurite();
  project.provide('azuriteConnectionString', azurite.connectionString);
}

export async function teardown(): Promise<void> {
  await azurite?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    azuriteConnectionString: string;
  }
}
