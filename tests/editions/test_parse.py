"""Edition parsing: the sample page item by item, other layouts, JSONL, bad input, stable ids."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qa.editions import ocrtext
from qa.editions.parse import format_articles, load_edition, parse_page
from qa.errors import InputError
from qa.paths import sample_editions
from qa.types import Article, derive_title

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def sample() -> list[Article]:
    (edition,) = [e for e in sample_editions() if e.date == "2020-11-14"]
    return load_edition(edition.path)


def _page(name: str) -> list[Article]:
    return load_edition(DATA / name, date="2020-11-21", page=2)


def _leaks(article: Article, *texts: str) -> list[str]:
    return [t for t in texts if t and t in article.body]


# ---------------------------------------------------------------- the sample page


def test_sample_has_the_eight_items_in_order(sample: list[Article]) -> None:
    assert [(a.kind, a.headline) for a in sample] == [
        ("article", "义乌绿色动力小镇通过省级命名验收"),
        ("article", ""),
        ("article", "2020年义乌国际半程马拉松今日开跑"),
        ("article", "义乌农商银行“三师助企”解难题"),
        ("article", "美国馆正式入驻义乌中国进口商品城孵化区"),
        ("article", "TOP50全球精品葡萄酒评选大赛举行"),
        ("photo", "百国万商聚义乌 共享自贸新时代"),
        ("brief", "我市2021少儿春节联欢晚会正式启动"),
    ]
    assert {(a.date, a.page) for a in sample} == {("2020-11-14", 1)}


def test_sample_item1_green_town(sample: list[Article]) -> None:
    a = sample[0]
    assert a.kicker == "从无到有 从有到优"
    assert a.byline == ("全媒体记者 王婷", "通讯员 金巧")
    assert a.subheads == ("招商引资 注入强劲动能", "创新引领 发展新兴业态")
    assert a.continued_to == "第二版" and a.continued_from == ""
    assert a.body.startswith("近日，浙江省政府办公厅下发《浙江省人民政府关于命名第四批省级特色小镇的通知》")
    assert a.body.endswith("省级园区循环化改造示范试点和省级数字化示范园区。")
    assert "规划面积 3.32 平方公里" in a.body  # printed spacing kept
    assert _leaks(a, "招商引资 注入强劲动能", "创新引领 发展新兴业态", "下转", "从无到有 从有到优", "▢", "金巧") == []


def test_sample_item2_has_no_printed_headline(sample: list[Article]) -> None:
    a = sample[1]
    assert a.headline == "" and a.kicker == ""
    assert a.title == derive_title(a.body) and a.title[:8] in a.body  # derived from the lead
    assert a.byline == ("全媒体记者 谭祉潇",)
    assert a.body.startswith("本报讯 11 月 13 日下午，我市召开健康义乌暨")
    assert a.body.endswith("苏溪镇分别做交流发言。")
    assert "卢丽珍" not in a.body


def test_sample_items3_to_6(sample: list[Article]) -> None:
    marathon, bank, us, wine = sample[2:6]
    assert marathon.byline == ("全媒体记者 卢丽珍",)
    assert marathon.body.startswith("本报讯“新丝路 跑起来”义乌好货·2020年义乌国际半程马拉松")
    assert marathon.body.endswith("请服从交警和现场工作人员指挥，文明有序停车。")
    assert bank.kicker == "为122家小微企业发放帮扶资金4.78亿元"
    assert bank.byline == ("通讯员 楼小青 贾燕玲", "全媒体记者 樊婷婷")
    assert bank.body.endswith("已为122家有融资需求的小微企业发放帮扶资金4.78亿元。")
    assert us.byline == ("全媒体记者 吴峰宇",)
    assert us.body.startswith("本报讯 11月13日，作为2020中国义乌进口商品博览会重要配套活动之一")
    assert us.body.endswith("占比较去年同期增长4.4个百分点。")
    assert wine.byline == ("全媒体记者 王佳丽",)
    assert wine.body.endswith("真正实现经济与文化的双发展。”")
    for a in (marathon, bank, us, wine):
        assert a.subheads == () and a.continued_to == "" and a.kind == "article"
    assert _leaks(marathon, "2020年义乌国际半程马拉松今日开跑", "樊婷婷") == []
    assert _leaks(bank, "为122家小微企业发放帮扶资金4.78亿元\n", "“三师助企”解难题", "吴峰宇") == []
    assert _leaks(wine, "TOP50全球精品葡萄酒", "百国万商", "吕斌") == []


def test_sample_photo_and_brief(sample: list[Article]) -> None:
    photo, brief = sample[6], sample[7]
    assert photo.photographer == "吕斌"
    assert photo.body.startswith("2020中国义乌进口商品博览会上，作为本届进口展主宾国的俄罗斯")
    assert photo.body.endswith("全方位展示俄罗斯风情。")
    assert "摄" not in photo.body and "全媒体记者" not in photo.body
    assert brief.body == "" and brief.byline == () and brief.kicker == ""


@pytest.mark.parametrize(
    ("n", "phrase"),
    [
        (0, "吉利集团锋锐发动机项目"),  # "锋" / "锐发动机项目" across a line break
        (0, "的锋锐发动机项目、总投资75.5亿元的义利动力总成项目"),  # across a blank line
        (0, "项目；义利动力总成项目生产的 1.0 小排量涡轮增压发动机"),  # narrow column beside a picture
        (0, "与德国 FEV 发动机技术有限公司"),
        (0, "今年 8 月 23 日，总投资 206 亿元的东方日升 15GW 高效电池及组件项目落地，9月23日"),
        (1, "为实现“两战赢”提供了坚强保障"),
        (2, "进入义乌植物园"),
        (4, "资深参议员Bob 赴浙江"),
        (5, "上海酒消费信息中 心 秘 书 长 许 竣 哲说"),  # OCR spacing kept as printed
    ],
)
def test_sample_bodies_are_reflowed(sample: list[Article], n: int, phrase: str) -> None:
    assert phrase in sample[n].body


def test_sample_paragraphs_split_only_where_sentences_end(sample: list[Article]) -> None:
    for a in sample:
        paragraphs = a.body.split("\n")
        assert all(ocrtext.ends_sentence(p) for p in paragraphs if p), a.headline
        assert "" not in paragraphs[:-1] and all(p == p.strip() for p in paragraphs)
    assert len(sample[0].body.split("\n")) == 8
    # a new paragraph that starts right after a short last line, without a blank line
    assert "也借此向社会传达正确的价值观。\n本届“义马”的奖牌设计和以往也有较大改变。" in sample[2].body
    assert "与企业结对帮扶。\n此外，义乌农商银行与44个园区" in sample[3].body


# ---------------------------------------------------------------- other layouts


def test_the_sample_rearranged_headline_first_parses_the_same(sample: list[Article]) -> None:
    """The sample's own text with every headline moved above its byline: same eight items."""
    moved = load_edition(DATA / "page_sample_headline_first.txt", date="2020-11-14", page=1)
    assert [a.to_dict() for a in moved] == [a.to_dict() for a in sample]


def test_headline_first_with_square_glyph() -> None:
    parks, rice = _page("page_headline_first.txt")
    assert parks.headline == "市区新增三处口袋公园" and parks.kicker == ""
    assert parks.byline == ("本报记者 张明", "通讯员 李华")
    assert parks.subheads == ()
    assert parks.body.startswith("本报讯 11 月 20 日，青溪市城东街道的三处口袋公园正式向市民开放。")
    assert "让市民出门五分钟就能走进绿地。" in parks.body  # joined across a blank line
    assert parks.body.count("\n") == 2
    assert "青溪稻米" not in parks.body and "秋收时节" not in parks.body
    assert rice.headline == "青溪稻米喜获丰收"
    assert rice.kicker == "秋收时节访农家 ——全市粮食总产量连续三年增长"
    assert rice.byline == ("记者 陈晨",)
    assert rice.body.endswith("带动农户增收 3000 多万元。")
    assert (parks.date, parks.page) == ("2020-11-21", 2)


def test_bylines_without_glyph_and_latin_words_across_lines() -> None:
    library, marathon = _page("page_no_glyph.txt")
    assert library.headline == "青溪图书馆推出夜间开放服务"
    assert library.byline == ("本报记者 周婷",)
    assert "首场讲座主题为 Reading in the digital age，吸引了 200多名读者参加。" in library.body
    assert marathon.headline == "第十届青溪马拉松报名启动"
    assert marathon.byline == ("记者 孙浩", "通讯员 钱晓东")
    assert "孙浩" not in marathon.body and "图书馆" not in marathon.body


def test_a_byline_set_one_role_a_line_is_one_byline() -> None:
    text = ("义乌农商银行“三师助企”解难题\n\n通讯员 楼小青 贾燕玲\n全媒体记者 樊婷婷\n\n"
            "本报讯 义乌农商银行组建金融服务队，为小微企业发放帮扶资金。\n")
    (item,) = parse_page(text)
    assert item.headline == "义乌农商银行“三师助企”解难题"
    assert item.byline == ("通讯员 楼小青 贾燕玲", "全媒体记者 樊婷婷")
    assert item.body.startswith("本报讯 义乌农商银行")


def test_continued_from_and_to_another_page() -> None:
    cont, estates = _page("page_continued.txt")
    assert cont.continued_from == "第一版" and cont.continued_to == ""
    assert cont.headline == "义乌绿色动力小镇通过省级命名验收" and cont.byline == ()
    assert cont.body.startswith("下一步，小镇将继续围绕汽车动力产业链")
    assert "为企业发展提供全方位服务，推动小镇高质量发展。" in cont.body
    assert "上接" not in cont.body
    assert estates.headline == "青溪推进老旧小区改造"
    assert estates.byline == ("全媒体记者 郑雪", "实习生 黄一鸣")
    assert estates.subheads == ("加装电梯 方便老人出行",)
    assert estates.continued_to == "第四版"
    assert "涉及居民 1.3 万户。" in estates.body and "已有 18 个小区完成电梯加装。" in estates.body
    assert _leaks(estates, "加装电梯 方便", "下转") == []


def test_headline_after_body_with_other_glyphs_photo_and_brief() -> None:
    fest, bus, photo, brief = _page("page_glyphs_after.txt")
    assert (fest.kicker, fest.headline) == ("让非遗走进百姓生活", "青溪首届非遗文化节开幕")
    assert fest.byline == ("全媒体记者 吴丹",)
    assert "木雕等传统技艺展示区前人头攒动。" in fest.body and "非遗文化节开幕\n" not in fest.body
    assert bus.headline == "城际公交K8路下月开通" and bus.byline == ("通讯员 马骏", "全媒体记者 林小燕")
    assert bus.body.startswith("本报讯 记者从市交通运输局获悉，青溪至临江城际公交 K8 路")
    assert (photo.kind, photo.headline, photo.photographer) == ("photo", "金秋银杏美", "张立新")
    assert photo.body.endswith("满树金黄吸引了众多游客前来打卡。")
    assert (brief.kind, brief.headline, brief.body) == ("brief", "青溪发布冬季旅游线路", "")


def test_byline_inside_the_dateline() -> None:
    bus, drill = _page("page_inline_byline.txt")
    assert bus.byline == ("记者 王芳", "通讯员 赵强")
    assert bus.body.startswith("本报讯 11 月 16 日起，青溪市新开通301 路和 302 路两条公交线路")
    assert drill.headline == "全市中小学开展消防演练" and drill.byline == ("记者 何静",)
    assert "何静" not in drill.body


def test_page_without_a_recognizable_article_is_one_untitled_article() -> None:
    (a,) = _page("page_plain.txt")
    assert (a.kind, a.headline, a.byline) == ("article", "", ())
    assert a.body == "秋天的青溪河边，芦苇已经泛黄，早起的人们沿着河堤慢慢走着，有人打太极，有人遛狗，一切都是熟悉的样子。"
    assert a.title == "秋天的青溪河边"


def test_headline_first_page_opening_mid_article_with_colon_bylines() -> None:
    text = (
        "的工作人员说，今年的游客量比去年\n增长了三成。\n\n青溪新开通两条公交线路\n\n记者：王芳\n\n"
        "本报讯 11 月 16 日起，青溪市新开通\n两条公交线路。（下转第三版）\n\n全市中小学开展消防演练\n\n"
        "记者：何静\n\n本报讯 11 月 9 日是全国消防日，全市\n中小学同时开展消防疏散演练。\n"
    )
    rest, bus, drill = parse_page(text)
    assert (rest.headline, rest.byline, rest.body) == ("", (), "的工作人员说，今年的游客量比去年增长了三成。")
    assert (bus.headline, bus.byline, bus.continued_to) == ("青溪新开通两条公交线路", ("记者 王芳",), "第三版")
    assert bus.body == "本报讯 11 月 16 日起，青溪市新开通两条公交线路。"
    assert (drill.headline, drill.byline) == ("全市中小学开展消防演练", ("记者 何静",))


def test_indented_paragraphs_and_headlines_flush_under_the_body() -> None:
    text = (
        "★ 记者 李明\n\u3000\u3000本报讯 昨天，青溪市举行\n秋季招聘会。\n\u3000\u3000据统计，共有 200 家企业参加，\n"
        "提供岗位 5000 余个。\n青溪秋季招聘会举行\n★ 记者 赵六\n\u3000\u3000本报讯 今天上午，青溪大桥\n正式通车。\n"
    )
    fair, bridge = parse_page(text)
    assert fair.headline == "青溪秋季招聘会举行" and fair.byline == ("记者 李明",)
    assert fair.body == "本报讯 昨天，青溪市举行秋季招聘会。\n据统计，共有 200 家企业参加，提供岗位 5000 余个。"
    assert (bridge.headline, bridge.body) == ("", "本报讯 今天上午，青溪大桥正式通车。")


def test_photo_credit_variants() -> None:
    (photo,) = parse_page("夕阳下的青溪大桥。张三/摄\n")
    assert (photo.kind, photo.body, photo.photographer) == ("photo", "夕阳下的青溪大桥。", "张三")
    (photo,) = parse_page("金秋银杏美\n\n市民在银杏大道拍照留念。\n\n全媒体记者 李四 王五 摄\n")
    assert (photo.headline, photo.body, photo.photographer) == ("金秋银杏美", "市民在银杏大道拍照留念。", "李四 王五")


def test_a_title_on_top_of_an_unsigned_page_heads_it() -> None:
    (a,) = parse_page("青溪的秋天\n\n秋天的青溪河边，芦苇已经泛黄，\n早起的人们沿着河堤慢慢走着。\n")
    assert (a.headline, a.body) == ("青溪的秋天", "秋天的青溪河边，芦苇已经泛黄，早起的人们沿着河堤慢慢走着。")


def test_blank_text_parses_to_nothing() -> None:
    assert parse_page("") == [] and parse_page("\n \n\u3000\n") == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("▢ 全媒体记者 王婷 通讯员 金巧", ("全媒体记者 王婷", "通讯员 金巧")),
        ("◆记者 陈晨 报道", ("记者 陈晨",)),
        ("本报记者张明", ("本报记者张明",)),
        ("● 文/图 李四", ("文/图 李四",)),
        ("记者昨日从市教育局获悉", None),
        ("记者 了解到，今年全市", None),
        ("招商引资 注入强劲动能", None),
    ],
)
def test_parse_byline(line: str, expected: tuple[str, ...] | None) -> None:
    assert ocrtext.parse_byline(line) == expected


def test_reflow_rules() -> None:
    assert ocrtext.reflow(["锋锐发动", "", "机项目。"]) == "锋锐发动机项目。"
    assert ocrtext.reflow(["第一段结束。", "", "第二段开始。"]) == "第一段结束。\n第二段开始。"
    assert ocrtext.reflow(["Reading in the", "digital age。"]) == "Reading in the digital age。"
    assert ocrtext.reflow(["一二三四五六七八九十。", "新的一段开始了。"]) == "一二三四五六七八九十。新的一段开始了。"


# ---------------------------------------------------------------- pages without blank lines


def _without_blank_lines(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.strip())


def _squashed(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("name", ["sample", "page_sample_headline_first.txt"])
def test_the_sample_without_blank_lines_gives_the_same_eight_items(sample: list[Article], name: str) -> None:
    """Some OCR engines emit no blank lines: the items must come from the layout of the lines alone."""
    (edition,) = [e for e in sample_editions() if e.date == "2020-11-14"]
    path = edition.path if name == "sample" else DATA / name
    flat = parse_page(_without_blank_lines(path.read_text(encoding="utf-8")), date="2020-11-14", page=1)
    assert [(a.kind, a.headline) for a in flat] == [(a.kind, a.headline) for a in sample]
    assert [_squashed(a.body) for a in flat] == [_squashed(a.body) for a in sample]  # equal up to paragraph breaks
    fields = [(a.kicker, a.byline, a.subheads, a.photographer, a.continued_to) for a in sample]
    assert [(a.kicker, a.byline, a.subheads, a.photographer, a.continued_to) for a in flat] == fields


def test_headline_first_page_without_blank_lines() -> None:
    green, market, photo, brief = _page("layout_no_blank_lines.txt")
    assert (green.kicker, green.headline) == ("青溪河畔 秋色正浓", "滨河绿道全线贯通")  # spaced phrases: a kicker
    assert green.byline == ("本报记者 林晓", "通讯员 陈立")
    assert green.subheads == ("四季有景 处处有园",)  # short, off the column, a full-width paragraph after it
    assert green.body == (
        "本报讯 11 月 25 日，全长 12 公里的青溪滨河绿道全线贯通，市民可以沿河步行或骑行，从城西一路走到城东湿地公园。\n"
        "绿道沿线新设驿站 6 处，配有饮水点、休息座椅和自行车维修工具，夜间照明也全部更新为节能灯具。\n"
        "绿道两侧种植了银杏、红枫和桂花等树种，春天看花，秋天赏叶。市园林部门负责人介绍，明年还将在绿道沿线增设两处口袋公园。"
    )
    assert (market.headline, market.kicker, market.byline, market.subheads) == ("老街夜市重新开张", "", ("记者 周敏",), ())
    assert market.body.startswith("本报讯 停业改造半年的青溪老街夜市昨晚重新开张")
    assert market.body.endswith("“环境好了，生意也更好做了。”摊主王大姐说。")
    assert (photo.kind, photo.headline, photo.photographer) == ("photo", "冬日暖阳", "林晓")
    assert photo.body == "市民在滨河绿道上骑行，享受冬日暖阳。"
    assert (brief.kind, brief.headline, brief.body) == ("brief", "青溪举办首届橘子文化节", "")


def test_headline_after_body_page_without_blank_lines() -> None:
    library, contest = _page("layout_no_blank_after.txt")
    assert (library.headline, library.byline, library.subheads) == ("图书馆周末延时开放", ("记者 吴丹",), ())
    # a narrow run beside a picture, right after a sentence ends, is body, not a subhead
    assert library.body.endswith("活动。\n图书馆去年共接待读者 38 万人次，其中少年儿童读者占比超过三成。")
    assert (contest.headline, contest.byline) == ("职业技能大赛落幕", ("记者 孙浩",))  # byline inside the dateline
    assert contest.body.startswith("本报讯 青溪市第三届职业技能大赛日前落幕")
    assert "图书馆" not in contest.body and "职业技能大赛落幕" not in library.body


def test_a_body_with_short_lines_inside_stays_one_article_without_blank_lines() -> None:
    lines = [
        "▢ 记者 李明",
        "本报讯 昨天上午，青溪市第一人民医",
        "院新院区正式启用，首日接诊患者",
        "3000 余人次。",  # the short last line of a paragraph
        "新院区位于城南新区总建筑面积约",  # a paragraph opening without a comma: indented, not off the column
        "12 万平方米，设置床位 1200 张，开",
        "设",  # a short piece of a wrapped sentence
        "儿科、妇产科和康复科等 36 个科室。",
        "院长张华是一名老党员，工作之余",
        "爱好摄",  # ends in "摄" but is no photo credit
        "影，作品多次在全国比赛中获奖。",
    ]
    (a,) = parse_page("\n".join(lines))
    assert (a.kind, a.headline, a.kicker, a.byline, a.subheads, a.photographer) == ("article", "", "", ("记者 李明",), (), "")
    assert _squashed(a.body) == _squashed("".join(lines[1:]))
    assert a.body.count("\n") == 1  # a new paragraph after "余人次。" only


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("方位展示俄罗斯风情。 全媒体记者 吕斌 摄", ("方位展示俄罗斯风情。", "吕斌")),
        ("（张立新 摄）", ("", "张立新")),
        ("夕阳下的青溪大桥。张三/摄", ("夕阳下的青溪大桥。", "张三")),
        ("爱好摄", None),
        ("工作之余爱好摄", None),
    ],
)
def test_line_credit_needs_a_credit_set_off(line: str, expected: tuple[str, str] | None) -> None:
    assert ocrtext.line_credit(line) == expected


@pytest.mark.parametrize(
    ("lines", "before_caption", "expected"),
    [
        (["从无到有 从有到优", "义乌绿色动力小镇通过省级命名验收"], False, [[0], [1]]),  # spaced phrases stand alone
        (["为122家小微企业发放帮扶资金4.78亿元", "义乌农商银行", "“三师助企”解难题"], False, [[0], [1, 2]]),
        (["青溪稻米喜获丰收", "——全市粮食总产量连续三年增长"], False, [[0, 1]]),  # a subtitle stays
        (["城际公交K8路", "下月开通", "金秋银杏美"], True, [[0, 1], [2]]),  # the photo's own title
    ],
)
def test_title_groups_part_kicker_headline_and_photo_title(
    lines: list[str], before_caption: bool, expected: list[list[int]]
) -> None:
    groups = ocrtext.title_groups(lines, before_caption=before_caption)
    assert groups == [[lines[k] for k in group] for group in expected]


# ---------------------------------------------------------------- JSONL


def test_jsonl_articles() -> None:
    lib, run, brief = load_edition(DATA / "page_articles.jsonl", date="2020-11-21", page=2)
    assert lib.byline == ("本报记者 周婷", "通讯员 吴晓")  # a string byline is split into role groups
    assert (lib.kicker, lib.section, lib.kind) == ("书香青溪", "要闻", "article")
    assert lib.body.split("\n")[1] == "夜间开放期间，自习区和少儿阅览区全部开放。"
    assert run.byline == ("记者 孙浩", "通讯员 钱晓东")
    assert (brief.kind, brief.body) == ("brief", "")
    assert {(a.date, a.page) for a in (lib, run, brief)} == {("2020-11-21", 2)}  # explicit arguments win


def test_jsonl_lines_keep_their_own_date_and_page_by_default(tmp_path: Path) -> None:
    path = tmp_path / "articles.jsonl"
    shutil.copy(DATA / "page_articles.jsonl", path)
    lib, run, _ = load_edition(path)
    assert (lib.date, lib.page) == ("", 0)
    assert (run.date, run.page) == ("2020-11-15", 3)
    named = tmp_path / "edition-2020-11-14-p05.jsonl"  # the file name is a default only
    shutil.copy(DATA / "page_articles.jsonl", named)
    lib, run, _ = load_edition(named, page=7)
    assert [(a.date, a.page) for a in (lib, run)] == [("2020-11-14", 7), ("2020-11-15", 7)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"headline": "a"}\n{not json}\n', "line 2: not valid JSON"),
        ('["a", "b"]\n', "line 1: expected a JSON object"),
        ('{"byline": "记者 张三"}\n', "needs a headline or a body"),
        ('{"headline": "a", "kind": "video"}\n', "kind 'video'"),
        ('{"headline": "a", "byline": 3}\n', "'byline' must be"),
        ('{"headline": "a", "date": "14/11/2020"}\n', "bad.jsonl line 1: date '14/11/2020' is not YYYY-MM-DD"),
        ('{"headline": "a", "page": "p3"}\n', "'page' must be a number"),
        ("\n\n", "is empty"),
    ],
)
def test_bad_jsonl(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_edition(path)


# ---------------------------------------------------------------- files and bad input


def test_date_and_page_from_file_name_and_sidecar(tmp_path: Path) -> None:
    text = (DATA / "page_headline_first.txt").read_text(encoding="utf-8")
    named = tmp_path / "edition-2021-03-05-p04.txt"
    named.write_text(text, encoding="utf-8")
    assert {(a.date, a.page) for a in load_edition(named)} == {("2021-03-05", 4)}
    assert {(a.date, a.page) for a in load_edition(named, date="2021-03-06", page=5)} == {("2021-03-06", 5)}
    (tmp_path / "edition-2021-03-05-p04.json").write_text(json.dumps({"date": "2021-03-07", "page": 9}))
    assert {(a.date, a.page) for a in load_edition(named)} == {("2021-03-07", 9)}
    plain = tmp_path / "page.txt"
    plain.write_text(text, encoding="utf-8")
    assert {(a.date, a.page) for a in load_edition(plain)} == {("", 0)}


def test_gbk_and_utf8_bom_files_decode(tmp_path: Path) -> None:
    text = (DATA / "page_headline_first.txt").read_text(encoding="utf-8")
    expected = [a.to_dict() for a in parse_page(text)]
    for enc in ("gbk", "utf-8-sig"):
        path = tmp_path / f"page-{enc}.txt"
        path.write_bytes(text.encode(enc))
        assert [a.to_dict() for a in load_edition(path)] == expected


def test_a_damaged_byte_in_a_utf8_page_is_replaced_not_misread_as_gbk(tmp_path: Path) -> None:
    data = (DATA / "page_headline_first.txt").read_bytes()
    at = data.index("口袋公园".encode())
    path = tmp_path / "damaged.txt"
    path.write_bytes(data[:at] + b"\xff" + data[at + 3:])
    (first, _) = load_edition(path)
    assert first.headline == "市区新增三处\ufffd袋公园"


def test_utf16_with_bom_decodes(tmp_path: Path) -> None:
    text = (DATA / "page_headline_first.txt").read_text(encoding="utf-8")
    path = tmp_path / "page16.txt"
    path.write_bytes(text.encode("utf-16"))
    assert [a.headline for a in load_edition(path)] == ["市区新增三处口袋公园", "青溪稻米喜获丰收"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"", "empty.txt is empty"),
        ("blank.txt", b"\n  \n", "is empty"),
        ("image.txt", bytes(range(256)) * 4, "looks like a binary file"),
        ("page.doc", "新闻".encode(), r"unsupported file type '\.doc'"),
        ("page", "新闻".encode(), r"unsupported file type '\(none\)'"),
        ("latin.txt", bytes([0x81, 0x20]) * 10, r"cannot decode as utf-8 or gb18030 \(GBK\); save it as UTF-8"),
    ],
)
def test_bad_files_raise_one_line_input_errors(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        load_edition(path)
    assert "\n" not in str(info.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="edition file not found"):
        load_edition(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="is a folder"):
        load_edition(tmp_path)
    with pytest.raises(InputError, match="not YYYY-MM-DD"):
        load_edition(DATA / "page_plain.txt", date="2020/11/14")
    with pytest.raises(InputError, match="page must be a whole number"):
        load_edition(DATA / "page_plain.txt", page=-1)


# ---------------------------------------------------------------- ids and display


def test_ids_are_stable_and_unique(sample: list[Article]) -> None:
    (edition,) = [e for e in sample_editions() if e.date == "2020-11-14"]
    again = parse_page(edition.path.read_text(encoding="utf-8"), date="2020-11-14", page=1)
    assert [a.id for a in again] == [a.id for a in sample]
    assert len({a.id for a in sample}) == len(sample)
    other_page = parse_page(edition.path.read_text(encoding="utf-8"), date="2020-11-14", page=2)
    assert not {a.id for a in other_page} & {a.id for a in sample}
    assert sample[0].id == "055faad744d7"  # pinned: a change here invalidates every built index


def test_articles_round_trip_through_dicts(sample: list[Article]) -> None:
    assert [Article.from_dict(json.loads(json.dumps(a.to_dict()))) for a in sample] == sample


def test_format_articles_table(sample: list[Article]) -> None:
    table = format_articles(sample)
    lines = table.splitlines()
    assert lines[0].split() == ["n", "kind", "title", "byline", "chars", "continued"]
    assert set(lines[1]) == {"-"}
    assert len(lines) == 2 + 8 + 1  # header, rule, one row per item, the footnote
    assert lines[2].split()[:3] == ["1", "article", "义乌绿色动力小镇通过省级命名验收"]
    assert lines[2].endswith("to 第二版")
    assert lines[3].split()[2].startswith("[" + sample[1].title[:6])  # a derived title, bracketed
    assert "吕斌 摄" in lines[8]
    assert lines[9].split() == ["8", "brief", "我市2021少儿春节联欢晚会正式启动", "0"]
    assert str(len(sample[0].body)) in lines[2].split()
    assert format_articles([]).splitlines()[0].split()[0] == "n"
