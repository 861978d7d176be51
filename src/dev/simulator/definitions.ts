/** Small builders for Logic Apps workflow definitions as the Flow API returns them. */

export function workflowDefinition(actions: Record<string, unknown>, trigger: Record<string, unknown> = recurrence()): Record<string, unknown> {
  return {
    $schema: 'https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#',
    contentVersion: '1.0.0.0',
    parameters: {
      $connections: { defaultValue: {}, type: 'Object' },
      $authentication: { defaultValue: {}, type: 'SecureObject' },
    },
    triggers: trigger,
    actions,
  };
}

export function recurrence(frequency = 'Hour', interval = 1): Record<string, unknown> {
  return { Recurrence: { recurrence: { frequency, interval }, type: 'Recurrence' } };
}

export function secure(action: Record<string, unknown>, properties: ('inputs' | 'outputs')[]): Record<string, unknown> {
  return { ...action, runtimeConfiguration: { secureData: { properties } } };
}

export function openApi(apiName: string, operationId: string, parameters: Record<string, unknown>, runAfter: Record<string, string[]> = {}): Record<string, unknown> {
  return {
    runAfter,
    type: 'OpenApiConnection',
    inputs: {
      host: { connectionName: apiName, operationId, apiId: `/providers/Microsoft.PowerApps/apis/${apiName}` },
      parameters,
      authentication: "@parameters('$authentication')",
    },
  };
}

export function http(inputs: Record<string, unknown>, runAfter: Record<string, string[]> = {}): Record<string, unknown> {
  return { runAfter, type: 'Http', inputs };
}

export function compose(inputs: unknown, runAfter: Record<string, string[]> = {}): Record<string, unknown> {
  return { runAfter, type: 'Compose', inputs };
}

export const after = (name: string) => ({ [name]: ['Succeeded'] });

/** Secured sides of an action as its definition declares them. */
export function securedSides(action: unknown): { inputs: boolean; outputs: boolean } {
  const props = (action as { runtimeConfiguration?: { secureData?: { properties?: unknown } } })?.runtimeConfiguration?.secureData?.properties;
  const list = Array.isArray(props) ? props : [];
  return { inputs: list.includes('inputs'), outputs: list.includes('outputs') };
}
