/**
 * Kept for imports that predate the link-interface module: the GATT types live in
 * transport/types.ts, which protocols and transports both depend on.
 */
export { isGattLink, type BlePipeSpec, type GattLink } from '../types.js';
