// flowwarden: everything the monitor needs in one resource group, wired with one user-assigned
// managed identity and least-privilege role assignments, each scoped to the single resource it is
// for. No account keys, no connection strings with keys: storage, Key Vault, Log Analytics, App
// Insights and ACS are all reached with Entra tokens.
//
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam
//
// See docs/deploy.md for parameters and the post-deployment steps, docs/tenant-setup.md for the
// Power Platform side.

targetScope = 'resourceGroup'

@description('Azure region of the resources (must offer the Flex Consumption plan).')
param location string = resourceGroup().location

@description('Prefix of resource names.')
@minLength(3)
@maxLength(20)
param namePrefix string = 'flowwarden'

@description('Tags put on every resource.')
param tags object = {}

@description('Path of the policy YAML file inside the deployed package (FLOWWARDEN_POLICY).')
param policyPath string = 'policy/flowwarden.policy.yaml'

@description('Where ACS stores email data at rest.')
@allowed([
  'Africa'
  'Asia Pacific'
  'Australia'
  'Brazil'
  'Canada'
  'Europe'
  'France'
  'Germany'
  'India'
  'Japan'
  'Korea'
  'Norway'
  'Switzerland'
  'UAE'
  'UK'
  'United States'
])
param emailDataLocation string = 'Europe'

@description('HMAC key for secret fingerprints (at least 32 characters). Leave empty to keep the value already in Key Vault; set it on the first deployment or with az keyvault secret set (docs/deploy.md).')
@secure()
param fingerprintKey string = ''

@description('Dataverse webhook shared secret(s), comma-separated for rotation, each at least 16 characters. Leave empty to keep the value already in Key Vault.')
@secure()
param webhookSecret string = ''

@description('Object ids of the people or groups who run `flowwarden query`: they get Log Analytics Reader on the findings workspace only.')
param findingsReaderPrincipalIds array = []

@description('Days FlowWardenFindings_CL keeps findings in the interactive (analytics) tier.')
@minValue(4)
@maxValue(730)
param findingsRetentionDays int = 90

@description('Most instances the Flex Consumption app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Overrides of FLOWWARDEN_* tuning settings (schedules, look-back, API base URLs for sovereign clouds), merged over the defaults below.')
param settingOverrides object = {}

var token = toLower(uniqueString(subscription().id, resourceGroup().id, namePrefix))
var functionAppName = '${namePrefix}-${token}'
var deploymentContainerName = 'app-package'
var fingerprintSecretName = 'flowwarden-fingerprint-key'
var webhookSecretName = 'flowwarden-webhook-secret'

// Tables of DESIGN.md §5 plus the poison and Log Analytics backlog tables; queues of DESIGN.md §3
// (the host creates the -poison queues itself).
var tableNames = [
  'FlowWardenFindings'
  'FlowWardenCheckpoints'
  'FlowWardenSnapshots'
  'FlowWardenProfiles'
  'FlowWardenAlerts'
  'FlowWardenPoison'
  'FlowWardenBacklog'
  'FlowWardenFindingIds'
]
var queueNames = [
  'flowwarden-runs'
  'flowwarden-alerts'
]

// ---------------------------------------------------------------------------------------------
// Identity

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${namePrefix}-${token}'
  location: location
  tags: tags
}

// ---------------------------------------------------------------------------------------------
// Storage: host state, deployment package, flowwarden tables and queues. Shared keys are off, so
// only Entra (RBAC) access works.

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stfw${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource storageTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource storageQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queueName in queueNames: {
    parent: queueService
    name: queueName
  }
]

// Storage Blob Data Owner: the Functions host keeps its leases and keys in blobs of this account
// and reads the deployment package (the role the Functions docs name for identity-based
// AzureWebJobsStorage).
resource storageBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Queue Data Contributor: the flowwarden-runs / flowwarden-alerts triggers and outputs.
resource storageQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Table Data Contributor: findings, checkpoints, snapshots, profiles, alert state.
resource storageTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// ---------------------------------------------------------------------------------------------
// Key Vault: the two secrets, read through Key Vault references in the app settings.

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-fw-${token}'
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

// Written only when a value is passed, so a redeployment never rotates a secret by accident.
resource fingerprintKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(fingerprintKey)) {
  parent: keyVault
  name: fingerprintSecretName
  properties: {
    value: fingerprintKey
    contentType: 'text/plain'
  }
}

resource webhookSecretSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(webhookSecret)) {
  parent: keyVault
  name: webhookSecretName
  properties: {
    value: webhookSecret
    contentType: 'text/plain'
  }
}

// Key Vault Secrets User (read secret values) on this vault only; the vault holds nothing else.
resource keyVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, identity.id, '4633458b-17de-408a-b874-0445c86b69e6')
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// ---------------------------------------------------------------------------------------------
// Findings workspace (custom table, DCE, DCR), saved searches and workbook.

module findings 'modules/findingsWorkspace.bicep' = {
  name: 'flowwarden-findings-workspace'
  params: {
    location: location
    tags: tags
    token: token
    namePrefix: namePrefix
    publisherPrincipalId: identity.properties.principalId
    readerPrincipalIds: findingsReaderPrincipalIds
    findingsRetentionDays: findingsRetentionDays
  }
}

module queryPack 'modules/queryPack.bicep' = {
  name: 'flowwarden-query-pack'
  params: {
    location: location
    tags: tags
    workspaceName: findings.outputs.workspaceName
  }
}

// Operational logs of the host only (findings go to FlowWardenFindings_CL, never here). Local
// (instrumentation-key) ingestion is off; the identity publishes with an Entra token.
resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${namePrefix}-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: findings.outputs.workspaceResourceId
    DisableLocalAuth: true
  }
}

// Monitoring Metrics Publisher on the App Insights component: needed for Entra-authenticated
// telemetry once local auth is disabled.
resource appInsightsMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, '3913510d-42f4-4e42-8a64-420c390055eb')
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// ---------------------------------------------------------------------------------------------
// Email: Email Communication Service with an Azure-managed domain, linked to a Communication
// Services resource.

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: 'email-${namePrefix}-${token}'
  location: 'global'
  tags: tags
  properties: {
    dataLocation: emailDataLocation
  }
}

resource emailDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    userEngagementTracking: 'Disabled'
  }
}

resource communication 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: 'acs-${namePrefix}-${token}'
  location: 'global'
  tags: tags
  properties: {
    dataLocation: emailDataLocation
    linkedDomains: [
      emailDomain.id
    ]
  }
}

// Send rights only. The built-in "Communication and Email Service Owner" can also list and
// regenerate keys and delete resources; the ACS docs name these three actions as what an Entra
// identity needs to send email.
resource emailSenderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'flowwarden-email-sender')
  properties: {
    // Custom role names are unique per tenant: include the subscription and resource group.
    roleName: 'FlowWarden Email Sender (${resourceGroup().name}, ${take(subscription().subscriptionId, 8)})'
    description: 'Send email through an Azure Communication Services resource with an Entra identity; nothing else.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.Communication/CommunicationServices/Read'
          'Microsoft.Communication/CommunicationServices/Write'
          'Microsoft.Communication/EmailServices/write'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

resource emailSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communication.id, identity.id, 'flowwarden-email-sender')
  scope: communication
  properties: {
    // Canonical subscription-level id of the custom role (role definitions live at that level).
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', emailSenderRole.name)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// ---------------------------------------------------------------------------------------------
// Function App on the Flex Consumption plan.

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${namePrefix}-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with the user-assigned identity (there is no system identity).
    keyVaultReferenceIdentity: identity.id
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
  dependsOn: [
    deploymentContainer
  ]
}

// Deployments go through Entra (az functionapp deployment / func publish), never basic auth.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

// Host settings. FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION are not set: on Flex
// Consumption the runtime comes from functionAppConfig.runtime and the host version from the
// platform (both are listed as deprecated app settings for this plan).
var hostSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.properties.clientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
  AZURE_CLIENT_ID: identity.properties.clientId
}

// flowwarden settings (src/settings.ts is the list; test/unit/infra checks this block against it).
var flowwardenSettings = {
  FLOWWARDEN_POLICY: policyPath
  FLOWWARDEN_STORAGE_ACCOUNT_URL: storage.properties.primaryEndpoints.table
  FLOWWARDEN_FINGERPRINT_KEY: '@Microsoft.KeyVault(SecretUri=${keyVault.properties.vaultUri}secrets/${fingerprintSecretName}/)'
  FLOWWARDEN_WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVault.properties.vaultUri}secrets/${webhookSecretName}/)'
  FLOWWARDEN_FLOW_API_URL: 'https://api.flow.microsoft.com'
  FLOWWARDEN_POWERAPPS_API_URL: 'https://api.powerapps.com'
  FLOWWARDEN_CREDENTIAL: 'default'
  FLOWWARDEN_MANAGED_IDENTITY_CLIENT_ID: identity.properties.clientId
  FLOWWARDEN_ACS_ENDPOINT: 'https://${communication.properties.hostName}'
  FLOWWARDEN_EMAIL_SENDER: 'DoNotReply@${emailDomain.properties.mailFromSenderDomain}'
  FLOWWARDEN_LOGS_INGESTION_ENDPOINT: findings.outputs.logsIngestionEndpoint
  FLOWWARDEN_LOGS_DCR_ID: findings.outputs.dcrImmutableId
  FLOWWARDEN_LOGS_STREAM: findings.outputs.streamName
  FLOWWARDEN_LOGS_WORKSPACE_ID: findings.outputs.workspaceId
  FLOWWARDEN_LOGS_QUERY_ENDPOINT: 'https://api.loganalytics.azure.com/v1'
  FLOWWARDEN_RUNS_SCHEDULE: '0 */5 * * * *'
  FLOWWARDEN_DEFINITIONS_SCHEDULE: '0 7 * * * *'
  FLOWWARDEN_AUDIT_SCHEDULE: '0 */5 * * * *'
  FLOWWARDEN_PERMISSIONS_SCHEDULE: '0 17 * * * *'
  FLOWWARDEN_ALERTS_SCHEDULE: '0 */10 * * * *'
  FLOWWARDEN_HEALTH_SCHEDULE: '0 */15 * * * *'
  FLOWWARDEN_LOOKBACK_MINUTES: '30'
  FLOWWARDEN_INITIAL_LOOKBACK_HOURS: '24'
  FLOWWARDEN_RUNS_PER_MESSAGE: '25'
  FLOWWARDEN_STALL_INTERVALS: '3'
  FLOWWARDEN_WEBHOOK_MAX_BYTES: '1048576'
  FLOWWARDEN_LOG_LEVEL: 'info'
}

resource functionAppSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(hostSettings, flowwardenSettings, settingOverrides)
  // The app must not start before it may read its storage and secrets.
  dependsOn: [
    storageBlobDataOwner
    storageQueueDataContributor
    storageTableDataContributor
    keyVaultSecretsUser
    appInsightsMetricsPublisher
    emailSender
    storageTables
    storageQueues
  ]
}

// ---------------------------------------------------------------------------------------------
// Outputs

@description('URL to register as the Dataverse webhook service endpoint (docs/tenant-setup.md).')
output webhookUrl string = 'https://${functionApp.properties.defaultHostName}/api/webhooks/dataverse'

@description('Health endpoint of the app.')
output healthUrl string = 'https://${functionApp.properties.defaultHostName}/api/health'

@description('Immutable id of the Data Collection Rule (FLOWWARDEN_LOGS_DCR_ID).')
output dcrImmutableId string = findings.outputs.dcrImmutableId

@description('Log Analytics workspace id (GUID) that `flowwarden query` reads (FLOWWARDEN_LOGS_WORKSPACE_ID).')
output workspaceId string = findings.outputs.workspaceId

@description('Logs Ingestion endpoint of the Data Collection Endpoint.')
output logsIngestionEndpoint string = findings.outputs.logsIngestionEndpoint

output functionAppName string = functionApp.name
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
output keyVaultName string = keyVault.name
output storageAccountName string = storage.name
output emailSender string = 'DoNotReply@${emailDomain.properties.mailFromSenderDomain}'
