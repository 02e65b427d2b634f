"""Chinese item text and queries end to end, with the fake encoder.

A hand-made catalog of Chinese films across six categories. The fake encoder
hashes the same jieba tokens the lexical index uses, so these tests prove the
tokenization, indexing and retrieval path; a real multilingual model is a
settings change (``encoder = "paraphrase-multilingual-MiniLM-L12-v2"`` or any
sentence-transformers name or local path).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lmrec.engine import Engine
from lmrec.index import LexicalIndex
from lmrec.schema import Event, EventKind, Item
from lmrec.text import FakeEncoder, tokenize

from ..conftest import fake_settings  # type: ignore[import-not-found]

CN = [
    Item("c1", "流浪地球", "太阳即将毁灭，人类带着地球逃离太阳系。", ("科幻",), {"year": 2019}),
    Item("c2", "流浪地球2", "人类为了拯救地球建造行星发动机。", ("科幻",), {"year": 2023}),
    Item("c3", "三体", "外星文明与人类的第一次接触。", ("科幻", "剧情"), {"year": 2023}),
    Item("c4", "疯狂的外星人", "耍猴艺人意外捕获了一个外星人。", ("科幻", "喜剧"), {"year": 2019}),
    Item("c5", "独行月球", "一个维修工被独自留在了月球上。", ("科幻", "喜剧"), {"year": 2022}),
    Item("c6", "唐人街探案", "两个侦探在曼谷破解离奇的案件。", ("喜剧", "悬疑"), {"year": 2015}),
    Item("c7", "夏洛特烦恼", "同学聚会后他回到了高中时代。", ("喜剧", "爱情"), {"year": 2015}),
    Item("c8", "西虹市首富", "一个守门员要在一个月内花光十亿。", ("喜剧",), {"year": 2018}),
    Item("c9", "你好，李焕英", "女儿穿越回过去遇见年轻的母亲。", ("喜剧", "剧情"), {"year": 2021}),
    Item("c10", "人在囧途", "春运回家路上的一对冤家。", ("喜剧",), {"year": 2010}),
    Item("c11", "哪吒之魔童降世", "魔丸转世的哪吒对抗命运。", ("动画", "奇幻"), {"year": 2019}),
    Item("c12", "大圣归来", "孙悟空与小和尚江流儿的冒险。", ("动画", "奇幻"), {"year": 2015}),
    Item("c13", "白蛇：缘起", "白蛇与捕蛇少年的前世爱情。", ("动画", "爱情"), {"year": 2019}),
    Item("c14", "大鱼海棠", "少女椿为了报恩守护一条小鱼。", ("动画", "奇幻"), {"year": 2016}),
    Item("c15", "长安三万里", "李白与高适的盛唐诗人故事。", ("动画", "历史"), {"year": 2023}),
    Item("c16", "功夫熊猫", "一只熊猫成为了功夫大师。", ("动画", "喜剧"), {"year": 2008}),
    Item("c17", "甜蜜蜜", "两个在香港打拼的年轻人的爱情故事。", ("爱情",), {"year": 1996}),
    Item("c18", "花样年华", "六十年代香港的一段克制的爱情。", ("爱情", "剧情"), {"year": 2000}),
    Item("c19", "致我们终将逝去的青春", "大学时代的爱情与成长。", ("爱情", "青春"), {"year": 2013}),
    Item("c20", "从你的全世界路过", "电台主播与朋友们的爱情故事。", ("爱情",), {"year": 2016}),
    Item("c21", "战狼2", "退役特种兵在非洲营救同胞。", ("动作",), {"year": 2017}),
    Item("c22", "红海行动", "海军特种部队执行撤侨任务。", ("动作", "战争"), {"year": 2018}),
    Item("c23", "叶问", "咏春拳宗师叶问的传奇人生。", ("动作", "传记"), {"year": 2008}),
    Item("c24", "卧虎藏龙", "江湖侠客争夺青冥剑。", ("动作", "武侠"), {"year": 2000}),
    Item("c25", "英雄", "刺客们刺杀秦王的故事。", ("动作", "武侠"), {"year": 2002}),
    Item("c26", "功夫", "包租婆和斧头帮之间的功夫对决。", ("动作", "喜剧"), {"year": 2004}),
    Item("c27", "舌尖上的中国", "中国各地的美食与烹饪传统。", ("纪录片", "美食"), {"year": 2012}),
    Item("c28", "我在故宫修文物", "故宫文物修复师的日常工作。", ("纪录片",), {"year": 2016}),
    Item("c29", "航拍中国", "从空中俯瞰中国的山川河流。", ("纪录片",), {"year": 2017}),
    Item("c30", "北京烤鸭的故事", "一家百年烤鸭店的传承。", ("纪录片", "美食"), {"year": 2020}),
]  # fmt: skip


@pytest.fixture
def cn(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine.open(settings=fake_settings(tmp_path, store="memory"))
    eng.upsert_items(CN)
    yield eng
    eng.close()


def test_tokenizer_segments_chinese_and_keeps_compounds() -> None:
    toks = tokenize("北京烤鸭")
    assert {"北京", "烤鸭", "北京烤鸭"} <= set(toks)
    assert tokenize("流浪地球2 Wandering Earth")[-2:] == ["wandering", "earth"]
    assert "2" in tokenize("流浪地球2")
    # Other scripts with spaces are words too (Cyrillic was dropped before).
    assert tokenize("Мастер и Маргарита") == ["мастер", "и", "маргарита"]


def test_query_parts_find_compounds() -> None:
    idx = LexicalIndex()
    idx.upsert("a", {"title": "北京烤鸭的故事"})
    idx.upsert("b", {"title": "上海小笼包"})
    assert [h[0] for h in idx.search("烤鸭", 5)] == ["a"]
    assert [h[0] for h in idx.search("北京烤鸭", 5)] == ["a"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [("三体", "c3"), ("流浪地球", "c1"), ("功夫熊猫", "c16"), ("舌尖上的中国", "c27"),
     ("哪吒", "c11"), ("外星人", "c4"), ("特种兵", "c21"), ("烤鸭", "c30"), ("故宫文物", "c28")],
)  # fmt: skip
def test_chinese_queries_retrieve_the_right_item(cn: Engine, query: str, expected: str) -> None:
    assert cn.search(query, k=5).ids[0] == expected


def test_chinese_category_and_range_filters(cn: Engine) -> None:
    got = cn.search("功夫", k=10, category="动画")
    assert got.ids[0] == "c16" and "c26" not in got.ids
    got = cn.search("爱情", k=10, ranges=["year::2000"])
    assert set(got.ids) == {"c17", "c18"} | (set(got.ids) - {"c13", "c19", "c20", "c7"})
    assert got.ids[0] in {"c17", "c18"}
    assert all(int(cn.get_item(i).metadata["year"]) <= 2000 for i in got.ids)


def test_chinese_personalization_reorders(cn: Engine) -> None:
    cn.ingest([Event("a", EventKind.LIKE, 1.0, item="c20"), Event("b", EventKind.LIKE, 1.0,
               item="c19")])  # fmt: skip
    anon = cn.search("爱情", k=6).ids
    a = cn.search("爱情", user="a", k=6).ids
    b = cn.search("爱情", user="b", k=6).ids
    assert set(a) == set(b) == set(anon)
    assert a[0] == "c20" and b[0] == "c19" and anon[0] not in {"c19", "c20"}


def test_chinese_search_events_feed_recommendations(cn: Engine) -> None:
    cn.ingest([Event("s", EventKind.SEARCH, 1.0, query="美食 纪录片")])
    recs = cn.recommend("s", k=3).ids
    assert recs[0] == "c27"  # the one documentary about food in the title's own words
    assert set(recs) <= {"c27", "c28", "c29", "c30"}


def test_fake_encoder_handles_chinese() -> None:
    enc = FakeEncoder()
    v = enc.encode(["流浪地球", "流浪地球2", "甜蜜蜜"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]
