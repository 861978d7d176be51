import { compose, type App, type ComposeOptions } from '../compose';
import { loadConfig, type Config } from '../config';
import { loadPolicyFile } from '../policyFile';

/** Config from the environment, the policy it names, and the composed app (CLI commands). */
export async function appFromEnv(env: Record<string, string | undefined> = process.env, options: ComposeOptions = {}): Promise<App> {
  const config: Config = loadConfig(env);
  const policy = await loadPolicyFile(config.policyPath);
  return compose(config, policy, options);
}
