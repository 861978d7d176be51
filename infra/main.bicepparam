using 'main.bicep'

// Example parameters; copy and adjust. Secrets are not kept here: pass them on the command line
// from a secret store on the first deployment (docs/deploy.md), or set them in Key Vault afterwards.
param namePrefix = 'flowwarden'
param emailDataLocation = 'Europe'
param policyPath = 'policy/flowwarden.policy.yaml'
param findingsReaderPrincipalIds = []
param findingsRetentionDays = 90
param maximumInstanceCount = 40
param instanceMemoryMB = 2048
param settingOverrides = {}
