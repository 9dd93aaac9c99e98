// The public API of the flow engine. Routes import from here, never from the files behind it.
export {
  CampaignContextSchema,
  FlowDefinitionSchema,
  FlowNodeSchema,
  NodeSchemas,
  NODE_TYPES,
  WeeklyHoursSchema,
  E164_PATTERN,
  DTMF_KEY,
  type CampaignContext,
  type FlowDefinition,
  type FlowNode,
  type NodeType,
  type WeeklyHours,
} from './definition.js'
export { MAX_STEPS_PER_REQUEST, runStep } from './engine.js'
export { graphView, MAX_GRAPH_VIEW_NODES, type GraphView, type GraphViewEdge, type GraphViewNode } from './graph-view.js'
export { isOpen, isValidTimeZone, nextOpening, validateHolidays, validateHours } from './hours.js'
export { pointer, type Problem } from './problem.js'
export { alwaysOpenCampaign, formatTranscript, simulate, type SimulatedRequest, type SimulationOptions } from './simulate.js'
export {
  initialCallState,
  type CallState,
  type Effect,
  type EffectType,
  type FlowContext,
  type FlowInput,
  type StepResult,
} from './step-types.js'
export { apologyTwiml, RECORDING_STREAM_NAME } from './twiml.js'
export { checkAgainstCampaign, checkOutboundFlow, requirementsOf, validateFlow, type FlowRequirements } from './validate.js'
