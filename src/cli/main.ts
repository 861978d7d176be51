import { parseArgs } from 'node:util';
import { ConfigError } from '../config';
import { PolicyError } from '../core/policy';
import { loadPolicyFile } from '../policyFile';
import { runDemo } from './demo';
import { runDetect } from './detect';
import { runFindings } from './findings';
import { EXIT, processIO, UsageError, type CliIO } from './io';
import { runQueryCommand } from './queryCommand';
import { runScan } from './scan';
import { runServe } from './serve';
import { runSimulate } from './simulate';

const USAGE = `usage: flowwarden <command> [options]

  demo [--json] [--fail-on SEVERITY]        run every pipeline once on the embedded sample tenant
  scan [--once] [--fail-on SEVERITY]        run the pipelines against the configured environment(s)
  detect [--jsonl] [--fail-on SEVERITY] [FILE|-]   secret detection on text
  findings [--since 24h] [--kind K] [--severity S] [--environment ID] [--json]
  query "<KQL>"                             run KQL against the findings workspace
  simulate [--port N] [--flows N --runs N --actions N --secret-rate R --seed S]
  serve [--port 7071]                       host the HTTP and timer functions locally
  policy check FILE                         validate a policy file

exit codes: 0 ok, 1 findings at or above --fail-on, 2 bad usage or configuration
`;

/** The CLI contract of DESIGN.md §9. Returns the exit code. */
export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'demo':
        return await runDemo(rest, io);
      case 'scan':
        return await runScan(rest, io);
      case 'detect':
        return await runDetect(rest, io);
      case 'findings':
        return await runFindings(rest, io);
      case 'query':
        return await runQueryCommand(rest, io);
      case 'simulate':
        return await runSimulate(rest, io);
      case 'serve':
        return await runServe(rest, io);
      case 'policy':
        return await runPolicy(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout.write(USAGE);
        return command === undefined ? EXIT.usage : EXIT.ok;
      default:
        io.stderr.write(`flowwarden: unknown command "${command}"\n\n${USAGE}`);
        return EXIT.usage;
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError || e instanceof PolicyError) {
      io.stderr.write(`flowwarden ${command}: ${e.message}\n`);
      return EXIT.usage;
    }
    if (e instanceof TypeError && (e as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      io.stderr.write(`flowwarden ${command}: ${e.message}\n`);
      return EXIT.usage;
    }
    if ((e as NodeJS.ErrnoException | undefined)?.code?.startsWith?.('ERR_PARSE_ARGS')) {
      io.stderr.write(`flowwarden ${command}: ${(e as Error).message}\n`);
      return EXIT.usage;
    }
    throw e;
  }
}

async function runPolicy(argv: string[], io: CliIO): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  const [sub, file] = positionals;
  if (sub !== 'check' || !file || positionals.length > 2) throw new UsageError('usage: flowwarden policy check FILE');
  const policy = await loadPolicyFile(file);
  io.stdout.write(
    `${file}: valid (${policy.environments.length} environment(s), ${Object.keys(policy.tables).length} table(s), ${policy.identities.length} identit${policy.identities.length === 1 ? 'y' : 'ies'})\n`,
  );
  return EXIT.ok;
}
