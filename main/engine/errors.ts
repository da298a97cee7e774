/**
 * The one error class of the engine and the catalog that maps each code to a station result
 * code, whether a retry can help, and what the operator should do (en + zh-CN).
 * Adapter/protocol failures become StationErrors at the layer that sees them.
 */
import type { ErrorView, ProtocolId, ResultCode, TransportKind } from '../contract/dto.js';

interface CatalogEntry {
  result: ResultCode;
  retryable: boolean;
  /** Retry class for the job's retry policy. */
  stage: 'connect' | 'transfer' | 'verify' | 'none';
  en: string;
  zh: string;
}

const CATALOG = {
  // transport
  TRANSPORT_NOT_FOUND: { result: 'disconnected', retryable: true, stage: 'connect', en: 'Unit not found. Check the cable or that the unit is powered and in range, then retry.', zh: '找不到设备。请检查线缆、设备供电或距离，然后重试。' },
  TRANSPORT_LOST: { result: 'disconnected', retryable: true, stage: 'transfer', en: 'Connection lost during the upgrade. Keep the unit powered and close, then retry; it resumes where the device allows.', zh: '升级过程中连接断开。请保持设备通电并靠近，然后重试；设备支持时将断点续传。' },
  TRANSPORT_TIMEOUT: { result: 'timeout', retryable: true, stage: 'connect', en: 'The connection did not open in time. Power-cycle the unit and retry.', zh: '连接超时。请给设备断电重启后重试。' },
  PORT_BUSY: { result: 'station_error', retryable: true, stage: 'connect', en: 'The serial port is in use by another program. Close it and retry.', zh: '串口被其他程序占用。请关闭该程序后重试。' },
  ADAPTER_OFF: { result: 'station_error', retryable: false, stage: 'none', en: 'The Bluetooth adapter is off. Turn it on in the system settings.', zh: '蓝牙适配器已关闭。请在系统设置中打开。' },
  NO_BLE_ADAPTER: { result: 'station_error', retryable: false, stage: 'none', en: 'No Bluetooth adapter on this station. Plug in a supported USB adapter; serial and network units keep working.', zh: '本工位没有蓝牙适配器。请插入支持的 USB 蓝牙适配器；串口和网络设备不受影响。' },
  // protocol
  PROTOCOL_TIMEOUT: { result: 'timeout', retryable: true, stage: 'transfer', en: 'The unit stopped answering. Check the cable and power, then retry.', zh: '设备无响应。请检查线缆和供电后重试。' },
  PROTOCOL_NO_START: { result: 'timeout', retryable: true, stage: 'connect', en: 'The bootloader never asked for the file. Put the unit in bootloader mode (hold BOOT, reset) and retry.', zh: 'Bootloader 未请求文件。请让设备进入 Bootloader 模式（按住 BOOT 并复位）后重试。' },
  PROTOCOL_BAD_FRAME: { result: 'device_error', retryable: true, stage: 'transfer', en: 'The unit sent a garbled reply. Check for a loose cable or interference, then retry.', zh: '设备回复数据错误。请检查线缆是否松动或有干扰，然后重试。' },
  PROTOCOL_TOO_MANY_RETRIES: { result: 'timeout', retryable: true, stage: 'transfer', en: 'Too many resends on the link. Check the cable or move the unit closer, then retry.', zh: '链路重传过多。请检查线缆或将设备移近后重试。' },
  PROTOCOL_CANCELLED_BY_DEVICE: { result: 'device_error', retryable: true, stage: 'transfer', en: 'The unit cancelled the transfer. Power-cycle it and retry.', zh: '设备取消了传输。请重启设备后重试。' },
  PROTOCOL_UNSUPPORTED_MODE: { result: 'device_error', retryable: false, stage: 'none', en: 'The unit speaks a different protocol variant than its product profile says. Ask an engineer to fix the profile.', zh: '设备使用的协议变体与产品配置不符。请联系工程师修改配置。' },
  PROTOCOL_CRC_MISMATCH: { result: 'crc_mismatch', retryable: true, stage: 'verify', en: 'The unit reported a CRC mismatch after the transfer. Retry; if it repeats, the unit’s flash may be faulty.', zh: '传输后设备报告 CRC 校验不一致。请重试；若反复出现，设备闪存可能有故障。' },
  PROTOCOL_MD5_MISMATCH: { result: 'md5_mismatch', retryable: true, stage: 'verify', en: 'The unit reported an MD5 mismatch. Retry; if it repeats, check the package.', zh: '设备报告 MD5 校验不一致。请重试；若反复出现，请检查固件包。' },
  DEVICE_REJECTED_VERSION: { result: 'version_rejected', retryable: false, stage: 'none', en: 'The unit refused this version. Check that the package is meant for this product and version.', zh: '设备拒绝了该版本。请确认固件包适用于此产品和版本。' },
  DEVICE_NO_SPACE: { result: 'no_space', retryable: false, stage: 'none', en: 'The image does not fit the unit’s flash. Check the package is for this product.', zh: '固件超出设备闪存容量。请确认固件包适用于此产品。' },
  DEVICE_LOW_BATTERY: { result: 'policy_blocked', retryable: false, stage: 'none', en: 'Battery too low for an upgrade. Charge the unit and retry.', zh: '电量过低，不能升级。请充电后重试。' },
  DEVICE_ERROR: { result: 'device_error', retryable: true, stage: 'transfer', en: 'The unit reported an error. Power-cycle it and retry.', zh: '设备报告错误。请重启设备后重试。' },
  DEVICE_NOT_RESPONDING: { result: 'timeout', retryable: true, stage: 'connect', en: 'The unit’s application does not answer. Use RMA recovery over the serial bootloader.', zh: '设备应用程序无响应。请通过串口 Bootloader 进行返修恢复。' },
  REBOOT_TIMEOUT: { result: 'timeout', retryable: false, stage: 'none', en: 'The unit did not come back after rebooting. Power-cycle it; if it stays silent, send it to RMA recovery.', zh: '设备重启后未恢复。请断电重启；若仍无响应，请送返修恢复。' },
  VERIFY_VERSION_MISMATCH: { result: 'version_mismatch', retryable: false, stage: 'none', en: 'The unit rebooted with the wrong version. Set it aside for an engineer.', zh: '设备重启后版本不符。请将其交给工程师处理。' },
  POLICY_UNCHECKABLE: { result: 'policy_blocked', retryable: false, stage: 'none', en: 'The plan sets a limit (battery or signal) that these units cannot report, so it cannot be checked. Remove the limit or use a product profile that can read it.', zh: '计划设置了这些设备无法上报的限制（电量或信号），无法检查。请取消该限制，或使用能读取该值的产品配置。' },
  POLICY_BLOCKED: { result: 'policy_blocked', retryable: false, stage: 'none', en: 'Blocked by the plan’s policy (battery, signal or list). Fix the condition and retry.', zh: '被计划策略阻止（电量、信号或名单）。请处理后重试。' },
  // version gate and lists: why a unit was skipped (the reason text is JobView.skipReason)
  VERSION_AT_TARGET: { result: 'ok', retryable: false, stage: 'none', en: 'The unit already runs the target version; nothing to do.', zh: '设备已是目标版本，无需升级。' },
  DIFF_SOURCE_MISMATCH: { result: 'version_rejected', retryable: false, stage: 'none', en: 'This differential package does not apply to the unit’s current version. Use a full package.', zh: '该差分固件包不适用于设备当前版本。请使用完整固件包。' },
  UNIT_NOT_LISTED: { result: 'policy_blocked', retryable: false, stage: 'none', en: 'The unit is excluded by the plan’s allow or deny list.', zh: '该设备被计划的允许或禁止名单排除。' },
  // package
  IMAGE_EMPTY: { result: 'file_invalid', retryable: false, stage: 'none', en: 'The firmware file is empty. Export it again from the build server.', zh: '固件文件为空。请从构建服务器重新导出。' },
  IMAGE_TOO_LARGE: { result: 'file_invalid', retryable: false, stage: 'none', en: 'The firmware file is larger than the station allows. Check that you picked the right file.', zh: '固件文件超过工位允许的大小。请确认选择了正确的文件。' },
  IMAGE_UNREADABLE: { result: 'file_invalid', retryable: false, stage: 'none', en: 'The firmware file cannot be read. Check the path and permissions.', zh: '无法读取固件文件。请检查路径和权限。' },
  IMAGE_FORMAT_UNKNOWN: { result: 'file_invalid', retryable: false, stage: 'none', en: 'Unknown firmware format. Use a .bin, .hex or .zip package.', zh: '未知的固件格式。请使用 .bin、.hex 或 .zip 固件包。' },
  IMAGE_HEX_SYNTAX: { result: 'file_invalid', retryable: false, stage: 'none', en: 'The HEX file has a malformed line. Export it again.', zh: 'HEX 文件中有格式错误的行。请重新导出。' },
  IMAGE_HEX_TRUNCATED: { result: 'file_invalid', retryable: false, stage: 'none', en: 'The HEX file is truncated (no end record or a cut line). Copy it again.', zh: 'HEX 文件不完整（缺少结束记录或行被截断）。请重新拷贝。' },
  IMAGE_HEX_CHECKSUM: { result: 'file_invalid', retryable: false, stage: 'none', en: 'A HEX record has a wrong checksum: the file is corrupted. Copy it again.', zh: 'HEX 记录校验和错误：文件已损坏。请重新拷贝。' },
  IMAGE_HEX_OVERLAP: { result: 'file_invalid', retryable: false, stage: 'none', en: 'The HEX file writes the same address twice. Ask the firmware team for a clean build.', zh: 'HEX 文件对同一地址重复写入。请向固件团队索取正确的构建。' },
  IMAGE_ZIP_INVALID: { result: 'file_invalid', retryable: false, stage: 'none', en: 'The .zip package is damaged. Copy it again.', zh: '.zip 固件包已损坏。请重新拷贝。' },
  IMAGE_ZIP_PATH_ESCAPE: { result: 'file_invalid', retryable: false, stage: 'none', en: 'The .zip package contains a file outside its folder and was refused. Report it to the firmware team.', zh: '.zip 固件包含有目录之外的文件，已被拒绝。请报告固件团队。' },
  IMAGE_MANIFEST_INVALID: { result: 'file_invalid', retryable: false, stage: 'none', en: 'The package manifest is missing or invalid. Ask the firmware team for a valid package.', zh: '固件包清单缺失或无效。请向固件团队索取有效的固件包。' },
  IMAGE_HASH_MISMATCH: { result: 'file_invalid', retryable: false, stage: 'none', en: 'A file in the package does not match its manifest hash: the package is corrupted or altered.', zh: '固件包中的文件与清单哈希不一致：固件包已损坏或被篡改。' },
  IMAGE_VERSION_INVALID: { result: 'file_invalid', retryable: false, stage: 'none', en: 'The version string is invalid (1–32 characters of letters, digits, . - _).', zh: '版本号无效（1–32 个字母、数字或 . - _）。' },
  IMAGE_SIGNATURE_INVALID: { result: 'signature_invalid', retryable: false, stage: 'none', en: 'The package signature is invalid. Do not flash it; report it to the firmware team.', zh: '固件包签名无效。请勿烧录，并报告固件团队。' },
  IMAGE_SIGNATURE_REQUIRED: { result: 'signature_invalid', retryable: false, stage: 'none', en: 'This plan requires a signed package and the package is not signed.', zh: '该计划要求签名的固件包，而此固件包未签名。' },
  IMAGE_TOO_LARGE_FOR_DEVICE: { result: 'no_space', retryable: false, stage: 'none', en: 'The image is larger than this product’s flash. Check that the package is for this product.', zh: '固件大于该产品的闪存容量。请确认固件包适用于此产品。' },
  // engine
  JOB_CANCELLED: { result: 'cancelled', retryable: false, stage: 'none', en: 'Cancelled by the operator.', zh: '操作员已取消。' },
  STATION_INTERRUPTED: { result: 'station_error', retryable: true, stage: 'connect', en: 'The station stopped during this upgrade. Resume the batch to continue.', zh: '升级过程中工位停止运行。请继续批次以完成升级。' },
  CONFIG_INVALID: { result: 'station_error', retryable: false, stage: 'none', en: 'The plan or settings are invalid. Ask an engineer to check them.', zh: '计划或设置无效。请联系工程师检查。' },
  // operator floor (issue 13 §4)
  ROLE_ENGINEER_REQUIRED: { result: 'policy_blocked', retryable: false, stage: 'none', en: 'Only an engineer can change this. Ask an engineer to unlock the station.', zh: '只有工程师可以修改此项。请工程师解锁工位。' },
  ROLE_BAD_SECRET: { result: 'policy_blocked', retryable: true, stage: 'none', en: 'Wrong engineer PIN or password.', zh: '工程师 PIN 或密码错误。' },
  PACKAGE_VERSION_CONFLICT: { result: 'file_invalid', retryable: false, stage: 'none', en: 'The version you typed is not the version inside the image. Check it; confirm only if you are sure.', zh: '输入的版本与固件内的版本不一致。请核对；确定无误后再确认导入。' },
  PACKAGE_SAME_IMAGE: { result: 'file_invalid', retryable: false, stage: 'none', en: 'This image is already loaded under another version. Confirm to replace that version, or import the right file.', zh: '该固件已以另一个版本加载。确认后将替换该版本，或请导入正确的文件。' },
  INTERNAL: { result: 'station_error', retryable: false, stage: 'none', en: 'Station software error. Export the log and report it.', zh: '工位软件错误。请导出日志并报告。' },
  // station safety (issue 10): the data folder and its owner
  STATION_BUSY: { result: 'station_error', retryable: false, stage: 'none', en: 'Another Flashline process is using this station’s data folder. Finish or stop it first (its process id is in the message), or use another data folder.', zh: '另一个 Flashline 进程正在使用本工位的数据目录。请先完成或停止它（消息中有其进程号），或使用其他数据目录。' },
  DISK_FULL: { result: 'station_error', retryable: false, stage: 'none', en: 'The station’s disk is full. The batch stopped and can be resumed: free some space, then resume it.', zh: '工位磁盘已满。批次已停止，可以继续：请释放磁盘空间后继续批次。' },
  DATA_DIR_READ_ONLY: { result: 'station_error', retryable: false, stage: 'none', en: 'The station’s data folder is read-only. Remount it writable or choose another data folder.', zh: '工位数据目录为只读。请将其重新挂载为可写，或选择其他数据目录。' },
  DATA_DIR_NOT_DIRECTORY: { result: 'station_error', retryable: false, stage: 'none', en: 'The data folder path is a file, not a folder. Choose another data folder.', zh: '数据目录路径是一个文件而不是目录。请选择其他数据目录。' },
  DATA_DIR_PERMISSION: { result: 'station_error', retryable: false, stage: 'none', en: 'The station may not write its data folder. Fix the folder’s permissions or choose another data folder.', zh: '工位没有数据目录的写入权限。请修改目录权限或选择其他数据目录。' },
  DATA_DIR_IO_ERROR: { result: 'station_error', retryable: false, stage: 'none', en: 'The disk holding the station’s data reported an I/O error. The batch stopped and can be resumed; have the disk checked.', zh: '存放工位数据的磁盘报告输入/输出错误。批次已停止，可以继续；请检查磁盘。' },
  REPORT_UNREADABLE: { result: 'file_invalid', retryable: false, stage: 'none', en: 'The report file cannot be read. Check the path.', zh: '无法读取报告文件。请检查路径。' },
  // quecthing-sota (issue 4): the station plays the Quectel module; raw event code in deviceCode
  SOTA_READ_TIMEOUT: { result: 'timeout', retryable: true, stage: 'transfer', en: 'The unit stopped reading the firmware. Check the cable and power, then retry.', zh: '设备停止读取固件。请检查线缆和供电后重试。' },
  SOTA_READ_ERRORS: { result: 'device_error', retryable: true, stage: 'transfer', en: 'The unit kept asking for firmware data outside the offered piece. Power-cycle it and retry; if it repeats, its firmware mishandles multi-piece upgrades.', zh: '设备反复请求分片范围之外的固件数据。请重启设备后重试；若反复出现，设备固件不支持分片升级。' },
  SOTA_INCOMPLETE_READ: { result: 'device_error', retryable: true, stage: 'transfer', en: 'The unit finished without reading the whole image. Power-cycle it and retry.', zh: '设备未读取完整固件就结束了升级。请重启设备后重试。' },
  SOTA_UPDATE_TIMEOUT: { result: 'timeout', retryable: false, stage: 'none', en: 'The unit did not report its new version in time after updating. Power-cycle it; if it stays silent, send it to RMA recovery.', zh: '设备更新后未按时报告新版本。请断电重启；若仍无响应，请送返修恢复。' },
  SOTA_COMPONENT_UNKNOWN: { result: 'version_rejected', retryable: false, stage: 'none', en: 'The unit reports a different firmware component than the package. Check that the package is for this product.', zh: '设备报告的固件组件与固件包不符。请确认固件包适用于此产品。' },
  DETECT_UNKNOWN: { result: 'device_error', retryable: false, stage: 'none', en: 'The station could not tell which protocol this unit speaks. Check the cable and power, or set the protocol for this port.', zh: '工位无法识别该设备使用的协议。请检查线缆和供电，或为该端口指定协议。' },
  RMA_NO_PATH: { result: 'device_error', retryable: false, stage: 'none', en: 'No recovery path answers on this unit (no application, no bootloader). Check power and the boot pins, then try again.', zh: '该设备没有可用的恢复通道（应用和 Bootloader 均无响应）。请检查供电和启动引脚后重试。' },
  // mqtt-ota (issue 5): networked units against the station's MQTT + HTTP server; device code in deviceCode
  NET_DEVICE_OFFLINE: { result: 'disconnected', retryable: true, stage: 'connect', en: 'The unit is not connected to the station’s network. Check that it is powered, on the line Wi-Fi, and that the line DNS points at the station.', zh: '设备未连接到工位网络。请检查设备供电、是否连上产线 Wi-Fi，以及产线 DNS 是否指向工位。' },
  NET_AUTH_FAILED: { result: 'station_error', retryable: false, stage: 'none', en: 'The unit was refused at connect: its credentials do not match the station’s device list. Check the unit’s device secret and the credential file.', zh: '设备连接被拒绝：其凭据与工位的设备清单不符。请检查设备密钥和凭据文件。' },
  NET_NO_VERSION_REPORT: { result: 'timeout', retryable: true, stage: 'connect', en: 'The unit is connected but did not report its version. Power-cycle it so it reports again, then retry.', zh: '设备已连接但未上报版本。请给设备断电重启使其重新上报，然后重试。' },
  NET_URL_EXPIRED: { result: 'station_error', retryable: true, stage: 'transfer', en: 'The unit was refused the firmware download (signature expired, HTTP 403). Check the station clock and the URL lifetime setting, then retry.', zh: '设备下载固件被拒绝（签名过期，HTTP 403）。请检查工位时钟和链接有效期设置，然后重试。' },
  NET_FILE_NOT_FOUND: { result: 'station_error', retryable: false, stage: 'none', en: 'The unit could not find the firmware file (HTTP 404). Check the station’s firmware server address and port 80 on the line.', zh: '设备找不到固件文件（HTTP 404）。请检查工位固件服务器地址以及产线上的 80 端口。' },
  NET_DOWNLOAD_FAILED: { result: 'disconnected', retryable: true, stage: 'transfer', en: 'The unit’s firmware download broke off. Keep it close to the access point, then retry; it resumes where the device allows.', zh: '设备固件下载中断。请让设备靠近无线接入点后重试；设备支持时将断点续传。' },
  NET_DOWNLOAD_STALLED: { result: 'timeout', retryable: true, stage: 'transfer', en: 'The unit’s firmware download stalled. Check the line Wi-Fi, then retry; it resumes where the device allows.', zh: '设备固件下载停滞。请检查产线 Wi-Fi 后重试；设备支持时将断点续传。' },
  NET_PUSH_IGNORED: { result: 'timeout', retryable: true, stage: 'transfer', en: 'The unit ignored the upgrade offer (it never started downloading). Power-cycle it and retry.', zh: '设备未响应升级通知（始终未开始下载）。请给设备断电重启后重试。' },
  DEVICE_FLASH_WRITE_FAILED: { result: 'device_error', retryable: true, stage: 'verify', en: 'The unit could not write the image to its flash. Retry; if it repeats, its flash may be faulty.', zh: '设备无法将固件写入闪存。请重试；若反复出现，设备闪存可能有故障。' },
  // llsync-ota (issue 3): Tencent LLSync BLE OTA; raw device codes in deviceCode
  LLSYNC_AUTH_NO_REPLY: { result: 'timeout', retryable: true, stage: 'connect', en: 'The BLE unit did not accept the station’s login. Check that it is the right product and not bound to a phone, then retry.', zh: '蓝牙设备未接受工位登录。请确认产品正确且未绑定到手机，然后重试。' },
  LLSYNC_AUTH_SIGNATURE: { result: 'device_error', retryable: false, stage: 'none', en: 'The BLE unit answered with a wrong signature: it is another product or its keys differ. Set it aside for an engineer.', zh: '蓝牙设备返回的签名不正确：产品不符或密钥不同。请交给工程师处理。' },
  DEVICE_REJECTED_FILE: { result: 'file_invalid', retryable: false, stage: 'none', en: 'The unit’s application rejected the firmware file. Check that the package is for this product.', zh: '设备应用程序拒绝了固件文件。请确认固件包适用于此产品。' },
  LLSYNC_PSK_UNKNOWN: { result: 'station_error', retryable: false, stage: 'none', en: 'The BLE unit is bound and the station has no key for it. Import the units’ PSK list (llsync-ota.pskCsvPath) or unbind the unit, then retry.', zh: '蓝牙设备已绑定，工位没有它的密钥。请导入设备 PSK 列表（llsync-ota.pskCsvPath）或解除绑定后重试。' },
  // issue 9 (serial dialects): ST IAP loader verdicts, QuecThing MD5 failure, policies that cannot be checked
  LOADER_SIZE_MISMATCH: { result: 'device_error', retryable: true, stage: 'verify', en: 'The bootloader reports a different image size than the station sent. Retry; if it repeats, check the product profile (file name length, flash size).', zh: '引导程序报告的固件大小与工位发送的不一致。请重试；若反复出现，请检查产品配置（文件名长度、闪存大小）。' },
  LOADER_NO_VERDICT: { result: 'timeout', retryable: true, stage: 'verify', en: 'The bootloader printed no result after the transfer, so the upgrade is unconfirmed. Check the cable, then retry.', zh: '传输后引导程序没有打印结果，升级未确认。请检查线缆后重试。' },
  SOTA_MD5_FAILED: { result: 'md5_mismatch', retryable: true, stage: 'verify', en: 'The unit’s MD5 check of the downloaded firmware failed and it kept its old version. Retry; if it repeats, check the cable and the package.', zh: '设备对下载固件的 MD5 校验失败，仍保留旧版本。请重试；若反复出现，请检查线缆和固件包。' },
  // line (issue 11)
  MES_DENIED: { result: 'policy_blocked', retryable: false, stage: 'none', en: 'The MES refused this unit (its reason is on the unit). Set it aside and ask production control.', zh: 'MES 拒绝了该设备（原因见设备记录）。请将其放在一边并联系生产管理。' },
  MES_UNREACHABLE: { result: 'policy_blocked', retryable: false, stage: 'none', en: 'The MES pre-flight did not answer and the policy is to block. Check the MES link, then retry the unit.', zh: 'MES 预检未响应，策略为阻止。请检查与 MES 的连接后重试该设备。' },
  LINE_DB_UNREACHABLE: { result: 'station_error', retryable: true, stage: 'none', en: 'The line database cannot be reached; results wait on this station and are sent when it is back. Batches keep running.', zh: '无法连接产线数据库；结果暂存在本工位，恢复后自动上传。批次继续运行。' },
} as const satisfies Record<string, CatalogEntry>;

export type StationErrorCode = keyof typeof CATALOG;

export function catalogEntry(code: StationErrorCode): CatalogEntry {
  return CATALOG[code];
}

export function isStationErrorCode(code: string): code is StationErrorCode {
  return Object.prototype.hasOwnProperty.call(CATALOG, code);
}

export interface StationErrorDetail {
  unitId?: string;
  deviceCode?: string;
  retryable?: boolean;
  /** For resumable transfer failures: bytes the device acknowledged before the failure. */
  ackedBytes?: number;
}

export class StationError extends Error {
  readonly code: StationErrorCode;
  readonly detail: StationErrorDetail;
  constructor(code: StationErrorCode, message: string, detail: StationErrorDetail = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StationError';
    this.code = code;
    this.detail = detail;
  }
  get result(): ResultCode {
    return CATALOG[this.code].result;
  }
  get retryable(): boolean {
    return this.detail.retryable ?? CATALOG[this.code].retryable;
  }
  toView(): ErrorView {
    return errorView(this);
  }
}

/** Any thrown value → a StationError (unknown errors become INTERNAL, keeping the cause). */
export function toStationError(err: unknown): StationError {
  if (err instanceof StationError) return err;
  if (err && typeof err === 'object' && (err as { name?: string }).name === 'AbortError') {
    return new StationError('JOB_CANCELLED', 'aborted', {}, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new StationError('INTERNAL', message, {}, { cause: err });
}

export function errorView(err: StationError): ErrorView {
  const e = CATALOG[err.code];
  return {
    code: err.code,
    result: e.result,
    message: err.message,
    operatorText: { en: e.en, 'zh-CN': e.zh },
    deviceCode: err.detail.deviceCode,
    retryable: err.retryable,
  };
}

/** The operator's message for a code in a language. */
export function operatorText(code: string, lang: 'en' | 'zh-CN' = 'en', unit?: HintContext): string {
  if (!isStationErrorCode(code)) return '';
  const v = unit ? LINK_HINTS[code]?.[linkClassOf(unit)] : undefined;
  if (v) return lang === 'en' ? v.en : v.zh;
  const e = CATALOG[code];
  return lang === 'en' ? e.en : e.zh;
}

/** Operator messages keyed by result code, for summaries where only the result is known. */
export const RESULT_TEXT: Record<ResultCode, { en: string; 'zh-CN': string }> = {
  ok: { en: 'Upgraded and confirmed.', 'zh-CN': '升级完成并已确认。' },
  timeout: { en: 'The unit stopped answering. Check cable and power, then retry.', 'zh-CN': '设备无响应。请检查线缆和供电后重试。' },
  disconnected: { en: 'Connection lost. Keep the unit powered and close, then retry.', 'zh-CN': '连接断开。请保持设备通电并靠近后重试。' },
  crc_mismatch: { en: 'CRC mismatch. Retry; if it repeats, the unit’s flash may be faulty.', 'zh-CN': 'CRC 不一致。请重试；若反复出现，设备闪存可能有故障。' },
  md5_mismatch: { en: 'MD5 mismatch. Retry; if it repeats, check the package.', 'zh-CN': 'MD5 不一致。请重试；若反复出现，请检查固件包。' },
  version_rejected: { en: 'The unit refused this version. Check the package is for this product.', 'zh-CN': '设备拒绝该版本。请确认固件包适用于此产品。' },
  version_mismatch: { en: 'Wrong version after reboot. Set the unit aside for an engineer.', 'zh-CN': '重启后版本不符。请将设备交给工程师。' },
  file_invalid: { en: 'The firmware file is invalid. Get a good copy of the package.', 'zh-CN': '固件文件无效。请获取正确的固件包。' },
  signature_invalid: { en: 'Bad or missing signature. Do not flash; report to the firmware team.', 'zh-CN': '签名无效或缺失。请勿烧录，并报告固件团队。' },
  no_space: { en: 'The image does not fit the unit. Check the package is for this product.', 'zh-CN': '固件超出设备容量。请确认固件包适用于此产品。' },
  policy_blocked: { en: 'Blocked by policy (battery, signal or list). Fix it and retry.', 'zh-CN': '被策略阻止（电量、信号或名单）。处理后重试。' },
  device_error: { en: 'The unit reported an error. Power-cycle it and retry.', 'zh-CN': '设备报告错误。请重启设备后重试。' },
  cancelled: { en: 'Cancelled by the operator.', 'zh-CN': '操作员已取消。' },
  station_error: { en: 'Station problem. Export the log and call an engineer.', 'zh-CN': '工位故障。请导出日志并联系工程师。' },
};

// ---- hints that fit the unit's link (issue 9 §1) ---------------------------------------------

/** What the operator can touch: a serial loader (cable, boot pins), an MCU behind a module UART (QuecThing: no bootloader), BLE, or Wi-Fi/MQTT. */
export type LinkClass = 'serial-loader' | 'mcu' | 'ble' | 'net';

/** Enough of a unit to pick its hint: the protocol decides (a sim unit stands in for its protocol's real link). */
export interface HintContext {
  transport?: TransportKind;
  protocol?: ProtocolId | string;
}

export function linkClassOf(unit: HintContext): LinkClass {
  const p = unit.protocol ?? '';
  if (p.startsWith('mqtt-ota') || unit.transport === 'net') return 'net';
  if (p === 'llsync-ota' || unit.transport === 'ble') return 'ble';
  if (p === 'quecthing-sota') return 'mcu';
  return 'serial-loader';
}

type Hint = { en: string; zh: string };
const NET_OFFLINE: Hint = { en: 'The unit is not on the station’s network. Check that it is powered, on the line Wi-Fi, and that the line DNS points at the station, then retry.', zh: '设备不在工位网络上。请检查设备供电、是否连上产线 Wi-Fi，以及产线 DNS 是否指向工位，然后重试。' };
const NET_SILENT: Hint = { en: 'The unit stopped answering over the network. Check its power and the line Wi-Fi, then retry.', zh: '设备通过网络无响应。请检查设备供电和产线 Wi-Fi 后重试。' };
const BLE_SILENT: Hint = { en: 'The unit stopped answering over Bluetooth. Keep it powered and within a few metres of the station, then retry.', zh: '设备通过蓝牙无响应。请保持设备通电并距工位几米以内，然后重试。' };
const BLE_NOISY: Hint = { en: 'The Bluetooth link is unreliable. Move the unit closer to the station, away from metal and other radios, then retry.', zh: '蓝牙链路不稳定。请将设备移近工位，远离金属和其他无线设备，然后重试。' };

/**
 * Link-specific texts for the catalog codes whose default text assumes a serial cable or a
 * serial bootloader. A code without an entry for a link class uses its catalog text.
 */
const LINK_HINTS: Partial<Record<StationErrorCode, Partial<Record<LinkClass, Hint>>>> = {
  TRANSPORT_NOT_FOUND: {
    net: NET_OFFLINE,
    ble: { en: 'Unit not found over Bluetooth. Check that it is powered, advertising and within a few metres of the station, then retry.', zh: '通过蓝牙找不到设备。请检查设备已通电、正在广播并距工位几米以内，然后重试。' },
  },
  PROTOCOL_TIMEOUT: { net: NET_SILENT, ble: BLE_SILENT },
  PROTOCOL_BAD_FRAME: {
    net: { en: 'The unit sent a garbled message. Power-cycle it and retry; if it repeats, its firmware may not match the product profile.', zh: '设备发送的消息有误。请重启设备后重试；若反复出现，设备固件可能与产品配置不符。' },
    ble: BLE_NOISY,
  },
  PROTOCOL_TOO_MANY_RETRIES: { net: NET_SILENT, ble: BLE_NOISY },
  DEVICE_NOT_RESPONDING: {
    net: { en: 'The unit’s application does not answer over the network. Power-cycle it and check it joins the line Wi-Fi; if it stays silent, set it aside for an engineer.', zh: '设备应用程序通过网络无响应。请断电重启并确认其连上产线 Wi-Fi；若仍无响应，请交给工程师处理。' },
    ble: { en: 'The unit’s application does not answer over Bluetooth. Power-cycle it; if it stays silent, set it aside for an engineer.', zh: '设备应用程序通过蓝牙无响应。请断电重启；若仍无响应，请交给工程师处理。' },
    mcu: { en: 'The MCU does not answer on the module UART. Check the wiring and power, power-cycle it and retry; if it stays silent, set it aside for an engineer.', zh: 'MCU 在模组串口上无响应。请检查接线和供电，断电重启后重试；若仍无响应，请交给工程师处理。' },
  },
  PROTOCOL_NO_START: {
    net: { en: 'The unit never started the upgrade. Power-cycle it so it reconnects, then retry.', zh: '设备始终未开始升级。请断电重启使其重新连接，然后重试。' },
    ble: { en: 'The unit never started the upgrade. Power-cycle it, then retry.', zh: '设备始终未开始升级。请断电重启后重试。' },
    mcu: { en: 'The MCU never started reading the firmware. Power-cycle it so it announces its version again, then retry.', zh: 'MCU 始终未开始读取固件。请断电重启使其重新上报版本，然后重试。' },
  },
  SOTA_READ_TIMEOUT: { net: NET_SILENT, ble: BLE_SILENT },
  DETECT_UNKNOWN: {
    net: { en: 'The station could not tell which dialect this unit speaks. Set the protocol in the product profile.', zh: '工位无法识别该设备使用的协议。请在产品配置中指定协议。' },
    ble: { en: 'The station could not tell which protocol this Bluetooth unit speaks. Set the protocol in the product profile.', zh: '工位无法识别该蓝牙设备使用的协议。请在产品配置中指定协议。' },
  },
};

/** Result-level texts ({@link RESULT_TEXT}) for the results whose default text assumes a cable. */
const RESULT_LINK_TEXT: Partial<Record<ResultCode, Partial<Record<LinkClass, { en: string; 'zh-CN': string }>>>> = {
  timeout: {
    net: { en: NET_SILENT.en, 'zh-CN': NET_SILENT.zh },
    ble: { en: BLE_SILENT.en, 'zh-CN': BLE_SILENT.zh },
  },
  disconnected: {
    net: { en: 'Connection lost. Keep the unit powered and near the line access point, then retry.', 'zh-CN': '连接断开。请保持设备通电并靠近产线无线接入点后重试。' },
  },
};

/** The operator's message for a result code, fitted to the unit's link when one is given. */
export function resultText(result: ResultCode, lang: 'en' | 'zh-CN' = 'en', unit?: HintContext): string {
  const v = unit ? RESULT_LINK_TEXT[result]?.[linkClassOf(unit)] : undefined;
  return (v ?? RESULT_TEXT[result])[lang];
}
