import { compose, type App } from './compose';
import { config } from './config';
import { loadPolicyFile } from './policyFile';

let app: Promise<App> | undefined;

/** The process-wide app for the Functions host: config and policy parsed once, adapters built once. */
export function getApp(): Promise<App> {
  app ??= (async () => {
    const cfg = config();
    const policy = await loadPolicyFile(cfg.policyPath);
    return compose(cfg, policy);
  })();
  app.catch(() => {
    app = undefined;
  });
  return app;
}
