// The KQL pack (infra/kql/*.kql) as saved searches in the findings workspace, and the workbook
// (infra/workbook/flowwarden.workbook.json) bound to that workspace. The query text is loaded at
// build time, so the files in the repo are the single source.

param location string
param tags object
param workspaceName string

var searches = [
  {
    id: 'open-critical-by-flow'
    displayName: 'flowwarden: open critical findings by flow'
    query: loadTextContent('../kql/open-critical-by-flow.kql')
  }
  {
    id: 'secrets-by-rule-over-time'
    displayName: 'flowwarden: secret exposures by rule over time'
    query: loadTextContent('../kql/secrets-by-rule-over-time.kql')
  }
  {
    id: 'modifiers-by-identity'
    displayName: 'flowwarden: unexpected modifiers by identity'
    query: loadTextContent('../kql/modifiers-by-identity.kql')
  }
  {
    id: 'drift-timeline'
    displayName: 'flowwarden: permission drift timeline'
    query: loadTextContent('../kql/drift-timeline.kql')
  }
  {
    id: 'source-health'
    displayName: 'flowwarden: source health'
    query: loadTextContent('../kql/source-health.kql')
  }
]

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource savedSearches 'Microsoft.OperationalInsights/workspaces/savedSearches@2020-08-01' = [
  for s in searches: {
    parent: workspace
    name: 'flowwarden-${s.id}'
    properties: {
      category: 'flowwarden'
      displayName: s.displayName
      query: s.query
      version: 2
    }
  }
]

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(workspace.id, 'flowwarden-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'flowwarden findings'
    category: 'workbook'
    sourceId: workspace.id
    serializedData: loadTextContent('../workbook/flowwarden.workbook.json')
    version: 'Notebook/1.0'
  }
}

output workbookId string = workbook.id
