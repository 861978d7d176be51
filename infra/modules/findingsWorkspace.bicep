// The findings workspace: Log Analytics with the custom table FlowWardenFindings_CL, and the Data
// Collection Endpoint + Rule the app sends findings through (Logs Ingestion API, stream
// Custom-FlowWardenFindings). The app's identity may publish to this DCR and nothing else here.

param location string
param tags object
param token string
param namePrefix string

@description('Principal id of the app identity: Monitoring Metrics Publisher on the DCR.')
param publisherPrincipalId string

@description('Object ids of the people or groups who run `flowwarden query`: Log Analytics Reader on this workspace.')
param readerPrincipalIds array

param findingsRetentionDays int

var streamName = 'Custom-FlowWardenFindings'
var tableName = 'FlowWardenFindings_CL'

// One row per finding; the same columns in the table and in the stream (the DCR transform is 'source').
var findingColumns = [
  { name: 'TimeGenerated', type: 'datetime', description: 'detectedAt of the finding' }
  { name: 'FindingId', type: 'string', description: 'Stable finding id' }
  { name: 'Kind', type: 'string', description: 'secret-exposure | unexpected-modifier | permission-drift' }
  { name: 'RuleId', type: 'string', description: 'Rule catalogue id' }
  { name: 'Severity', type: 'string', description: 'critical | high | medium | low | info' }
  { name: 'EnvironmentId', type: 'string', description: 'Power Platform environment id' }
  { name: 'SubjectType', type: 'string', description: 'What the finding is about (flow run action, record, principal, connection...)' }
  { name: 'SubjectId', type: 'string', description: 'Id of the subject' }
  { name: 'SubjectName', type: 'string', description: 'Display name of the subject' }
  { name: 'ObservedAt', type: 'datetime', description: 'When it happened' }
  { name: 'Title', type: 'string', description: 'One line for a person' }
  { name: 'Detail', type: 'string', description: 'What, where, why it matters, how to fix' }
  { name: 'Evidence', type: 'dynamic', description: 'Masked preview, keyed fingerprint, JSON path, links (never a secret value)' }
]

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${namePrefix}-${token}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    features: {
      // No shared-key ingestion (HTTP Data Collector API); only the DCR path with Entra tokens.
      disableLocalAuth: true
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource findingsTable 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: tableName
  properties: {
    plan: 'Analytics'
    retentionInDays: findingsRetentionDays
    schema: {
      name: tableName
      columns: [
        for c in findingColumns: {
          name: c.name
          // The table API spells it dateTime; the DCR stream declaration spells it datetime.
          type: c.type == 'datetime' ? 'dateTime' : c.type
          description: c.description
        }
      ]
    }
  }
}

resource dataCollectionEndpoint 'Microsoft.Insights/dataCollectionEndpoints@2023-03-11' = {
  name: 'dce-${namePrefix}-${token}'
  location: location
  tags: tags
  properties: {
    networkAcls: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

resource dataCollectionRule 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: 'dcr-${namePrefix}-${token}'
  location: location
  tags: tags
  properties: {
    dataCollectionEndpointId: dataCollectionEndpoint.id
    streamDeclarations: {
      'Custom-FlowWardenFindings': {
        columns: [
          for c in findingColumns: {
            name: c.name
            type: c.type
          }
        ]
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'findingsWorkspace'
          workspaceResourceId: workspace.id
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          streamName
        ]
        destinations: [
          'findingsWorkspace'
        ]
        transformKql: 'source'
        outputStream: 'Custom-${tableName}'
      }
    ]
  }
  // The output stream must exist before the rule is created.
  dependsOn: [
    findingsTable
  ]
}

// Monitoring Metrics Publisher on this DCR only: lets the app send to this one stream.
resource dcrMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataCollectionRule.id, publisherPrincipalId, '3913510d-42f4-4e42-8a64-420c390055eb')
  scope: dataCollectionRule
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')
    principalId: publisherPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Log Analytics Reader on this workspace for whoever runs `flowwarden query` (the app itself
// never queries).
resource findingsReaders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in readerPrincipalIds: {
    name: guid(workspace.id, principalId, '73c42c96-874c-492b-b04d-ab87d138a893')
    scope: workspace
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '73c42c96-874c-492b-b04d-ab87d138a893')
      principalId: principalId
    }
  }
]

output workspaceName string = workspace.name
output workspaceResourceId string = workspace.id
@description('Workspace (customer) id, a GUID.')
output workspaceId string = workspace.properties.customerId
output dcrImmutableId string = dataCollectionRule.properties.immutableId
output logsIngestionEndpoint string = dataCollectionEndpoint.properties.logsIngestion.endpoint
output streamName string = streamName
