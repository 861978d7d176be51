import { inject } from 'vitest';
import { TableService } from '../../src/sinks/tableService';

let n = 0;
/** A TableService on the shared Azurite with a unique table prefix, so test files never see each other's rows. */
export function isolatedStorage(label: string): { tables: TableService; connectionString: string; prefix: string; queuePrefix: string } {
  const connectionString = inject('azuriteConnectionString');
  const prefix = `T${label.replace(/[^A-Za-z0-9]/g, '')}${process.pid}${Date.now().toString(36)}${n++}`.slice(0, 40);
  return { tables: new TableService({ connectionString, namePrefix: prefix }), connectionString, prefix, queuePrefix: prefix.toLowerCase() + '-' };
}
