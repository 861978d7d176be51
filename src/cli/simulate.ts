import { parseArgs } from 'node:util';
import { startSimulator } from '../dev/simulator/server';
import type { GeneratedTenantOptions } from '../dev/simulator/generatedTenant';
import { EXIT, UsageError, type CliIO } from './io';

function int(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected a whole number >= ${min}`);
  return n;
}

/** `simulate [--port N] [--flows N --runs N --actions N --secret-rate R --seed S]`: serve the tenant simulator until stopped. */
export async function runSimulate(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string', default: '7081' },
      flows: { type: 'string' },
      runs: { type: 'string' },
      actions: { type: 'string' },
      'secret-rate': { type: 'string' },
      seed: { type: 'string' },
    },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const port = int('--port', values.port, 0)!;
  const generated = values.flows !== undefined || values.runs !== undefined || values.actions !== undefined || values['secret-rate'] !== undefined || values.seed !== undefined;
  let tenant: 'sample' | GeneratedTenantOptions = 'sample';
  if (generated) {
    const rate = values['secret-rate'] === undefined ? 0.005 : Number(values['secret-rate']);
    if (!(rate >= 0 && rate <= 1)) throw new UsageError('--secret-rate: expected a number between 0 and 1');
    tenant = {
      flows: int('--flows', values.flows, 1) ?? 10,
      runs: int('--runs', values.runs, 1) ?? 5,
      actions: int('--actions', values.actions, 1) ?? 10,
      secretRate: rate,
      seed: int('--seed', values.seed, 0) ?? 1,
    };
  }
  const sim = await startSimulator({ port, tenant });
  io.stdout.write(
    [
      `flowwarden simulate: tenant simulator on ${sim.url} (${generated ? 'generated tenant' : 'sample tenant'}, environment ${sim.environmentId})`,
      `  Flow API / Power Apps:  ${sim.url}/providers/Microsoft.ProcessSimple/...`,
      `  Dataverse Web API:      ${sim.url}/api/data/v9.2/...`,
      `  token endpoint:         ${sim.tokenUrl}`,
      `  control:                POST ${sim.url}/_sim/advance, GET ${sim.url}/_sim/stats`,
      `Point flowwarden at it: FLOWWARDEN_FLOW_API_URL=${sim.url} FLOWWARDEN_POWERAPPS_API_URL=${sim.url} FLOWWARDEN_DATAVERSE_URL_OVERRIDE=${sim.url} FLOWWARDEN_CREDENTIAL=local`,
      'Ctrl+C stops.',
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await sim.stop();
  return EXIT.ok;
}
