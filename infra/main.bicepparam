using 'main.bicep'

// Example parameters; copy and adjust. The two secrets are read from the deployer's environment at
// deployment time and never written here: export them for the first deployment (docs/deploy.md),
// leave them unset afterwards to keep the values already in Key Vault.
param namePrefix = 'flowwarden'
param emailDataLocation = 'Europe'
param policyPath = 'policy/flowwarden.policy.yaml'
param findingsReaderPrincipalIds = []
param findingsRetentionDays = 90
param maximumInstanceCount = 40
param instanceMemoryMB = 2048
param settingOverrides = {}
param fingerprintKey = readEnvironmentVariable('FLOWWARDEN_FINGERPRINT_KEY', '')
param webhookSecret = readEnvironmentVariable('FLOWWARDEN_WEBHOOK_SECRET', '')
