import { TableAlertStateStore } from '../../../src/sinks/alertStateTable';
import { TableFindingStore } from '../../../src/sinks/findingsTable';
import { StorageWorkQueue } from '../../../src/sinks/storageQueue';
import type { DeliverAlertsDeps, AlertQueueItem } from '../../../src/pipelines/deliverAlerts';
import type { EmailSender, Logger } from '../../../src/ports';
import { isolatedStorage } from '../../helpers/storage';
import { policy } from '../../unit/alerts/fixtures';

export class FakeClock {
  constructor(public t = new Date('2025-01-02T04:00:00.000Z').getTime()) {}
  now = () => new Date(this.t);
  advance(ms: number) {
    this.t += ms;
  }
}

export function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const mk = (level: string) => (msg: string, props?: Record<string, unknown>) => lines.push(JSON.stringify({ level, msg, ...props }));
  return { lines, info: mk('info'), warn: mk('warn'), error: mk('error') };
}

export function alertDeps(label: string, email: EmailSender, over: Partial<DeliverAlertsDeps> = {}) {
  const storage = isolatedStorage(label);
  const clock = new FakeClock();
  const log = captureLogger();
  const deps: DeliverAlertsDeps = {
    findings: new TableFindingStore(storage.tables),
    alertState: new TableAlertStateStore(storage.tables),
    email,
    policy: policy(),
    clock,
    log,
    alertsQueue: new StorageWorkQueue<AlertQueueItem>({ connectionString: storage.connectionString, namePrefix: storage.queuePrefix }, 'flowwarden-alerts'),
    ...over,
  };
  return { deps, clock, log, storage };
}
