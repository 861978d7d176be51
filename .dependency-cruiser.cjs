/** The hexagon's rule, checked by a tool: core imports nothing from adapters, SDKs or the host. */
module.exports = {
  forbidden: [
    {
      name: 'core-is-pure',
      severity: 'error',
      comment: 'src/core is pure: no adapters, pipelines, dev stand-ins, config or SDK packages',
      from: { path: '^src/core' },
      to: { path: ['^src/(sources|sinks|pipelines|dev|cli|host)', '^src/(config|compose|jobs|credentials)\\.ts$', '^node_modules/@azure', '^functions'] },
    },
    {
      name: 'pipelines-receive-ports',
      severity: 'error',
      comment: 'pipelines get adapters from compose(), they never construct SDK clients',
      from: { path: '^src/pipelines' },
      to: { path: ['^node_modules/@azure/(data-tables|storage-queue|communication-email|monitor-ingestion|monitor-query-logs|identity)', '^src/sinks/(?!.*Types)'] },
    },
    { name: 'no-circular', severity: 'warn', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
