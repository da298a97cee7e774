/**
 * The dialect side of the station's local cloud (mqtt-ota.md §5.3a, §8.3, §9): what the cloud
 * answers whatever job runs — Tencent `report_version_rsp` for every version report, an empty
 * Aliyun pull answer when no job follows the unit — which uplinks are version reports to keep,
 * and which topics name which device (attach mode). Pure; the transport calls it per uplink.
 */
import type { CloudDialect, CloudUplinkAction, NetDeviceId } from '../../transport/types.js';
import { aliyunGetReply, ATTACH_UPLINK_FILTERS, deviceOfTopic, parseUplink, tencentReportRsp, topics } from './messages.js';

export const mqttOtaCloud: CloudDialect = {
  attachFilters: ATTACH_UPLINK_FILTERS,
  deviceOfTopic,
  onUplink(dev: NetDeviceId, topic: string, payload: string, jobListening: boolean): CloudUplinkAction {
    const up = parseUplink(dev.dialect, topic, payload);
    const out: CloudUplinkAction = { replies: [] };
    if (up.kind === 'version') {
      out.report = { version: up.version, id: up.id, module: up.module };
      // §5.3a: answer every report, before any push, always with result 0.
      if (dev.dialect === 'tencent') out.replies.push({ topic: topics.tencentUpdate(dev.product, dev.device), payload: tencentReportRsp(up.version) });
    }
    if (up.kind === 'pull' && !jobListening && dev.dialect === 'aliyun' && topic.endsWith('/firmware/get')) {
      // §8.3: nothing to offer → `data: {}`.
      out.replies.push({ topic: topics.aliyunGetReply(dev.product, dev.device), payload: aliyunGetReply(up.id, {}) });
    }
    return out;
  },
};
