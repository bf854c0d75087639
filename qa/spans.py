"""Answer types and short-answer spans: what a question asks for, and where in an extract it is.

Everything here is rule-based and works on the matching form of the text (`qa.text.normalize`,
so OCR spaces such as "3.32 平方公里" do not break a pattern); spans are mapped back to the
printed text through the offsets, so a span is always an exact substring of what was printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.text import compact, normalize, normalize_with_offsets

__all__ = [
    "QUANTITY", "DATE", "PERSON", "PLACE", "WHAT", "REASON", "YESNO", "OTHER",
    "anchors", "answer_type", "question_terms", "term_marks", "find_candidates", "short_answer_span", "best_clause",
]

QUANTITY, DATE, PERSON, PLACE, WHAT, REASON, YESNO, OTHER = (
    "quantity", "date", "person", "place", "what", "reason", "yesno", "",
)

# ----------------------------------------------------------------------------- question types

# Order matters: "几月" is a date before "几" is a quantity; "how long ago" is not checked.
_TYPE_RULES: list[tuple[str, re.Pattern[str]]] = [
    (REASON, re.compile(r"为什么|为何|什么原因|原因是|怎么样|如何|怎样|怎么|\bwhy\b|\bhow\b(?! (many|much|long|big|large|far|old|tall|high|wide|deep|often))")),
    (DATE, re.compile(r"何时|什么时候|什么时间|哪天|哪一天|哪年|哪一年|哪个月|几月|几号|几日|几点|哪日|日期|\bwhen\b|what (year|date|time|day|month)|which (year|date|day|month)")),
    (QUANTITY, re.compile(r"多少|多大|多长|多高|多远|多重|多宽|多深|多久|多快|几|\bhow (many|much|long|big|large|far|old|tall|high|wide|deep)\b|what (percentage|share|proportion|number|amount)")),
    (PERSON, re.compile(r"which (?:\w+ )?(?:leaders?|officials?|people|persons?|senators?|mayor|experts?)\b|谁|(?:哪些|哪几位)[\u4e00-\u9fff]?(?:领导|人员|官员|嘉宾|选手|专家|人)|哪位|什么人|哪个人|哪些人|哪家|哪个(公司|单位|部门|机构|团队|企业|组织)|什么(公司|单位|部门|机构|团队|企业|组织)|\bwho\b|\bwhom\b|\bwhose\b|which (company|organi[sz]ation|firm|team|department|bank|person|group)")),
    (PLACE, re.compile(r"哪里|哪儿|在哪|何处|何地|什么地方|哪个(国家|城市|地方|省|市|县|镇|区)|哪(国|省|市|县|镇)|\bwhere\b|which (country|city|place|province|town|venue|district)")),
    (YESNO, re.compile(r"吗[？?]?$|是否|会不会|是不是|能不能|有没有|^(is|are|was|were|will|does|do|did|can|has|have)\b")),
    (WHAT, re.compile(r"哪些|什么|哪个|哪项|哪种|哪|\bwhat\b|\bwhich\b")),
]
# Attribute nouns that imply a quantity even without a question word ("它的面积呢？").
_QUANTITY_NOUNS = re.compile(r"面积|投资|金额|资金|贷款|总值|产值|人数|名额|长度|距离|规模|数量|年龄|\barea\b|\binvest|\bcost\b|\bpopulation\b|\blength\b|\bnumber of\b")
_DATE_NOUNS = re.compile(r"时间|日期|\bdate\b")
_PLACE_NOUNS = re.compile(r"地点|位置|\blocation\b|\bvenue\b")


def answer_type(question: str) -> str:
    """The expected answer type of `question`: one of QUANTITY, DATE, PERSON, PLACE, WHAT, REASON,
    YESNO, or OTHER ("") when nothing says."""
    q = normalize(question).strip()
    for kind, pattern in _TYPE_RULES:
        if pattern.search(q):
            if kind in (WHAT, YESNO) and _QUANTITY_NOUNS.search(q):
                return QUANTITY  # "面积是什么", "what is its area": still a number
            return kind
    if _QUANTITY_NOUNS.search(q):
        return QUANTITY
    if _DATE_NOUNS.search(q):
        return DATE
    if _PLACE_NOUNS.search(q):
        return PLACE
    return OTHER


# Units the question asks for: the measure word after 多少/几, or a cue noun.
_UNIT_HINTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"面积|\barea\b|square"), r"平方|公顷|亩"),
    (re.compile(r"投资|金额|资金|贷款|总值|产值|多少钱|\binvest|\bcost|\bmoney|\bloan|\byuan\b|\bworth\b|\bvalue\b|\bfunds?\b"), r"元"),
    (re.compile(r"多长|多远|长度|距离|\bhow long\b|\bhow far\b|\blength\b|\bdistance\b|kilomet"), r"公里|千米|米"),
    (re.compile(r"多少人|几人|人数|多少名|\bpeople\b|\bparticipants?\b|\brunners?\b|\bpersons?\b"), r"人|名"),
    (re.compile(r"岁|年龄|多大年纪|\bhow old\b|\bage\b"), r"岁"),
    (re.compile(r"百分|比例|占比|增长|percent|share|proportion|\bgrow"), r"%|％|百分点"),
    (re.compile(r"多久|几年|多少年|\bhow many years\b"), r"年|天|月|小时"),
]
_MEASURE_AFTER = re.compile(r"(?:多少|几)(个百分点|平方公里|平方米|[个家支台辆项款名位人岁年天次条座所户届批种件吨亩元])")
_EN_MEASURE = {
    "companies": "家", "enterprises": "家", "firms": "家", "teams": "支", "projects": "个|项", "countries": "个",
    "parks": "个", "cities": "个", "spaces": "个", "places": "个|名", "slots": "个|名", "days": "天", "years": "年",
}


def unit_hint(question: str) -> str:
    """A regex alternation of units the question expects (empty when it does not say)."""
    q = normalize(question)
    parts: list[str] = []
    m = _MEASURE_AFTER.search(q)
    if m:
        parts.append(re.escape(m.group(1)))
    # The words right around 多少 decide first: "总值增长了多少" asks for the growth, not the value.
    wh = re.search(r"多少|多大|多长|多远|多久|几|how (many|much|long|far|old|big|large)", q)
    near = q[max(0, wh.start() - 4):wh.end() + 4] if wh else ""
    found = [units for pattern, units in _UNIT_HINTS if near and pattern.search(near)]
    parts.extend(found or [units for pattern, units in _UNIT_HINTS if pattern.search(q)])
    for word, units in _EN_MEASURE.items():
        if re.search(rf"\bhow many {word}\b", q):
            parts.append(units)
    return "|".join(parts)


# ----------------------------------------------------------------------------- question terms

_WH_WORDS = re.compile(
    r"为什么|为何|什么时候|什么时间|什么地方|什么|多少|多大|多长|多高|多远|多久|哪里|哪儿|哪些|哪个|哪家|哪位|哪天|"
    r"哪年|哪|谁|何时|何处|如何|怎么样|怎样|怎么|几|吗|呢|是否|请问"
)
_EN_STOP = set(
    "the a an of in on at to for by with from and or is are was were be been will would does do did what which "
    "who whom whose when where why how many much long big large far old it its they their them this that these "
    "those there about as has have had can could into than then so such s".split()
)


def question_terms(question: str) -> list[str]:
    """Terms of the question to look for in a text: Han bigrams (single Han chars in isolation),
    numbers and Latin words, without question words."""
    q = _WH_WORDS.sub(" ", normalize(question))
    terms: list[str] = []
    for run in re.findall(r"[\u4e00-\u9fff]+|[0-9]+(?:\.[0-9]+)?|[a-z]+", q):
        if "\u4e00" <= run[0] <= "\u9fff":
            if len(run) == 1:
                terms.append(run)
            terms.extend(run[i:i + 2] for i in range(len(run) - 1))
        elif run not in _EN_STOP:
            terms.append(run)
    seen: set[str] = set()
    return [t for t in terms if not (t in seen or seen.add(t))]


_FILLER = "的是了在有为叫被把将会要"


def anchors(question: str) -> list[str]:
    """The words right next to the question word ("秘书长叫什么名字" -> "秘书长"; "哪些市领导参加了"
    -> "市领导"): a sentence holding them is where the blank is filled in."""
    q = _TRAIL.sub("", normalize(question))
    m = _WH_WORDS.search(q)
    if not m:
        return []
    left = q[:m.start()].rstrip(_FILLER)
    right = q[m.end():].lstrip(_FILLER + "个位家种项条款支名些")
    out = [left[-2:], right[:2]]
    return [a for a in out if len(a) >= 2 and re.fullmatch(r"[\u4e00-\u9fff0-9a-z]+", a)]


def term_marks(norm: str, terms: list[str]) -> list[bool]:
    """For each char of the normalized text, whether a question term covers it."""
    marks = [False] * len(norm)
    for t in terms:
        if len(t) < 2 and not t.isdigit():
            continue
        start = norm.find(t)
        while start >= 0:
            for i in range(start, start + len(t)):
                marks[i] = True
            start = norm.find(t, start + 1)
    return marks


# ----------------------------------------------------------------------------- candidate spans


@dataclass(frozen=True)
class Candidate:
    """A typed span of the normalized text: [start, end) with a base strength in 0..1."""

    start: int
    end: int
    strength: float


_HAN = r"\u4e00-\u9fff"
_CN_NUM = "零〇一二两三四五六七八九十百千万亿"
_NUM = rf"(?:\d+(?:[.,]\d+)*|[{_CN_NUM}]+)"
_PREFIX = r"(?:近|约|超过|超|逾|达|共|仅|将近|多达|高达|不到|不足|大约|整整)?"
_MAG = r"(?:多|余)?(?:万亿|千亿|百亿|十亿|亿|千万|百万|十万|万|千|百)?(?:多|余)?"
_UNITS = (
    "平方公里|平方千米|平方米|万平方米|公顷|万亩|亩|公里|千米|厘米|毫米|米|亿美元|万美元|美元|亿元|万元|元|"
    "人次|人|名|位|个百分点|个月|个|家|支|台|辆|项|款|岁|年|天|小时|分钟|秒|倍|%|％|户|所|座|条|场|届|次|"
    "吨|千克|公斤|克|gw|mw|kw|部|件|种|批|只|株|棵|层|栋|套|间|张|篇|本|首|集|周|大|强"
)
_QUANTITY_RE = re.compile(rf"{_PREFIX}({_NUM}){_MAG}(?:{_UNITS})?")
_DATE_RES: list[tuple[re.Pattern[str], float]] = [
    (re.compile(r"(?:公元前?)?\d{3,4}年(?:\d{1,2}月(?:\d{1,2}[日号])?)?(?:上午|下午|晚上|凌晨|中午|晚|底|初|末)?"), 1.0),
    (re.compile(r"\d{1,2}月(?:\d{1,2}[日号])?(?:上午|下午|晚上|凌晨|中午|晚|底|初|末)?(?:\d{1,2}[:：]\d{2}|\d{1,2}时)?"), 1.0),
    (re.compile(r"\d{4}[-/.]\d{1,2}(?:[-/.]\d{1,2})?"), 0.9),
    (re.compile(r"[〇零一二三四五六七八九]{4}年(?:[一二三四五六七八九十]{1,2}月)?"), 0.9),
    (re.compile(r"(?:公元前?)?\d{1,2}世纪(?:\d0年代)?(?:初|末|中叶|中期|后期|前期)?|\d{2,4}年代(?:初|末|中期)?"), 0.8),
    (re.compile(r"(?:公元前?)\d{1,4}年"), 0.9),
    (re.compile(r"今日|今天|昨天|昨日|明天|明日|今年|去年|明年|前年|日前|近日|近期|本月|上月|下月|当天|当日|今晚|上午|下午"), 0.45),
]
_TITLES = (
    "市领导|领导|副市长|市长|副书记|书记|副主任|主任|副局长|局长|部长|院长|校长|总监|董事长|总经理|经理|秘书长|负责人|主席|会长|"
    "教授|博士|总裁|队长|教练|导演|作者|厂长|主任医师|医生|律师|代表|委员|参议员|议员|设计师|规划师|工程师|创始人|老师|选手|冠军"
)
_NAME_STOP = set("说强调表示指出介绍认为充参担等在的了和与是将也都就对向为从被把率到及并于则来去看称回答坦")
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范"
    "金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤骆楼樊谭祝倪温柳鲍"
)
_ORG_SUFFIX = (
    "有限公司|公司|集团|银行|政府|委员会|组委会|办公厅|办公室|研究院|研究所|大学|学院|医院|协会|学会|联盟|社团|"
    "中心|局|厅|部|队|团|署|馆"
)
_PLACE_SUFFIX = (
    "省|市|县|区|镇|乡|村|街道|路|大道|港|国|州|岛|山|河|湖|江|体育场|体育中心|体育馆|游泳馆|广场|公园|植物园|商品城|"
    "博览中心|孵化区|园区|自贸区|开发区|交界处|馆|大厦|大楼|机场|车站"
)
_STOP_BACK = set("的是在由与和及被把从对向为了将于并等也都而、，。；：！？「」“”‘’《》（）()[]【】,.;:!? 有位到给让使以其之这那该此各")
_PLACE_VERBS = re.compile(
    rf"(?:位于|地处|坐落于|坐落在|来自|前往|落户|落地|入驻|在|于|到)([{_HAN}A-Za-z0-9·]{{2,18}}?)"
    r"(?=举行|举办|召开|开幕|开馆|开跑|进行|设立|建成|成立|落户|落地|开业|出发|[，。；、,;:!?]|$)"
)


def _back_extend(norm: str, end_of_stem: int, *, limit: int = 14) -> int:
    """Start of the name that ends at `end_of_stem`: back over Han/Latin chars up to a stop char."""
    i = end_of_stem
    while i > 0 and end_of_stem - i < limit:
        ch = norm[i - 1]
        if ch in _STOP_BACK or not (ch.isalnum() or ch == "·"):
            break
        i -= 1
    return i


def _quantities(norm: str, units: str) -> list[Candidate]:
    out = []
    for m in _QUANTITY_RE.finditer(norm):
        s, e = m.span()
        num = m.group(1)
        text = m.group(0)
        has_unit = len(text) > len(num) and not text.endswith(num)
        if num[0] in _CN_NUM and not has_unit:
            continue
        if num[0] in _CN_NUM and len(num) == 1 and num in "一两" and not re.search(r"[0-9%万亿]", text):
            continue  # "一个", "两个": usually not the figure asked for
        if re.fullmatch(r"\d{4}年", text[text.find(num):]) or norm[e:e + 1] in "月日号" and num.isdigit():
            continue  # a year or a date, not a count
        if s > 0 and norm[s - 1].isdigit():
            continue
        strength = 0.8 if has_unit else 0.35
        if units:
            if not re.search(units, text[text.find(num) + len(num):]):
                continue  # the question names its unit ("多少钱", "多少家"): another figure is not it
            strength += 0.5
        out.append(Candidate(s, e, strength))
    return out


def _dates(norm: str) -> list[Candidate]:
    out: list[Candidate] = []
    taken: list[tuple[int, int]] = []
    for pattern, strength in _DATE_RES:
        for m in pattern.finditer(norm):
            s, e = m.span()
            if any(a <= s and e <= b for a, b in taken):
                continue
            taken.append((s, e))
            out.append(Candidate(s, e, strength))
    return out


def _people(norm: str) -> list[Candidate]:
    out = []
    for m in re.finditer(rf"(?:{_TITLES})([{_HAN}]{{2,3}})", norm):
        name = m.group(1)
        s = m.start(1)
        if name[0] not in _SURNAMES:
            continue
        n = 3 if len(name) == 3 and name[2] not in _NAME_STOP else 2
        if name[1] in _NAME_STOP:
            continue
        e = s + n
        while (nxt := re.match(rf"、([{_HAN}]{{2,3}})", norm[e:])) and nxt.group(1)[0] in _SURNAMES:
            more = nxt.group(1)
            e += 1 + (3 if len(more) == 3 and more[2] not in _NAME_STOP else 2)
        out.append(Candidate(s, e, 0.9))
    for m in re.finditer(rf"([{_HAN}]{{1,5}}?)(?:先生|女士|同志)", norm):
        s = _back_extend(norm, m.end(1), limit=5)
        stem = norm[s:m.end(1)]
        for title in ("规划师", "设计师", "工程师", "负责人", "师", "长"):
            k = stem.rfind(title)
            if k >= 0:
                s += k + len(title)
                break
        if m.end() - s >= 3:
            out.append(Candidate(s, m.end(), 0.85))
    for m in re.finditer(rf"(?:记者|通讯员|摄影)\s?([{_HAN}]{{2,3}})", norm):
        out.append(Candidate(m.start(1), m.end(1), 0.5))
    for m in re.finditer(_ORG_SUFFIX, norm):
        s = _back_extend(norm, m.start(), limit=12)
        while s < m.start() and (norm[s].isdigit() or norm[s] in _CN_NUM):
            s += 1  # "44个园区...": a count, not part of a name
        if m.start() - s < 2:
            continue
        inner = [k.end() for k in re.finditer(_ORG_SUFFIX, norm[s:m.start()])]
        if inner and m.start() - (s + inner[-1]) >= 2:
            out.append(Candidate(s + inner[-1], m.end(), 0.75))  # "设计公司德国欧博迈亚公司"
        out.append(Candidate(s, m.end(), 0.7))
    return out


def _places(norm: str) -> list[Candidate]:
    out = []
    for m in _PLACE_VERBS.finditer(norm):
        out.append(Candidate(m.start(1), m.end(1), 0.95 if m.group(0)[:2] in ("位于", "地处", "坐落") else 0.8))
    for m in re.finditer(_PLACE_SUFFIX, norm):
        s = _back_extend(norm, m.start(), limit=10)
        if m.start() - s >= 1 and m.end() - s >= 2:
            out.append(Candidate(s, m.end(), 0.6))
    return out


def _lists(norm: str) -> list[Candidate]:
    out = []
    for m in re.finditer(rf"[{_HAN}A-Za-z0-9“”\"《》·]+(?:[、和及与][{_HAN}A-Za-z0-9“”\"《》·]+)+(?:等)?", norm):
        if "、" in m.group(0):
            out.append(Candidate(m.start(), m.end(), 0.6))
    return out


def find_candidates(norm: str, kind: str, *, units: str = "") -> list[Candidate]:
    """Typed candidate spans in normalized text `norm` for answer type `kind`."""
    if kind == QUANTITY:
        return _quantities(norm, units)
    if kind == DATE:
        return _dates(norm)
    if kind == PERSON:
        return _people(norm)
    if kind == PLACE:
        return _places(norm)
    if kind == WHAT:
        return _lists(norm)
    return []


# ----------------------------------------------------------------------------- alignment

_CLAUSE_END = set("，。；！？,;!?：:")
_TRAIL = re.compile(r"[？?！!。.呢吗啊呀]+$")


def _find_right(norm: str, right: str, start: int) -> int:
    """Where the longest piece (>= 2 chars) of the question's right context, taken from one of its
    first few chars ("两个公司合作开发的" -> "开发的"), occurs in `norm` from `start`; -1 if nowhere."""
    for size in range(min(len(right), 8), 1, -1):
        for skip in range(0, min(7, len(right) - size + 1)):
            r = norm.find(right[skip:skip + size], start)
            if r >= 0:
                return r
    return -1


def _align(norm: str, question: str) -> tuple[int, int] | None:
    """The span a question "fills in" when its words around the question word occur in `norm`.

    For "本届赛事分为哪些项目？" over "...本届赛事分为半程马拉松、...三大项目..." the left context
    "本届赛事分为" is found and the answer runs from there to the right context or the clause end.
    """
    q = _TRAIL.sub("", normalize(question))
    m = _WH_WORDS.search(q)
    if not m:
        return None
    left, right = q[:m.start()], q[m.end():]
    span: tuple[int, int] | None = None
    for size in range(min(len(left), 12), 1, -1):
        k = norm.find(left[-size:])
        if k >= 0:
            s = k + size
            e = s
            while e < len(norm) and norm[e] not in _CLAUSE_END:
                e += 1
            r = _find_right(norm, right, s)
            if 0 <= r < e:
                e = r
            if e > s:
                span = (s, e)
            break
    if span is None:
        r = _find_right(norm, right, 0)
        if r > 0:
            s = r
            while s > 0 and norm[s - 1] not in _CLAUSE_END:
                s -= 1
            if r > s:
                span = (s, r)
    if span and span[1] - span[0] > 60:
        return None
    return span


# ----------------------------------------------------------------------------- selection


def _to_original(offsets: list[int], text: str, s: int, e: int) -> tuple[int, int]:
    start, end = offsets[s], offsets[e - 1] + 1
    while end < len(text) and text[end - 1].isspace():
        end -= 1
    return start, end


def short_answer_span(extract: str, question: str, *, kind: str | None = None) -> tuple[int, int] | None:
    """The best span of the expected answer type in `extract`, near the question's own terms.

    Returns (start, end) into `extract`, or None when no span of the expected type is there
    (reason and yes/no questions never get one).
    """
    kind = answer_type(question) if kind is None else kind
    if kind in (REASON, YESNO):
        return None
    norm, offsets = normalize_with_offsets(extract)
    if not norm:
        return None
    qc = compact(normalize(question))
    terms = question_terms(question)
    marks = term_marks(norm, terms)
    places = _term_places(norm, terms)
    aligned = _align(norm, question)
    cands = find_candidates(norm, kind, units=unit_hint(question) if kind == QUANTITY else "")
    if kind in (WHAT, OTHER) and aligned:
        cands.append(Candidate(aligned[0], aligned[1], 0.7))
    best, best_score = None, 0.0
    for c in cands:
        text = norm[c.start:c.end]
        if not text.strip() or compact(text) in qc:
            continue  # a span the question already says is not its answer
        score = c.strength
        if any(marks[c.start:c.end]) and kind in (WHAT, OTHER):
            score -= 0.2
        if aligned and c.start < aligned[1] and aligned[0] < c.end:
            score += 0.4
        if norm[c.start] in "此这那其该":
            continue  # "在此举行": a pointer back, not a name
        score += 0.5 * _nearness(places, c.start, c.end)
        if score > best_score:
            best, best_score = c, score
    if best is None or best_score < 0.6:
        return None
    return _to_original(offsets, extract, best.start, best.end)


def _term_places(norm: str, terms: list[str]) -> list[tuple[list[int], float]]:
    """For each question term found in `norm`: its start offsets, and a weight that halves with
    every repeat (a word said before every figure, like "总投资", does not say which figure)."""
    out = []
    for t in terms:
        if len(t) < 2 and not t.isdigit():
            continue
        starts = [m.start() for m in re.finditer(re.escape(t), norm)]
        if starts:
            out.append((starts, 1.0 / len(starts)))
    return out


def _nearness(places: list[tuple[list[int], float]], s: int, e: int) -> float:
    """Weighted closeness (0..1) of the span [s, e) to the question terms around it."""
    total = sum(w for _, w in places)
    if not total:
        return 0.0
    near = 0.0
    for starts, w in places:
        dist = min(max(s - p, p - e, 0) for p in starts)
        near += w / (1.0 + dist / 6.0)
    return near / total


def _distance_to_marks(marks: list[bool], s: int, e: int) -> int | None:
    left = next((s - 1 - i for i in range(s - 1, -1, -1) if marks[i]), None)
    right = next((i - e for i in range(e, len(marks)) if marks[i]), None)
    found = [d for d in (left, right) if d is not None]
    return min(found) if found else None


def best_clause(extract: str, question: str) -> tuple[int, int] | None:
    """The clause of `extract` (between commas or stops) that shares most with the question."""
    norm, offsets = normalize_with_offsets(extract)
    marks = term_marks(norm, question_terms(question))
    best, best_score = None, 0
    s = 0
    for i in range(len(norm) + 1):
        if i == len(norm) or norm[i] in _CLAUSE_END:
            score = sum(marks[s:i])
            if i > s and score > best_score:
                best, best_score = (s, i), score
            s = i + 1
    if best is None:
        return None
    return _to_original(offsets, extract, *best)
