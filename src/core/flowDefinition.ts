/**
 * Index of a Logic Apps workflow definition's actions (and triggers) by name. Run history lists actions
 * by name, flat; the definition nests them (Scope, If/else, Switch cases, Foreach, Until). The run
 * scanner needs, per action name: its type, connector operation, and whether inputs/outputs are secured.
 */
export interface DefinitionAction {
  name: string;
  /** JSON path of the action inside the definition, e.g. $.actions.Scope.actions.Get_secret */
  path: string;
  type?: string;
  apiName?: string;
  operationId?: string;
  secureInputs: boolean;
  secureOutputs: boolean;
  isTrigger: boolean;
  node: Record<string, unknown>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function secureProps(node: Record<string, unknown>): Set<string> {
  const rc = node['runtimeConfiguration'];
  const sd = isObject(rc) ? rc['secureData'] : undefined;
  const props = isObject(sd) ? sd['properties'] : undefined;
  return new Set(Array.isArray(props) ? props.filter((p): p is string => typeof p === 'string').map((p) => p.toLowerCase()) : []);
}

/** Connector and operation of an OpenApiConnection / ApiConnection action. */
function connectorOf(node: Record<string, unknown>): { apiName?: string; operationId?: string } {
  const inputs = node['inputs'];
  if (!isObject(inputs)) return {};
  const host = inputs['host'];
  if (!isObject(host)) return {};
  const apiId = typeof host['apiId'] === 'string' ? host['apiId'] : undefined;
  const conn = host['connection'];
  const connName = isObject(conn) && typeof conn['name'] === 'string' ? conn['name'] : typeof host['connectionName'] === 'string' ? host['connectionName'] : undefined;
  const apiName = apiId?.split('/').pop() ?? connName?.match(/shared_[a-z0-9]+/i)?.[0];
  const operationId = typeof host['operationId'] === 'string' ? host['operationId'] : undefined;
  return { ...(apiName ? { apiName } : {}), ...(operationId ? { operationId } : {}) };
}

export function indexDefinition(definition: unknown): Map<string, DefinitionAction> {
  const out = new Map<string, DefinitionAction>();
  if (!isObject(definition)) return out;
  const visit = (actions: unknown, path: string, isTrigger: boolean, depth: number) => {
    if (!isObject(actions) || depth > 64) return;
    for (const [name, node] of Object.entries(actions)) {
      if (!isObject(node)) continue;
      const secure = secureProps(node);
      const p = `${path}.${name}`;
      out.set(name, {
        name,
        path: p,
        ...(typeof node['type'] === 'string' ? { type: node['type'] } : {}),
        ...connectorOf(node),
        secureInputs: secure.has('inputs'),
        secureOutputs: secure.has('outputs'),
        isTrigger,
        node,
      });
      visit(node['actions'], `${p}.actions`, false, depth + 1);
      const otherwise = node['else'];
      if (isObject(otherwise)) visit(otherwise['actions'], `${p}.else.actions`, false, depth + 1);
      const cases = node['cases'];
      if (isObject(cases)) {
        for (const [c, body] of Object.entries(cases)) if (isObject(body)) visit(body['actions'], `${p}.cases.${c}.actions`, false, depth + 1);
      }
      const dflt = node['default'];
      if (isObject(dflt)) visit(dflt['actions'], `${p}.default.actions`, false, depth + 1);
    }
  };
  visit(definition['triggers'], '$.triggers', true, 0);
  visit(definition['actions'], '$.actions', false, 0);
  return out;
}
