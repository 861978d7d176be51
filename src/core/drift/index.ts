export { DRIFT_RULE, DRIFT_RULES_CATALOGUE, driftRuleInfo, type DriftRuleId } from './catalogue';
export { driftFindings, recordFindingsObservedAt, type DriftContext } from './driftFindings';
export { eventDriftFindings, DriftEventError } from './events';
