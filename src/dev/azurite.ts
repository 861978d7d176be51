import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';

/** Azurite's documented well-known development account (public; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteHandle {
  connectionString: string;
  tableUrl: string;
  queueUrl: string;
  blobUrl: string;
  stop(): Promise<void>;
}

/**
 * Start Azurite (blob, queue, table) as a child process: in memory, loopback only, telemetry off,
 * on ports the OS picks. Resolves once all three services listen.
 */
export async function startAzurite(options: { timeoutMs?: number } = {}): Promise<AzuriteHandle> {
  const bin = require.resolve('azurite/dist/src/azurite.js');
  const child = spawn(
    process.execPath,
    [
      bin,
      '--inMemoryPersistence',
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--loose',
      // No access log: at benchmark rates it costs Azurite and this process CPU for nothing.
      '--silent',
      '--blobHost', '127.0.0.1', '--blobPort', '0',
      '--queueHost', '127.0.0.1', '--queuePort', '0',
      '--tableHost', '127.0.0.1', '--tablePort', '0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: os.tmpdir() },
  );
  const ports: Record<string, number> = {};
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Azurite did not start within ${options.timeoutMs ?? 30000} ms:\n${output}`));
    }, options.timeoutMs ?? 30000);
    const onData = (buf: Buffer) => {
      // Keep the tail only (for the error message); the listeners are removed once all three listen.
      output = (output + buf.toString()).slice(-8192);
      for (const m of output.matchAll(/Azurite (Blob|Queue|Table) service is successfully listening at http:\/\/127\.0\.0\.1:(\d+)/g)) {
        ports[m[1]!.toLowerCase()] = Number(m[2]);
      }
      if (ports.blob && ports.queue && ports.table) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with code ${code}:\n${output}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  const blobUrl = `http://127.0.0.1:${ports.blob}/${AZURITE_ACCOUNT}`;
  const queueUrl = `http://127.0.0.1:${ports.queue}/${AZURITE_ACCOUNT}`;
  const tableUrl = `http://127.0.0.1:${ports.table}/${AZURITE_ACCOUNT}`;
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
    `BlobEndpoint=${blobUrl};QueueEndpoint=${queueUrl};TableEndpoint=${tableUrl};`;
  return {
    connectionString,
    tableUrl,
    queueUrl,
    blobUrl,
    stop: () => stopChild(child),
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
