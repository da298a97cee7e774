/**
 * The `net` transport's link and hook types now live in the one link-interface module
 * (transport/types.ts) that protocols and transports both depend on; re-exported here for the
 * transport's own files.
 */
export type { NetDialect, NetDeviceId, NetDeviceEvent, VersionReport, MqttLink, CloudUplinkAction, CloudDialect, NetRosterEntry, SimCloudAccess, SimNetUnits } from '../types.js';
export { isMqttLink } from '../types.js';
