#!/usr/bin/env python3
"""services/dispatcher/gen_catalogue.py — writes deploy/data/guangxi/catalogue.csv, the
responsibility catalogue (派单目录) of the Guangxi demo territory, from its regions and units.

Run by hand when the matter types or the territory change (the build and the tests never run
it); the output is deterministic. The catalogue is plausible, not official: each matter type
goes to the department that holds the duty in Chinese local government, at the tier that
usually handles it —

  * most matters at the county (县/区/县级市): its own department leads, a sister department
    co-handles where two duties meet (道路施工: 住建 with 交通 and 城管; 消防验收: 住建 with the
    fire brigade, since the 2019 reform moved the acceptance of construction projects to 住建);
  * matters a county does not decide at the city: 出口退税 (the city tax bureau, with 商务),
    融资贷款 (工信 with 财政), and 公共交通 for the city's districts (区), whose buses the city
    runs — counties and county-level cities run their own (a county row overrides the city's);
  * every matter also at the city and the province, for appeals registered at those regions;
  * 用地审批 and 涉企检查 are marked dispatch=centre: the usual lead is named, but which
    department answers depends on the case, so the centre confirms (确责).

Townships have no rows: an entry applies to its region and every region below it.

    python3 services/dispatcher/gen_catalogue.py deploy/data/guangxi > deploy/data/guangxi/catalogue.csv
"""
import csv
import io
import sys

# matter type → (lead key, co-handler keys, dispatch, basis, levels)
# levels: which tiers get rows: "county", "county-not-district", "city", "province"
MATTERS = [
    ("营商环境", "FGW", [], "auto", "《优化营商环境条例》：营商环境投诉举报的受理和办理", ("county", "city", "province")),
    ("拖欠账款", "GXJ", ["CZ"], "auto", "《保障中小企业款项支付条例》：清理拖欠企业账款", ("county", "city", "province")),
    ("道路施工", "ZJ", ["JT", "CG"], "auto", "《城市道路管理条例》：占道挖掘施工的监督管理", ("county", "city", "province")),
    ("公共交通", "JT", [], "auto", "《城市公共汽车和电车客运管理规定》：线路和站点设置", ("county-not-district", "city", "province")),
    ("用电报装", "GD", ["FGW"], "auto", "《电力供应与使用条例》：用电报装和增容，获得电力", ("county", "city", "province")),
    ("出口退税", "SW", ["SHANGWU"], "auto", "《出口货物劳务增值税和消费税管理办法》：出口退（免）税办理", ("city", "province")),
    ("融资贷款", "GXJ", ["CZ"], "auto", "《中华人民共和国中小企业促进法》：融资促进和政府性融资担保", ("city", "province")),
    ("用地审批", "ZRZY", ["XZSP"], "centre", "《中华人民共和国土地管理法》：建设用地审批", ("county", "city", "province")),
    ("消防验收", "ZJ", ["XF"], "auto", "《建设工程消防设计审查验收管理暂行规定》：建设工程消防验收", ("county", "city", "province")),
    ("招工用工", "RSSB", [], "auto", "《中华人民共和国就业促进法》：就业服务和用工指导", ("county", "city", "province")),
    ("政策咨询", "FGW", [], "auto", "惠企政策解读和咨询答复", ("county", "city", "province")),
    ("市场准入", "XZSP", ["SCJG"], "auto", "《中华人民共和国市场主体登记管理条例》：登记注册和证照办理", ("county", "city", "province")),
    ("涉企检查", "SF", [], "centre", "规范涉企行政检查：行政执法监督", ("county", "city", "province")),
    ("税费办理", "SW", [], "auto", "《中华人民共和国税收征收管理法》：纳税服务和税费争议", ("county", "city", "province")),
    ("环评审批", "STHJ", ["XZSP"], "auto", "《中华人民共和国环境影响评价法》：建设项目环评审批", ("county", "city", "province")),
    ("不动产登记", "ZRZY", [], "auto", "《不动产登记暂行条例》：不动产登记办理", ("county", "city", "province")),
    ("惠企政策兑现", "CZ", ["FGW"], "auto", "惠企资金和奖补政策兑现", ("county", "city", "province")),
]

# the province has no 城管 and runs government services through its 大数据发展局 (XZSP)
PROVINCE_SKIP = {"CG"}
TIER = {1: "province", 2: "city", 3: "county", 4: "township"}


def main(folder):
    regions = list(csv.DictReader(open(f"{folder}/regions.csv", encoding="utf-8")))
    units = {u["code"] for u in csv.DictReader(open(f"{folder}/units.csv", encoding="utf-8"))}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["matter_type", "region_code", "tier", "lead_unit", "co_handlers", "dispatch", "basis"])
    for matter, lead, co, dispatch, basis, levels in MATTERS:
        for r in regions:
            tier = int(r["tier"])
            if tier == 4:
                continue
            district = tier == 3 and r["name"].endswith("区")
            level = {1: "province", 2: "city", 3: "county"}[tier]
            if level == "county":
                if "county" not in levels and not ("county-not-district" in levels and not district):
                    continue
            elif level not in levels:
                continue
            code = r["code"]
            lu = f"{code}-{lead}"
            cos = [f"{code}-{k}" for k in co if not (tier == 1 and k in PROVINCE_SKIP)]
            missing = [u for u in [lu] + cos if u not in units]
            if missing:
                sys.exit(f"gen_catalogue: {matter} at {code}: no unit {', '.join(missing)}")
            w.writerow([matter, code, TIER[tier], lu, ";".join(cos), dispatch, basis])
    sys.stdout.write(out.getvalue())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "deploy/data/guangxi")
