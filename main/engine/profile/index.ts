/**
 * Product profiles and protocol option schemas (issue 9 §9): the one entry point the engine and
 * the CLI use.
 */
export { BUILTIN_PROFILES, DEFAULT_TIMERS } from './builtin.js';
export { checkProfile, defaultProfile, effectiveProfile, TIMER_RANGES, LIMIT_RANGES } from './profile.js';
export { ProfileStore, PROFILES_FILE } from './store.js';
export { checkOptionValue, checkOptions, defaultOptions, describeType, parseOptLines, parseOptionText, requireProtocol, type ProtocolOptions } from './option-check.js';
