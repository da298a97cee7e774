// UI strings in en and zh-CN. Operator messages for error codes come from the station
// (errors.ts catalog) so they are written once; these are the screens' own labels.
import type { JobState } from '../../main/contract/dto.js';

const en = {
  appTitle: 'Flashline station',
  nav: { batch: 'Batch', packages: 'Packages', plan: 'Plan', history: 'History', reports: 'Reports', settings: 'Settings', rma: 'RMA' },
  lang: { toggle: '中文', label: 'Language' },
  state: {
    queued: 'Queued', connecting: 'Connecting', negotiating: 'Negotiating', transferring: 'Transferring', verifying: 'Verifying',
    activating: 'Activating', confirming: 'Confirming', backoff: 'Waiting to retry', interrupted: 'Interrupted', passed: 'Passed',
    failed: 'Failed', cancelled: 'Cancelled', skipped: 'Skipped', paused: 'Paused',
  } satisfies Record<JobState | 'paused', string>,
  batchState: { created: 'Ready', running: 'Running', paused: 'Paused', finished: 'Finished', cancelled: 'Cancelled', interrupted: 'Interrupted' },
  counters: { total: 'Total', queued: 'Queued', running: 'Running', retrying: 'Waiting to retry', paused: 'Paused', passed: 'Passed', failed: 'Failed', skipped: 'Skipped', cancelled: 'Cancelled', interrupted: 'Interrupted' },
  role: { operator: 'Operator', engineer: 'Engineer', unlock: 'Engineer unlock', lock: 'Lock', secret: 'Engineer PIN or password', wrong: 'Wrong PIN or password.', lockedNote: 'Locked: only an engineer can change this. Use "Engineer unlock" in the top bar.', engineerOnly: 'engineer only', noSecret: 'No engineer PIN is set yet: anyone can change settings. Set one below.' },
  scan: { box: 'Scan box (barcode scanner)', hint: 'Scan a serial number, a unit’s port/MAC, or a product barcode.', bound: 'Serial number {code} bound to {unit}.', armed: 'Next serial number goes to {unit}.', product: 'Product {code}: package selected.', productNoProfile: 'Product {code}: package selected, but product profile {profile} is not available on this station.', duplicate: 'Refused: {code} is already bound to {unit}.', noUnit: 'Refused: no unit left without a serial number for {code}.', unknownPackage: 'Product {code} is mapped to a package that is not loaded. Ask an engineer.' },
  audit: { title: 'Audit log (engineer actions, batch start/cancel)', export: 'Export audit log (CSV)', none: 'No audit entries yet.', at: 'Time', role: 'Role', actor: 'Who', action: 'Action', target: 'On', detail: 'Detail' },
  behaviour: {
    accept: 'Healthy (accepts the update)', refuse_version: 'Refuses the version', low_battery: 'Low battery', crc_failure: 'CRC always fails', crc_failure_once: 'CRC fails once, then OK',
    slow_flash: 'Slow flash', reboot_timeout: 'Does not come back after reboot', brick: 'Bricks (bootloader only)', disconnect: 'Drops the link mid-transfer',
    read_outside: 'Reads outside the image', stop_reading: 'Stops reading', wrong_version: 'Reports a wrong version', reannounce_old: 'Announces the old version again', garbage: 'Sends garbage', skip_update3: 'Skips update step 3',
  },
  units: { seconds: '{n} s' },
  chart: { unit: 'Unit (in plan order)', seconds: 'Duration (s)', kBps: 'Throughput (kB/s)', max: 'max {n}' },
  link: { up: 'Connected', down: 'Station unreachable', banner: 'The station is not reachable. Figures on screen are stale; reconnecting by itself…' },
  banner: { finished: 'Batch finished', cancelled: 'Batch cancelled', stopLine: 'Line stopped' },
  board: { pass: 'PASS', fail: 'FAIL', remaining: 'Remaining', yield: 'Yield', elapsed: 'Elapsed', expectedEnd: 'Expected end' },
  confirmedBy: { 'device-crc32': 'device CRC32 matches', 'device-md5': 'device MD5 matches', 'version-after-reboot': 'version after reboot', 'loader-verdict': 'loader verdict OK', size: 'device size matches', 'device-done': 'device reported done' },
  filter: { all: 'All', running: 'Running', passed: 'Passed', failed: 'Failed', skipped: 'Skipped', queued: 'Queued', search: 'Find unit (name, SN, port)' },
  actions: {
    start: 'Start', pause: 'Pause', resume: 'Resume', cancelAll: 'Cancel all', cancel: 'Cancel', retry: 'Retry', details: 'Details',
    close: 'Close', copy: 'Copy', copied: 'Copied', reload: 'Reload', import: 'Import', add: 'Add', remove: 'Remove', clear: 'Clear',
    create: 'Create batch', createStart: 'Create and start', scan: 'Scan', save: 'Save', open: 'Open', search: 'Search',
    retryAllFailed: 'Retry all failed ({n})', repeatPlan: 'Repeat last plan', cancelAllYes: 'Yes, cancel all', keepRunning: 'Keep running', exportLog: 'Export log',
  },
  grid: {
    noBatch: 'No batch yet. Build one on the Plan screen.', readOnly: 'Read-only (from history)', sent: 'sent', device: 'device',
    match: 'match', mismatch: 'MISMATCH', eta: 'ETA', attempt: 'attempt', paused: 'Paused', units: 'units', noMatch: 'No unit matches the filter.',
    attemptN: 'attempt {n}', stalled: 'No progress for {n} min', stopLine: 'Line stopped', confirmCancel: 'Cancel all {n} unfinished units?', viewGrid: 'Tiles', viewBoard: 'Board',
  },
  detail: {
    title: 'Unit detail', timeline: 'Timeline', trace: 'Protocol trace', at: 'Time', from: 'From', to: 'To', bytes: 'Bytes', result: 'Result',
    message: 'Message', attempt: 'Attempt', noTrace: 'No trace recorded.', dir: 'Dir', hex: 'Hex', decoded: 'Decoded', versions: 'Version before → after',
    hashes: 'CRC32 / MD5', nextStep: 'Next step', deviceReported: 'device reported', notReported: 'not reported', crcSame: 'same as sent', crcDiffers: 'DIFFERS from sent',
    confirmedBy: 'Confirmed by the device', codes: 'Codes', deviceCode: 'device code', attemptCauses: 'Why each attempt failed', attemptRange: 'attempt {n}',
  },
  packages: {
    title: 'Firmware packages', file: 'Package file (.bin, .hex, .zip)', version: 'Target version (bare .bin/.hex without descriptor)', drop: 'Drop a package here',
    component: 'Component', versionCol: 'Version', kind: 'Kind', size: 'Size', signature: 'Signature', none: 'No packages loaded yet.', importing: 'Importing…', loaded: 'Loaded',
    sig: { none: 'unsigned', valid: 'valid', invalid: 'INVALID' }, source: 'Product / file', importAnyway: 'Import anyway (I checked the version)',
  },
  plan: {
    title: 'Plan', package: 'Package', noPackage: 'Import a package first.', units: 'Units', addSim: 'Virtual units', protocol: 'Protocol', count: 'Count', behaviour: 'Behaviour',
    target: 'Target (serial:PATH[@BAUD]:PROTOCOL, ble:ID:PROTOCOL, mqtt:PRODUCT/DEVICE:PROTOCOL, sim:…)', scan: 'Live scan', serialPorts: 'Serial ports', noPorts: 'No serial ports found.',
    ble: 'Bluetooth', serial: 'Serial number (scan barcode)', address: 'Address', transport: 'Transport', allow: 'Allow list (ids, SNs, addresses)', deny: 'Deny list (wins over allow)',
    versionGate: 'Skip units already at the target version', policy: 'Policy', minBattery: 'Min battery %', minRssi: 'Min RSSI dBm', concurrency: 'Concurrency',
    global: 'Global', perBle: 'Per BLE adapter', retries: 'Retries', backoff: 'Backoff ms', stopLine: 'Stop the line after N failures in a row', unitCount: 'units in plan', noUnits: 'No units yet.',
    keepSimState: 'Virtual units keep their state from earlier batches', shortcut: 'Ctrl+Enter starts the plan',
  },
  history: { title: 'Past batches', search: 'Search by serial number, MAC or port', batch: 'Batch', created: 'Created', operator: 'Operator', state: 'State', result: 'Result', unit: 'Unit', none: 'No batches yet.', loading: 'Loading…', loadFailed: 'Could not load the history.' },
  reports: {
    title: 'Reports', pick: 'Batch', summary: 'Summary', export: 'Export', chart: 'Per-unit duration and throughput', duration: 'Duration', throughput: 'kB/s',
    saved: 'Saved to', downloaded: 'Downloaded', cancelled: 'Export cancelled', pdfNote: 'In the browser, PDF opens the print dialog: choose “Save as PDF” (A4 landscape).', none: 'No batch selected.', pickOne: 'Pick a batch', pdf: 'PDF',
  },
  settings: {
    title: 'Settings', stationId: 'Station id', operator: 'Operator', language: 'Language', bleLimit: 'BLE adapter connection limit', globalConcurrency: 'Global concurrency',
    servePort: 'Browser mode port (0 = any)', saved: 'Settings saved', restartNote: 'Station id applies after a restart.',
    station: 'Station', engineer: 'Engineer', newSecret: 'New engineer PIN or password (≥ 4 characters)', setSecret: 'Set PIN/password', secretSaved: 'PIN/password set (stored hashed)', stopAfter: 'Stop the line after N failures in a row (0 = off; every batch gets it)', scanMappings: 'Product barcodes', scanMappingsHint: 'Scanning a mapped barcode selects its package (and product profile).', barcode: 'Barcode', profile: 'Product profile id (optional)',
  },
  errors: { connection: 'Lost connection to the station. Reconnecting…' },
  rma: {
    title: 'RMA recovery', form: 'Unit on the bench', port: 'Serial port (pick from the scan or type it)', baud: 'Baud rate', package: 'Golden image (imported package)',
    ticket: 'RMA ticket number', technician: 'Technician', protocol: 'Protocol', probe: 'Probe the port (automatic)', start: 'Start recovery', running: 'Recovering…',
    noPackage: 'Import the golden image on the Packages screen first.', scanPorts: 'Scan ports', portsFound: 'ports found', noPorts: 'No serial ports listed (PTYs never are): type the path.',
    steps: 'Steps', step: { probe: 'Probe', identify: 'Identify', flash: 'Flash', verify: 'Verify', journal: 'Journal' },
    status: { start: 'started', progress: '…', ok: 'OK', failed: 'FAILED' },
    result: 'Result', passed: 'Recovered: the unit runs the golden image.', failed: 'Not recovered.', nextStep: 'Next step', progress: 'Progress',
    protocolFound: 'Protocol', evidence: 'Evidence', versions: 'Version before → after', hashes: 'CRC32 sent / device',
    openDetail: 'Unit detail (timeline, trace)', openReport: 'Batch report', reportRow: 'Report row', rawTrace: 'Full raw trace', entries: 'entries',
    history: 'Past RMA jobs', historySearch: 'Search by ticket number', noHistory: 'No RMA jobs found.', when: 'When', job: 'Job',
    invalid: { portRequired: 'Enter or pick the serial port.', packageRequired: 'Pick the golden image.', ticketRequired: 'The RMA ticket number is required.', technicianRequired: 'Enter your name.', baudInvalid: 'Baud rate must be a whole number ≥ 300.' },
  },
};

type Messages = typeof en;
type DeepString<T> = { [K in keyof T]: T[K] extends string ? string : DeepString<T[K]> };

const zh: DeepString<Messages> = {
  appTitle: 'Flashline 烧录工位',
  nav: { batch: '批次', packages: '固件包', plan: '计划', history: '历史', reports: '报告', settings: '设置', rma: '返修' },
  lang: { toggle: 'English', label: '语言' },
  state: {
    queued: '排队中', connecting: '连接中', negotiating: '协商中', transferring: '传输中', verifying: '校验中', activating: '激活中', confirming: '确认中',
    backoff: '等待重试', interrupted: '已中断', passed: '通过', failed: '失败', cancelled: '已取消', skipped: '已跳过', paused: '已暂停',
  },
  batchState: { created: '就绪', running: '运行中', paused: '已暂停', finished: '已完成', cancelled: '已取消', interrupted: '已中断' },
  counters: { total: '总数', queued: '排队', running: '进行中', retrying: '等待重试', paused: '已暂停', passed: '通过', failed: '失败', skipped: '跳过', cancelled: '取消', interrupted: '已中断' },
  role: { operator: '操作员', engineer: '工程师', unlock: '工程师解锁', lock: '锁定', secret: '工程师 PIN 或密码', wrong: 'PIN 或密码错误。', lockedNote: '已锁定：只有工程师可以修改。请点击顶栏的"工程师解锁"。', engineerOnly: '仅限工程师', noSecret: '尚未设置工程师 PIN：任何人都可以修改设置。请在下方设置。' },
  scan: { box: '扫码框（条码枪）', hint: '扫描序列号、设备端口/MAC 或产品条码。', bound: '序列号 {code} 已绑定到 {unit}。', armed: '下一个序列号将绑定到 {unit}。', product: '产品 {code}：已选择固件包。', productNoProfile: '产品 {code}：已选择固件包，但本工位没有产品配置 {profile}。', duplicate: '已拒绝：{code} 已绑定到 {unit}。', noUnit: '已拒绝：没有未绑定序列号的设备可用于 {code}。', unknownPackage: '产品 {code} 对应的固件包未加载。请联系工程师。' },
  audit: { title: '审计日志（工程师操作、批次开始/取消）', export: '导出审计日志（CSV）', none: '暂无审计记录。', at: '时间', role: '角色', actor: '人员', action: '操作', target: '对象', detail: '详情' },
  behaviour: {
    accept: '正常（接受升级）', refuse_version: '拒绝该版本', low_battery: '电量低', crc_failure: 'CRC 总是失败', crc_failure_once: 'CRC 失败一次后正常',
    slow_flash: '写入缓慢', reboot_timeout: '重启后不再上线', brick: '变砖（仅剩引导程序）', disconnect: '传输中断开连接',
    read_outside: '读取超出镜像范围', stop_reading: '停止读取', wrong_version: '报告错误版本', reannounce_old: '再次报告旧版本', garbage: '发送乱码', skip_update3: '跳过升级第 3 步',
  },
  units: { seconds: '{n} 秒' },
  chart: { unit: '设备（按计划顺序）', seconds: '耗时（秒）', kBps: '吞吐量（kB/s）', max: '最大 {n}' },
  link: { up: '已连接', down: '工位无法连接', banner: '无法连接到工位。屏幕上的数据已过时；正在自动重连…' },
  banner: { finished: '批次已完成', cancelled: '批次已取消', stopLine: '产线已停止' },
  board: { pass: '通过', fail: '失败', remaining: '剩余', yield: '良率', elapsed: '已用时间', expectedEnd: '预计结束' },
  confirmedBy: { 'device-crc32': '设备 CRC32 一致', 'device-md5': '设备 MD5 一致', 'version-after-reboot': '重启后版本一致', 'loader-verdict': '引导程序确认成功', size: '设备大小一致', 'device-done': '设备报告完成' },
  filter: { all: '全部', running: '进行中', passed: '通过', failed: '失败', skipped: '跳过', queued: '排队', search: '查找设备（名称、序列号、端口）' },
  actions: {
    start: '开始', pause: '暂停', resume: '继续', cancelAll: '全部取消', cancel: '取消', retry: '重试', details: '详情', close: '关闭', copy: '复制', copied: '已复制',
    reload: '刷新', import: '导入', add: '添加', remove: '移除', clear: '清空', create: '创建批次', createStart: '创建并开始', scan: '扫描', save: '保存', open: '打开', search: '搜索',
    retryAllFailed: '重试全部失败（{n}）', repeatPlan: '重复上一个计划', cancelAllYes: '确认全部取消', keepRunning: '继续运行', exportLog: '导出日志',
  },
  grid: {
    noBatch: '还没有批次。请在"计划"页面创建。', readOnly: '只读（历史记录）', sent: '发送', device: '设备', match: '一致', mismatch: '不一致', eta: '剩余',
    attempt: '尝试', paused: '已暂停', units: '台设备', noMatch: '没有符合筛选条件的设备。',
    attemptN: '第 {n} 次尝试', stalled: '已 {n} 分钟无进展', stopLine: '产线已停止', confirmCancel: '确定取消全部 {n} 台未完成的设备吗？', viewGrid: '卡片', viewBoard: '看板',
  },
  detail: {
    title: '设备详情', timeline: '状态时间线', trace: '协议日志', at: '时间', from: '从', to: '到', bytes: '字节', result: '结果', message: '信息', attempt: '尝试',
    noTrace: '没有记录协议日志。', dir: '方向', hex: '十六进制', decoded: '解码', versions: '升级前 → 升级后版本', hashes: 'CRC32 / MD5', nextStep: '下一步', deviceReported: '设备报告', notReported: '未报告', crcSame: '与发送值一致', crcDiffers: '与发送值不一致',
    confirmedBy: '设备确认项', codes: '代码', deviceCode: '设备代码', attemptCauses: '各次尝试的失败原因', attemptRange: '第 {n} 次',
  },
  packages: {
    title: '固件包', file: '固件包文件（.bin、.hex、.zip）', version: '目标版本（无描述符的 .bin/.hex）', drop: '将固件包拖放到这里', component: '组件', versionCol: '版本', kind: '类型', size: '大小',
    signature: '签名', none: '尚未加载固件包。', importing: '正在导入…', loaded: '已加载', sig: { none: '未签名', valid: '有效', invalid: '无效' }, source: '产品 / 文件', importAnyway: '仍然导入（已核对版本）',
  },
  plan: {
    title: '计划', package: '固件包', noPackage: '请先导入固件包。', units: '设备', addSim: '虚拟设备', protocol: '协议', count: '数量', behaviour: '行为',
    target: '目标（serial:端口[@波特率]:协议、ble:ID:协议、mqtt:产品/设备:协议、sim:…）', scan: '实时扫描', serialPorts: '串口', noPorts: '未找到串口。', ble: '蓝牙',
    serial: '序列号（扫描条码）', address: '地址', transport: '传输方式', allow: '允许名单（ID、序列号、地址）', deny: '禁止名单（优先于允许名单）', versionGate: '跳过已是目标版本的设备',
    policy: '策略', minBattery: '最低电量 %', minRssi: '最低信号 dBm', concurrency: '并发', global: '全局', perBle: '每个蓝牙适配器', retries: '重试次数', backoff: '退避毫秒',
    stopLine: '连续失败 N 台后停线', unitCount: '台设备在计划中', noUnits: '尚无设备。',
    keepSimState: '虚拟设备保留之前批次的状态', shortcut: 'Ctrl+Enter 开始执行计划',
  },
  history: { title: '历史批次', search: '按序列号、MAC 或端口搜索', batch: '批次', created: '创建时间', operator: '操作员', state: '状态', result: '结果', unit: '设备', none: '还没有批次。', loading: '正在加载…', loadFailed: '无法加载历史记录。' },
  reports: {
    title: '报告', pick: '批次', summary: '汇总', export: '导出', chart: '每台设备耗时与吞吐量', duration: '耗时', throughput: 'kB/s', saved: '已保存到', downloaded: '已下载',
    cancelled: '已取消导出', pdfNote: '浏览器模式下点击 PDF 会打开打印对话框：请选择“另存为 PDF”（A4 横向）。', none: '未选择批次。', pickOne: '请选择批次', pdf: 'PDF',
  },
  settings: {
    title: '设置', stationId: '工位 ID', operator: '操作员', language: '语言', bleLimit: '蓝牙适配器连接上限', globalConcurrency: '全局并发', servePort: '浏览器模式端口（0 = 任意）',
    saved: '设置已保存', restartNote: '工位 ID 重启后生效。',
    station: '工位', engineer: '工程师', newSecret: '新的工程师 PIN 或密码（至少 4 个字符）', setSecret: '设置 PIN/密码', secretSaved: 'PIN/密码已设置（加密存储）', stopAfter: '连续失败 N 台后停线（0 = 关闭；每个批次都适用）', scanMappings: '产品条码', scanMappingsHint: '扫描已映射的条码会选择对应的固件包（及产品配置）。', barcode: '条码', profile: '产品配置 ID（可选）',
  },
  errors: { connection: '与工位的连接已断开，正在重连…' },
  rma: {
    title: '返修恢复（RMA）', form: '工作台上的设备', port: '串口（从扫描结果选择或手动输入）', baud: '波特率', package: '黄金镜像（已导入的固件包）',
    ticket: 'RMA 工单号', technician: '维修技术员', protocol: '协议', probe: '自动探测端口', start: '开始恢复', running: '正在恢复…',
    noPackage: '请先在"固件包"页面导入黄金镜像。', scanPorts: '扫描串口', portsFound: '个串口', noPorts: '未列出串口（伪终端不会被列出）：请手动输入路径。',
    steps: '步骤', step: { probe: '探测', identify: '识别', flash: '烧录', verify: '校验', journal: '记录' },
    status: { start: '开始', progress: '…', ok: '成功', failed: '失败' },
    result: '结果', passed: '已恢复：设备正在运行黄金镜像。', failed: '未能恢复。', nextStep: '下一步', progress: '进度',
    protocolFound: '协议', evidence: '依据', versions: '恢复前 → 恢复后版本', hashes: 'CRC32 发送 / 设备',
    openDetail: '设备详情（时间线、日志）', openReport: '批次报告', reportRow: '报告行', rawTrace: '完整原始日志', entries: '条',
    history: '历史返修记录', historySearch: '按工单号搜索', noHistory: '没有找到返修记录。', when: '时间', job: '任务',
    invalid: { portRequired: '请输入或选择串口。', packageRequired: '请选择黄金镜像。', ticketRequired: '必须填写 RMA 工单号。', technicianRequired: '请输入您的姓名。', baudInvalid: '波特率必须是不小于 300 的整数。' },
  },
};

export const MESSAGES = { en, 'zh-CN': zh } as const;
export type MessageTree = DeepString<Messages>;
